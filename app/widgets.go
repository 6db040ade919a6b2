package app

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// numberEntry is the number field; it says when it gains and loses the focus (for the dial tone).
type numberEntry struct {
	widget.Entry
	onFocus  func(bool)
	onEscape func()
}

// TypedKey is part of fyne.Focusable: Escape clears the number (the entry would otherwise swallow it).
func (e *numberEntry) TypedKey(ev *fyne.KeyEvent) {
	if ev.Name == fyne.KeyEscape && e.onEscape != nil {
		e.onEscape()
		return
	}
	e.Entry.TypedKey(ev)
}

func newNumberEntry() *numberEntry {
	e := &numberEntry{}
	e.ExtendBaseWidget(e)
	return e
}

// FocusGained is part of fyne.Focusable.
func (e *numberEntry) FocusGained() {
	e.Entry.FocusGained()
	if e.onFocus != nil {
		e.onFocus(true)
	}
}

// FocusLost is part of fyne.Focusable.
func (e *numberEntry) FocusLost() {
	e.Entry.FocusLost()
	if e.onFocus != nil {
		e.onFocus(false)
	}
}

// displayPanel is the display's background: a tinted panel, like a desk phone's screen, in the light and
// the dark theme alike. render keeps its colour in step with the theme.
func displayPanel() *canvas.Rectangle {
	r := canvas.NewRectangle(displayColor())
	r.CornerRadius = theme.InputRadiusSize()
	return r
}

// displayColor is a blue-grey screen tint, light on a light theme and dark on a dark one.
func displayColor() color.Color {
	r, g, b, _ := theme.Color(theme.ColorNameBackground).RGBA()
	if (r+g+b)/3 > 0x8000 {
		return color.NRGBA{R: 0xd6, G: 0xe3, B: 0xe8, A: 0xff}
	}
	return color.NRGBA{R: 0x26, G: 0x34, B: 0x3a, A: 0xff}
}

// widthLayout gives its objects a fixed width and the height they are given (the dial-pad column).
type widthLayout float32

func (l widthLayout) MinSize(objects []fyne.CanvasObject) fyne.Size {
	h := float32(0)
	for _, o := range objects {
		h = max(h, o.MinSize().Height)
	}
	return fyne.NewSize(float32(l), h)
}

func (l widthLayout) Layout(objects []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objects {
		o.Move(fyne.NewPos(0, 0))
		o.Resize(size)
	}
}

// dialogSize is want made to fit in the window: a dialog is never wider or taller than the window's
// canvas (less a margin), whatever the window's size and the scale.
func dialogSize(win fyne.Window, want fyne.Size) fyne.Size {
	margin := 2 * theme.Padding()
	c := win.Canvas().Size()
	return want.Min(fyne.NewSize(c.Width-margin, c.Height-margin))
}
