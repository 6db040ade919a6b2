package main

import "github.com/godbus/dbus/v5"

// trayHostPresent says whether a StatusNotifierWatcher (the tray host of KDE, GNOME's AppIndicator
// extension, XFCE, ...) is on the session bus: without one the tray icon is shown nowhere.
func trayHostPresent() bool {
	conn, err := dbus.SessionBus()
	if err != nil {
		return false
	}
	var has bool
	err = conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.kde.StatusNotifierWatcher").Store(&has)
	return err == nil && has
}
