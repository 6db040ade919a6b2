//go:build !linux

package main

// trayHostPresent: Windows' notification area and macOS's menu bar are always there.
func trayHostPresent() bool { return true }
