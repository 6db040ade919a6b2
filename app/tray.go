package app

import (
	"fyne.io/fyne/v2"

	"stayline/failover"
)

// trayHost is the desktop's system tray (fyne's desktop.App has these); tests use their own.
type trayHost interface {
	SetSystemTrayMenu(*fyne.Menu)
	SetSystemTrayIcon(fyne.Resource)
}

// setTray puts the phone in the tray: an icon that changes with the stage, and Show, Dial..., Log off,
// Quit.
func (w *Window) setTray(host trayHost) {
	w.tray = host
	show := func() {
		w.Win.Show()
		w.Win.RequestFocus()
	}
	menu := fyne.NewMenu("Stayline",
		fyne.NewMenuItem("Show", show),
		fyne.NewMenuItem("Dial...", func() {
			show()
			w.Win.Canvas().Focus(w.Number)
		}),
		fyne.NewMenuItem("Log off", func() { w.run(failover.ActLogoff) }),
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem("Quit", func() {
			show()
			w.Quit()
		}),
	)
	menu.Items[len(menu.Items)-1].IsQuit = true
	host.SetSystemTrayMenu(menu)
	host.SetSystemTrayIcon(trayIcon(w.model.Stage))
}

func trayIcon(st failover.Stage) fyne.Resource {
	if r := stageIcons[st]; r != nil {
		return r
	}
	return Icon
}
