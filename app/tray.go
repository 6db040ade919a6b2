package app

import (
	"log/slog"
	"sync"

	"fyne.io/fyne/v2"

	"stayline/assets"
	"stayline/failover"
)

// Tray is the desktop's system tray. main gives the window one made from Fyne's desktop app; tests give
// their own.
type Tray interface {
	SetSystemTrayMenu(*fyne.Menu)
	SetSystemTrayIcon(fyne.Resource)
	SetTooltip(string)
	// HostPresent says whether something shows the tray icon (on Linux, a StatusNotifierWatcher on the
	// session bus). Without one, hiding the window would lose the phone: it is minimised instead.
	HostPresent() bool
}

// setTray puts the phone in the tray: an icon and tooltip that follow the stage, and Show, Dial...,
// Log off, Quit.
func (w *Window) setTray(host Tray) {
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
		fyne.NewMenuItem("Log off", func() {
			show()
			w.LogOff()
		}),
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem("Quit", func() {
			if w.quitConsequences() != "" { // the question needs the window; a plain quit does not
				show()
			}
			w.Quit()
		}),
	)
	menu.Items[len(menu.Items)-1].IsQuit = true
	host.SetSystemTrayMenu(menu)
	w.renderTray()
}

// renderTray shows the stage in the tray's icon and tooltip, when they changed.
func (w *Window) renderTray() {
	if w.tray == nil || w.stopped.Load() {
		return
	}
	st := trayState{w.model.Stage, w.model.LoggedOff}
	tip := "Stayline: " + w.model.ServiceText()
	if st == w.trayShown && tip == w.trayTip {
		return
	}
	if st != w.trayShown {
		w.tray.SetSystemTrayIcon(trayIcon(st))
	}
	w.tray.SetTooltip(tip)
	w.trayShown, w.trayTip = st, tip
}

// RefreshTray sets the tray's icon and tooltip again (once the tray is up: one set while it starts can be
// lost).
func (w *Window) RefreshTray() {
	w.trayShown, w.trayTip = trayState{stage: "-"}, ""
	w.renderTray()
}

// trayState is what the tray icon shows.
type trayState struct {
	stage     failover.Stage
	loggedOff bool
}

var (
	trayIconsOnce sync.Once
	trayIcons     map[trayState]fyne.Resource
)

// trayIcon is the application icon with the stage's badge, as a PNG: trays take bitmaps, not SVG.
func trayIcon(st trayState) fyne.Resource {
	trayIconsOnce.Do(func() {
		badges := map[trayState][]byte{
			{failover.StageNormal, false}:     nil,
			{failover.StageTransition, false}: assets.StageTransitionSVG,
			{failover.StageAlternate, false}:  assets.StageAlternateSVG,
			{failover.StageFailback, false}:   assets.StageFailbackSVG,
			{failover.StageNoService, false}:  assets.StageNoServiceSVG,
			{failover.StageNoService, true}:   assets.StageLoggedOffSVG,
		}
		trayIcons = map[trayState]fyne.Resource{}
		for s, badge := range badges {
			png, err := assets.Badged(badge, 64)
			if err != nil {
				slog.Warn("tray icon", "stage", s.stage, "error", err)
				continue
			}
			name := "tray-" + string(s.stage)
			if s.loggedOff {
				name = "tray-loggedoff"
			}
			trayIcons[s] = fyne.NewStaticResource(name+".png", png)
		}
	})
	if r := trayIcons[st]; r != nil {
		return r
	}
	return Icon
}
