package main

import (
	"log/slog"
	"runtime"
	"sync/atomic"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/systray"
	"github.com/go-gl/glfw/v3.3/glfw"
)

// desktopTray is the window's tray on a desktop: Fyne's tray, plus the tooltip Fyne does not offer, a
// look for a tray host, and a stop. Fyne's Linux tray talks D-Bus on a connection the app closes when it
// quits; touching the tray after that panics (SetSystemTrayIcon -> props.SetMust), so once stopped it
// does nothing (see docs/ARCHITECTURE.md, "Quitting").
type desktopTray struct {
	app     desktop.App
	stopped atomic.Bool
}

func newDesktopTray(a fyne.App) *desktopTray {
	d, ok := a.(desktop.App)
	if !ok {
		return nil
	}
	t := &desktopTray{app: d}
	a.Lifecycle().SetOnStopped(t.stop)
	return t
}

func (t *desktopTray) stop() { t.stopped.Store(true) }

func (t *desktopTray) SetSystemTrayMenu(m *fyne.Menu) {
	if !t.stopped.Load() {
		t.app.SetSystemTrayMenu(m)
	}
}

func (t *desktopTray) SetSystemTrayIcon(r fyne.Resource) {
	if t.stopped.Load() {
		return
	}
	defer t.survive("icon")
	t.app.SetSystemTrayIcon(r)
}

func (t *desktopTray) SetTooltip(text string) {
	if t.stopped.Load() {
		return
	}
	defer t.survive("tooltip")
	systray.SetTooltip(text)
}

// survive keeps a tray whose bus went away from taking the phone down with it.
func (t *desktopTray) survive(what string) {
	if r := recover(); r != nil {
		t.stop()
		slog.Warn("the system tray is gone", "setting", what, "error", r)
	}
}

func (t *desktopTray) HostPresent() bool { return trayHostPresent() }

// minimiser iconifies w through GLFW, on Fyne's goroutine (the window's GL context is current inside
// RunWithContext). False when the driver offers no way.
func minimiser(w fyne.Window) func() bool {
	return func() bool {
		ctxWin, ok := w.(interface{ RunWithContext(func()) })
		if !ok || runtime.GOOS == "js" {
			return false
		}
		done := false
		ctxWin.RunWithContext(func() {
			if g := glfw.GetCurrentContext(); g != nil {
				g.Iconify()
				done = true
			}
		})
		return done
	}
}
