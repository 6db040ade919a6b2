package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// build lays the desk phone out: the status line across the top; on the left the display (call
// appearances, the stage, the banner, messages), the four soft keys, the number with the Phone and
// Messages keys, and the tools; on the right the dial pad and the sound controls.
func (w *Window) build() {
	w.Extension = widget.NewLabelWithStyle(w.opts.Extension, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	w.Server = widget.NewLabel("")
	w.StageIcon = widget.NewIcon(nil)
	w.StageName = widget.NewLabel("")
	w.Lamp = widget.NewIcon(iconLampOff)
	w.LampLabel = widget.NewLabel("")
	w.Clock = widget.NewLabel("")
	status := container.NewBorder(nil, nil, container.NewHBox(w.Extension, widget.NewSeparator()),
		container.NewHBox(w.Lamp, w.LampLabel, w.Clock), container.NewHBox(w.Server, w.StageIcon, w.StageName))

	w.Banner = widget.NewLabel("")
	w.Banner.Wrapping = fyne.TextWrapWord
	rows := []fyne.CanvasObject{}
	for i := 0; i < w.opts.Lines; i++ {
		b := widget.NewButton("", nil)
		b.Alignment = widget.ButtonAlignLeading
		idx := i
		b.OnTapped = func() { w.selectLine(idx) }
		w.Appearances = append(w.Appearances, b)
		rows = append(rows, b)
	}
	w.StageLine = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	w.Message = widget.NewLabel("")
	w.Message.Wrapping = fyne.TextWrapWord
	display := container.NewVScroll(container.NewVBox(append(rows, w.StageLine, w.Banner, w.Message)...))
	w.panel = displayPanel()
	screen := container.NewStack(w.panel, container.NewPadded(display))

	w.SoftKeys = container.NewGridWithColumns(SlotCount)
	for i := range w.slots {
		idx := i
		b := widget.NewButton(" ", func() { w.pressSlot(idx) })
		b.Disable()
		w.slots[i] = b
		w.SoftKeys.Add(b)
	}
	w.Phone = widget.NewButtonWithIcon("Phone", theme.MenuIcon(), w.showPhoneList)
	w.Messages = widget.NewButtonWithIcon("Messages", theme.MailComposeIcon(), w.callMessages)
	w.Number = newNumberEntry()
	w.Number.SetPlaceHolder("Number or SIP address")
	w.Number.OnSubmitted = func(string) { w.enter() }
	w.Number.OnChanged = func(string) { w.numberChanged() }
	w.Number.onFocus = w.numberFocus
	w.Number.onEscape = w.clearNumber
	back := widget.NewButtonWithIcon("", theme.NavigateBackIcon(), w.backspace)

	w.Pad = map[string]*widget.Button{}
	var pad []fyne.CanvasObject
	for _, k := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"} {
		key := k
		b := widget.NewButton(key, func() { w.key(key) })
		w.Pad[key] = b
		pad = append(pad, b)
	}
	w.Mute = widget.NewCheck("Mute", func(m bool) { w.sound.SetMuted(m) })
	w.Volume = widget.NewSlider(0, 2)
	w.Volume.Step, w.Volume.Value = 0.1, 1
	w.Volume.OnChanged = func(v float64) { w.sound.SetVolume(v) }
	w.Timeline = widget.NewButtonWithIcon("Timeline", theme.HistoryIcon(), w.showTimeline)
	w.Output = widget.NewSelect([]string{systemDefault}, func(name string) {
		go func() {
			if err := w.sound.SwitchAudio("", deviceName(name)); err != nil {
				w.Do(func() {
					w.model.Message = "Sound device: " + err.Error()
					w.render()
				})
			}
		}()
	})
	w.Output.PlaceHolder = "Speaker or headset"
	if _, outs, err := w.sound.AudioDevices(); err == nil {
		w.Output.Options = append([]string{systemDefault}, outs...)
	}
	tools := []fyne.CanvasObject{w.Timeline}
	if w.opts.History != nil {
		w.HistoryBtn = widget.NewButtonWithIcon("History", theme.ListIcon(), func() { w.ShowHistory() })
		tools = append(tools, w.HistoryBtn)
	}
	if w.opts.Contacts != nil {
		w.ContactsBtn = widget.NewButtonWithIcon("Contacts", theme.AccountIcon(), func() { w.ShowContacts() })
		tools = append(tools, w.ContactsBtn)
	}
	if w.opts.Settings != nil {
		w.SettingsBtn = widget.NewButtonWithIcon("Settings", theme.SettingsIcon(), func() { w.ShowSettings(w.opts.Settings) })
		tools = append(tools, w.SettingsBtn)
	}

	dialRow := container.NewBorder(nil, nil, nil, container.NewHBox(back, w.Phone, w.Messages), w.Number)
	left := container.NewBorder(nil, container.NewVBox(w.SoftKeys, dialRow, container.NewGridWithColumns(4, tools...)),
		nil, nil, screen)
	sound := container.NewBorder(nil, nil, w.Mute, nil, w.Volume)
	right := container.NewBorder(nil, container.NewVBox(sound, w.Output), nil, nil, container.NewGridWithColumns(3, pad...))
	body := container.NewBorder(nil, nil, nil, container.New(widthLayout(240), right), left)
	w.Win.SetContent(container.NewBorder(container.NewVBox(status, widget.NewSeparator()), nil, nil, nil, body))
	w.Win.Resize(WindowSize)
	w.Win.SetFixedSize(true)
	w.Win.Canvas().SetOnTypedKey(w.typedKey)
	w.Win.Canvas().SetOnTypedRune(w.typedRune)
	w.addShortcuts()
}
