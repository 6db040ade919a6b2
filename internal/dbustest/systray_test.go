package dbustest

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"fyne.io/systray"
)

// systrayRan: fyne.io/systray runs once per process (its quit channel closes for good, and it keeps
// the shared session bus connection), so this test cannot repeat in one process (-count=2).
var systrayRan atomic.Bool

func pngOf(t *testing.T, size int, c color.NRGBA) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for p := 0; p < len(img.Pix); p += 4 {
		img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = c.R, c.G, c.B, c.A
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRealSystray runs Fyne's own tray, fyne.io/systray, in this process against the fakes: the proof
// that they speak the protocol Fyne speaks. It starts on a desktop with no tray, as systray finds when
// the tray host starts after the application, and the watcher arrives later.
func TestRealSystray(t *testing.T) {
	if !systrayRan.CompareAndSwap(false, true) {
		t.Skip("fyne.io/systray runs once per process")
	}
	bus := StartBus(t)
	// systray connects with dbus.SessionBus(), which reads this when it first connects.
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", bus.Address)

	start, end := systray.RunWithExternalLoop(nil, nil)
	start()
	ended := false
	defer func() {
		if !ended {
			end()
		}
	}()
	systray.SetIcon(pngOf(t, 22, red))
	systray.SetTitle("Stayline")
	systray.SetTooltip("Stayline: home")
	systray.AddMenuItem("Home 127.0.0.1:5060", "")
	systray.AddSeparator()
	quit := systray.AddMenuItem("Quit", "")

	w := StartWatcher(t, bus) // systray registered with nobody; it registers again when the watcher appears
	item, err := w.WaitItem(wait)
	if err != nil {
		t.Fatal(err)
	}
	if item.Path != "/StatusNotifierItem" || item.Service != item.Owner || item.Owner[0] != ':' {
		t.Fatalf("systray registered %+v; expected its unique name and /StatusNotifierItem", item)
	}

	icon, err := item.Icon()
	if err != nil {
		t.Fatal(err)
	}
	if icon.Width != 22 || icon.Height != 22 || icon.Image().NRGBAAt(11, 11) != red {
		t.Fatalf("icon %v, want 22x22 red", icon)
	}
	if title, err := item.Title(); err != nil || title != "Stayline" {
		t.Fatalf("title %q, %v", title, err)
	}
	if tip, err := item.ToolTip(); err != nil || tip.Title != "Stayline: home" {
		t.Fatalf("tooltip %+v, %v", tip, err)
	}
	labels, err := item.MenuLabels()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Home 127.0.0.1:5060", "Quit"}; !reflect.DeepEqual(labels, want) {
		t.Fatalf("menu %q, want %q", labels, want)
	}

	systray.SetIcon(pngOf(t, 22, green))
	changed, err := item.WaitIconChange(icon.Hash(), wait)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Image().NRGBAAt(0, 0) != green {
		t.Fatalf("icon after SetIcon(green): %v", changed)
	}
	// systray sets the property, then emits NewIcon: the signal may arrive just after the new icon is read.
	if err := item.WaitFor(wait, func() (bool, error) { return item.NewIconCount() > 0, nil }); err != nil {
		t.Fatalf("no NewIcon signal after SetIcon(green): %v", err)
	}
	systray.SetTooltip("Stayline: alternate")
	if _, err := item.WaitToolTip(wait, func(tt ToolTip) bool { return tt.Title == "Stayline: alternate" }); err != nil {
		t.Fatal(err)
	}

	// systray drops a click nobody is receiving at that instant (Fyne's receivers wait in goroutines of
	// their own), so click until the receiver below has taken one.
	clicked := make(chan struct{})
	go func() {
		<-quit.ClickedCh
		close(clicked)
	}()
	deadline := time.After(wait)
	for done := false; !done; {
		if err := item.ClickMenu("Quit"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-clicked:
			done = true
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatal("clicking Quit in the tray menu never reached systray's Quit item")
		}
	}

	end()
	ended = true
	if err := item.WaitGone(wait); err != nil {
		t.Fatal(err)
	}
}
