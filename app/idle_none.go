//go:build !linux || wayland || !cgo

package app

// platformParker: the window's loop is parked only on X11 so far (idle_x11.go).
func platformParker() parker { return nil }
