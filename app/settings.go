package app

import (
	"fmt"
	"image/color"
	"slices"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"stayline/config"
)

// SettingsStore is where the settings come from and go to; main provides it.
type SettingsStore interface {
	Config() *config.Config
	// Save checks and writes the configuration (atomically) and applies it; warning is for the user.
	Save(cfg *config.Config) (warning string, err error)
	AudioDevices() (inputs, outputs []string, err error)
}

// systemDefault is how the device lists show "" (the system's default device).
const systemDefault = "System default"

// Settings is the settings dialog's form. Its fields are exported for tests.
type Settings struct {
	store   SettingsStore
	servers []config.Server
	sel     int

	User, DisplayName, Domain *widget.Entry
	Voicemail                 *widget.Entry // what the Messages key dials
	AutoAnswer                *widget.Check // calls.auto_answer: intercom and paging calls answer themselves
	Password                  *widget.Entry
	ServerList                *widget.List
	AddServer, RemoveServer   *widget.Button
	UpServer, DownServer      *widget.Button
	SrvName, SrvAddress       *widget.Entry
	SrvTransport              *widget.Select
	SrvAllFeatures            *widget.Check
	SrvFeatures               map[config.Feature]*widget.Check
	Registration, Failback    *widget.Select
	Simultaneous              *widget.Entry
	KeepInterval, KeepTimeout *widget.Entry
	KeepMisses                *widget.Entry
	Holddown, Expires         *widget.Entry
	BackoffBase, BackoffMax   *widget.Entry
	Backend, Input, Output    *widget.Select
	Ringer                    *widget.Select // where the phone rings (audio.ringer)
	RingVolume                *widget.Slider // audio.ring_volume, percent
	EchoCancel                *widget.Select // audio.echo_cancel: echoWords
	NoiseSuppression          *widget.Check  // audio.noise_suppression
	SRTP                      *widget.Select
	DNS, Spread               *widget.Entry
	Codecs                    map[string]*widget.Check
	Error                     *widget.Label
	Tabs                      *container.AppTabs
	Content                   fyne.CanvasObject
}

var codecNames = []string{"PCMU", "PCMA", "G722", "opus"}

// NewSettings builds the form from the store's configuration: a tab each for the account, the servers,
// the failover policies and the sound. Every tab scrolls when it is taller than the dialog.
func NewSettings(store SettingsStore) *Settings {
	cfg := store.Config()
	s := &Settings{store: store, servers: append([]config.Server(nil), cfg.Servers...), sel: -1,
		SrvFeatures: map[config.Feature]*widget.Check{}, Codecs: map[string]*widget.Check{}}
	s.Error = widget.NewLabel("")
	s.Error.Wrapping = fyne.TextWrapWord
	s.Error.Importance = widget.DangerImportance
	s.Tabs = container.NewAppTabs(settingsTab("Account", s.accountTab(cfg)), settingsTab("Servers", s.serversTab(cfg)),
		settingsTab("Failover", s.failoverTab(cfg)), settingsTab("Audio", s.audioTab(cfg)))
	s.Content = container.NewBorder(nil, s.Error, nil, nil, s.Tabs)
	if len(s.servers) > 0 {
		s.ServerList.Select(0)
	}
	return s
}

// settingsTab is a tab whose content scrolls up and down rather than being cut.
func settingsTab(name string, content fyne.CanvasObject) *container.TabItem {
	return container.NewTabItem(name, container.NewVScroll(content))
}

func textEntry(v string) *widget.Entry {
	e := widget.NewEntry()
	e.SetText(v)
	return e
}

func (s *Settings) accountTab(cfg *config.Config) fyne.CanvasObject {
	s.User, s.DisplayName, s.Domain = textEntry(cfg.Account.User), textEntry(cfg.Account.DisplayName), textEntry(cfg.Account.Domain)
	s.Password = widget.NewPasswordEntry()
	s.Password.SetText(cfg.Account.Password)
	s.Voicemail = textEntry(cfg.Calls.Voicemail)
	s.Voicemail.SetPlaceHolder("what the Messages key dials")
	s.AutoAnswer = widget.NewCheck("Answer intercom/paging calls automatically", nil)
	s.AutoAnswer.SetChecked(cfg.Calls.AutoAnswer)
	return widget.NewForm(widget.NewFormItem("Extension", s.User), widget.NewFormItem("Display name", s.DisplayName),
		widget.NewFormItem("Password", s.Password), widget.NewFormItem("Domain", s.Domain),
		widget.NewFormItem("Voicemail", s.Voicemail), widget.NewFormItem("Intercom", s.AutoAnswer))
}

// serverListRows is how many servers the list shows without scrolling (a half row hints at more).
const serverListRows = 3.5

// serversTab is the server list in priority order (the first is home), its buttons, the selected
// server's editor, and the name server.
func (s *Settings) serversTab(cfg *config.Config) fyne.CanvasObject {
	s.ServerList = widget.NewList(func() int { return len(s.servers) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("server")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*widget.Label).SetText(s.serverLine(i)) })
	s.ServerList.OnSelected = func(i widget.ListItemID) { s.keepServer(); s.showServer(i) }
	s.AddServer = widget.NewButtonWithIcon("Add", theme.ContentAddIcon(), s.addServer)
	s.RemoveServer = widget.NewButtonWithIcon("Remove", theme.ContentRemoveIcon(), s.removeServer)
	s.UpServer = widget.NewButtonWithIcon("Up", theme.MoveUpIcon(), func() { s.moveServer(-1) })
	s.DownServer = widget.NewButtonWithIcon("Down", theme.MoveDownIcon(), func() { s.moveServer(1) })
	buttons := container.NewGridWithColumns(4, s.AddServer, s.RemoveServer, s.UpServer, s.DownServer)
	s.DNS = textEntry(cfg.SIP.DNS)
	s.DNS.SetPlaceHolder("the system's")
	dns := widget.NewForm(widget.NewFormItem("Name server for domains", s.DNS))
	return container.NewVBox(withMinHeight(s.ServerList, serverListRows*listRowHeight()), buttons, s.serverEditor(),
		widget.NewSeparator(), dns)
}

// serverLine is the list's line for server i: its place, name, address and transport.
func (s *Settings) serverLine(i int) string {
	srv := s.servers[i]
	tp := string(srv.Transport)
	if srv.TransportAuto {
		tp = "auto"
	}
	line := fmt.Sprintf("%d. %s  %s/%s", i+1, srv.Name, srv.Address, tp)
	if i == 0 {
		line += "  (home)"
	}
	return line
}

// serverEditor edits the selected server.
func (s *Settings) serverEditor() fyne.CanvasObject {
	s.SrvName, s.SrvAddress = widget.NewEntry(), widget.NewEntry()
	// "auto": a server given as a domain lets DNS (NAPTR) choose; for an address it means UDP.
	s.SrvTransport = widget.NewSelect([]string{transportAuto, "udp", "tcp", "tls"}, nil)
	s.SrvAllFeatures = widget.NewCheck("Offers every feature", func(all bool) {
		for _, c := range s.SrvFeatures {
			if all {
				c.Disable()
			} else {
				c.Enable()
			}
		}
	})
	var feats []fyne.CanvasObject
	for _, f := range config.AllFeatures {
		c := widget.NewCheck(string(f), nil)
		s.SrvFeatures[f] = c
		feats = append(feats, c)
	}
	return widget.NewForm(widget.NewFormItem("Name", s.SrvName), widget.NewFormItem("Address", s.SrvAddress),
		widget.NewFormItem("Transport", s.SrvTransport), widget.NewFormItem("Features",
			container.NewVBox(s.SrvAllFeatures, container.NewGridWithColumns(2, feats...))))
}

// listRowHeight is the height of one row of a list of labels.
func listRowHeight() float32 {
	return widget.NewLabel("x").MinSize().Height + theme.Padding()
}

// withMinHeight gives o (a list, which would otherwise shrink to one row) at least height.
func withMinHeight(o fyne.CanvasObject, height float32) fyne.CanvasObject {
	space := canvas.NewRectangle(color.Transparent)
	space.SetMinSize(fyne.NewSize(0, height))
	return container.NewStack(space, o)
}

func (s *Settings) failoverTab(cfg *config.Config) fyne.CanvasObject {
	f := cfg.Failover
	s.Registration = widget.NewSelect([]string{"alternate", "simultaneous"}, nil)
	s.Registration.SetSelected(string(f.Registration))
	s.Failback = widget.NewSelect([]string{"auto", "admin"}, nil)
	s.Failback.SetSelected(string(f.Failback))
	s.Simultaneous = textEntry(strconv.Itoa(f.SimultaneousRegistrations))
	s.KeepInterval, s.KeepTimeout = textEntry(f.KeepaliveInterval.String()), textEntry(f.KeepaliveTimeout.String())
	s.KeepMisses = textEntry(strconv.Itoa(f.KeepaliveMisses))
	s.Holddown, s.Expires = textEntry(f.FailbackHolddown.String()), textEntry(f.RegisterExpires.String())
	s.BackoffBase, s.BackoffMax = textEntry(f.BackoffBase.String()), textEntry(f.BackoffMax.String())
	s.Spread = textEntry(strconv.Itoa(f.FailbackSpread))
	return widget.NewForm(widget.NewFormItem("Registration", s.Registration),
		widget.NewFormItem("Simultaneous registrations", s.Simultaneous), widget.NewFormItem("Failback", s.Failback),
		widget.NewFormItem("Keep-alive every", s.KeepInterval), widget.NewFormItem("Keep-alive timeout", s.KeepTimeout),
		widget.NewFormItem("Missed keep-alives", s.KeepMisses), widget.NewFormItem("Failback hold-down", s.Holddown),
		widget.NewFormItem("Hold-down spread (%)", s.Spread), widget.NewFormItem("Registration lasts", s.Expires),
		widget.NewFormItem("Retry backoff from", s.BackoffBase), widget.NewFormItem("Retry backoff up to", s.BackoffMax))
}

// audioTab is the sound: the backend, the devices, the codecs offered and the encryption. Its choices
// stretch to the dialog's width; a long device name is cut short in its choice, not the dialog.
func (s *Settings) audioTab(cfg *config.Config) fyne.CanvasObject {
	ins, outs, err := s.store.AudioDevices()
	s.Backend = widget.NewSelect([]string{"default", "null"}, nil)
	s.Backend.SetSelected(cfg.Audio.Backend)
	s.Input = widget.NewSelect(deviceChoices(ins, cfg.Audio.Input), nil)
	s.Output = widget.NewSelect(deviceChoices(outs, cfg.Audio.Output), nil)
	s.Input.SetSelected(orDefault(cfg.Audio.Input))
	s.Output.SetSelected(orDefault(cfg.Audio.Output))
	s.Ringer = widget.NewSelect(ringerChoices(outs, cfg.Audio.Ringer), nil)
	s.Ringer.SetSelected(orSpeaker(cfg.Audio.Ringer))
	s.RingVolume = widget.NewSlider(0, 100)
	s.RingVolume.Step = 5
	s.RingVolume.SetValue(float64(cfg.Audio.RingVolume))
	var codecs []fyne.CanvasObject
	for _, n := range codecNames {
		c := widget.NewCheck(n, nil)
		c.SetChecked(slices.ContainsFunc(cfg.Audio.Codecs, func(have string) bool { return strings.EqualFold(have, n) }))
		s.Codecs[n] = c
		codecs = append(codecs, c)
	}
	s.SRTP = widget.NewSelect([]string{"offer", "require", "off"}, nil)
	s.SRTP.SetSelected(cfg.Audio.SRTP)
	s.EchoCancel = widget.NewSelect([]string{echoWords["auto"], echoWords["on"], echoWords["off"]}, nil)
	s.EchoCancel.SetSelected(echoWords[cfg.Audio.EchoCancel])
	s.NoiseSuppression = widget.NewCheck("Noise suppression and automatic gain", nil)
	s.NoiseSuppression.SetChecked(cfg.Audio.NoiseSuppression)
	form := widget.NewForm(widget.NewFormItem("Sound", s.Backend), widget.NewFormItem("Microphone", s.Input),
		widget.NewFormItem("Speaker or headset", s.Output), widget.NewFormItem("Ring on", s.Ringer),
		widget.NewFormItem("Ring volume", s.RingVolume), widget.NewFormItem("Echo cancellation", s.EchoCancel),
		widget.NewFormItem("", s.NoiseSuppression), widget.NewFormItem("Codecs", container.NewGridWithColumns(2, codecs...)),
		widget.NewFormItem("Encryption (SRTP)", s.SRTP))
	if err == nil {
		return form
	}
	note := widget.NewLabel("Devices could not be listed: " + err.Error())
	note.Wrapping = fyne.TextWrapWord
	return container.NewVBox(form, note)
}

// echoWords are the echo canceller's settings (audio.echo_cancel) as the Audio tab says them.
var echoWords = map[string]string{"auto": "Automatic (off for headsets)", "on": "On", "off": "Off"}

// echoSetting is the audio.echo_cancel value of the Audio tab's words.
func echoSetting(words string) string {
	for k, w := range echoWords {
		if w == words {
			return k
		}
	}
	return "auto"
}

// deviceChoices are the devices to choose from: the system's default, those listed, and the configured
// one even when it is not listed (unplugged, or the devices could not be listed), so that saving keeps it.
func deviceChoices(listed []string, configured string) []string {
	out := append([]string{systemDefault}, listed...)
	if configured != "" && !slices.Contains(out, configured) {
		out = append(out, configured)
	}
	return out
}

// sameAsSpeaker is how the ringer's list shows "" (ring where calls play).
const sameAsSpeaker = "Same as the speaker"

// ringerChoices are where the phone may ring: where calls play, or any output device.
func ringerChoices(listed []string, configured string) []string {
	out := append([]string{sameAsSpeaker}, listed...)
	if configured != "" && !slices.Contains(out, configured) {
		out = append(out, configured)
	}
	return out
}

func orSpeaker(name string) string {
	if name == "" {
		return sameAsSpeaker
	}
	return name
}

// RefreshDevices lists the devices again (one was plugged in or removed while the settings are open),
// keeping what is chosen.
func (s *Settings) RefreshDevices() {
	ins, outs, err := s.store.AudioDevices()
	if err != nil {
		return
	}
	for _, d := range []struct {
		sel     *widget.Select
		choices func(string) []string
		name    func(string) string
	}{{s.Input, func(c string) []string { return deviceChoices(ins, c) }, deviceName},
		{s.Output, func(c string) []string { return deviceChoices(outs, c) }, deviceName},
		{s.Ringer, func(c string) []string { return ringerChoices(outs, c) }, ringerName}} {
		chosen := d.sel.Selected
		d.sel.SetOptions(d.choices(d.name(chosen)))
		d.sel.SetSelected(chosen)
	}
}

func orDefault(name string) string {
	if name == "" {
		return systemDefault
	}
	return name
}

// transportAuto is the transport choice that leaves it to server discovery (RFC 3263 NAPTR).
const transportAuto = "auto (DNS)"

func (s *Settings) showServer(i int) {
	s.sel = i
	if i < 0 || i >= len(s.servers) {
		return
	}
	srv := s.servers[i]
	s.SrvName.SetText(srv.Name)
	s.SrvAddress.SetText(srv.Address)
	if srv.TransportAuto {
		s.SrvTransport.SetSelected(transportAuto)
	} else {
		s.SrvTransport.SetSelected(string(srv.Transport))
	}
	for f, c := range s.SrvFeatures {
		c.SetChecked(srv.Offers(f))
	}
	s.SrvAllFeatures.SetChecked(srv.Features == nil)
}

// keepServer stores the editor's fields into the selected server.
func (s *Settings) keepServer() {
	i := s.sel
	if i < 0 || i >= len(s.servers) {
		return
	}
	srv := &s.servers[i]
	srv.Name, srv.Address = strings.TrimSpace(s.SrvName.Text), strings.TrimSpace(s.SrvAddress.Text)
	srv.Transport, srv.TransportAuto = config.Transport(s.SrvTransport.Selected), false
	if s.SrvTransport.Selected == transportAuto {
		srv.Transport, srv.TransportAuto = config.TransportUDP, true
	}
	if s.SrvAllFeatures.Checked {
		srv.Features = nil
	} else {
		srv.Features = []config.Feature{}
		for _, f := range config.AllFeatures {
			if s.SrvFeatures[f].Checked {
				srv.Features = append(srv.Features, f)
			}
		}
	}
	s.ServerList.RefreshItem(i)
}

func (s *Settings) addServer() {
	s.keepServer()
	s.servers = append(s.servers, config.Server{Name: fmt.Sprintf("server%d", len(s.servers)+1), Transport: config.TransportUDP})
	s.ServerList.Refresh()
	s.ServerList.Select(len(s.servers) - 1)
}

func (s *Settings) removeServer() {
	if s.sel < 0 || s.sel >= len(s.servers) {
		return
	}
	s.servers = append(s.servers[:s.sel], s.servers[s.sel+1:]...)
	s.sel = -1
	s.ServerList.UnselectAll()
	s.ServerList.Refresh()
	if len(s.servers) > 0 {
		s.ServerList.Select(0)
	}
}

// moveServer moves the selected server up (-1) or down (+1): the order is the priority, the first is home.
func (s *Settings) moveServer(d int) {
	s.keepServer()
	i, j := s.sel, s.sel+d
	if i < 0 || j < 0 || j >= len(s.servers) {
		return
	}
	s.servers[i], s.servers[j] = s.servers[j], s.servers[i]
	s.sel = j
	s.ServerList.Refresh()
	s.ServerList.Select(j)
}

// collect builds the configuration the form describes, or says which field is wrong.
func (s *Settings) collect() (*config.Config, error) {
	s.keepServer()
	cfg := *s.store.Config()
	cfg.Warnings = nil
	cfg.Account = config.Account{User: strings.TrimSpace(s.User.Text), DisplayName: strings.TrimSpace(s.DisplayName.Text),
		Domain: strings.TrimSpace(s.Domain.Text), Password: s.Password.Text}
	if cfg.Account.Domain == "" && len(s.servers) > 0 {
		cfg.Account.Domain = s.servers[0].Host()
	}
	cfg.Servers = append([]config.Server(nil), s.servers...)
	cfg.Calls.Voicemail = strings.TrimSpace(s.Voicemail.Text)
	cfg.Calls.AutoAnswer = s.AutoAnswer.Checked
	f := &cfg.Failover
	f.Registration = config.RegistrationPolicy(s.Registration.Selected)
	f.Failback = config.FailbackPolicy(s.Failback.Selected)
	var err error
	if f.SimultaneousRegistrations, err = number("Simultaneous registrations", s.Simultaneous); err != nil {
		return nil, err
	}
	if f.KeepaliveMisses, err = number("Missed keep-alives", s.KeepMisses); err != nil {
		return nil, err
	}
	if f.FailbackSpread, err = number("Hold-down spread (%)", s.Spread); err != nil {
		return nil, err
	}
	cfg.SIP.DNS = strings.TrimSpace(s.DNS.Text)
	for _, d := range []struct {
		name string
		e    *widget.Entry
		to   *config.Duration
	}{{"Keep-alive every", s.KeepInterval, &f.KeepaliveInterval}, {"Keep-alive timeout", s.KeepTimeout, &f.KeepaliveTimeout},
		{"Failback hold-down", s.Holddown, &f.FailbackHolddown}, {"Registration lasts", s.Expires, &f.RegisterExpires},
		{"Retry backoff from", s.BackoffBase, &f.BackoffBase}, {"Retry backoff up to", s.BackoffMax, &f.BackoffMax}} {
		v, err := time.ParseDuration(strings.TrimSpace(d.e.Text))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%s: %q is not a duration such as 10s or 500ms", d.name, d.e.Text)
		}
		*d.to = config.Duration(v)
	}
	cfg.Audio.Backend, cfg.Audio.SRTP = s.Backend.Selected, s.SRTP.Selected
	cfg.Audio.Input, cfg.Audio.Output = deviceName(s.Input.Selected), deviceName(s.Output.Selected)
	cfg.Audio.Ringer, cfg.Audio.RingVolume = ringerName(s.Ringer.Selected), int(s.RingVolume.Value)
	cfg.Audio.EchoCancel, cfg.Audio.NoiseSuppression = echoSetting(s.EchoCancel.Selected), s.NoiseSuppression.Checked
	cfg.Audio.Codecs = nil
	for _, n := range codecNames {
		if s.Codecs[n].Checked {
			cfg.Audio.Codecs = append(cfg.Audio.Codecs, n)
		}
	}
	if len(cfg.Audio.Codecs) == 0 {
		return nil, fmt.Errorf("Codecs: choose at least one")
	}
	return &cfg, nil
}

func number(name string, e *widget.Entry) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(e.Text))
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number", name, e.Text)
	}
	return n, nil
}

func deviceName(shown string) string {
	if shown == systemDefault {
		return ""
	}
	return shown
}

func ringerName(shown string) string {
	if shown == sameAsSpeaker {
		return ""
	}
	return shown
}

// Apply checks and saves the form. The error, if any, is shown in the form and returned; the warning is
// for the user (a password kept in the file).
func (s *Settings) Apply() (warning string, err error) {
	cfg, err := s.collect()
	if err == nil {
		warning, err = s.store.Save(cfg)
	}
	if err != nil {
		s.showError("Not saved: " + err.Error())
		return "", err
	}
	s.showError("")
	return warning, nil
}

// showError shows text under the tabs, on as many lines as it takes.
func (s *Settings) showError(text string) {
	s.Error.SetText(text)
	s.Content.Refresh() // the tabs make room for the lines
}

// ShowSettings opens the settings dialog, as large as the window allows; Save keeps it open while an
// entry is refused.
func (w *Window) ShowSettings(store SettingsStore) *Settings {
	s := NewSettings(store)
	var d *dialog.CustomDialog
	save := widget.NewButtonWithIcon("Save", theme.DocumentSaveIcon(), func() {
		warning, err := s.Apply()
		if err != nil {
			return
		}
		d.Hide()
		if warning != "" {
			dialog.ShowInformation("Settings saved", warning, w.Win)
		}
	})
	save.Importance = widget.HighImportance
	cancel := widget.NewButton("Cancel", func() { d.Hide() })
	d = dialog.NewCustomWithoutButtons("Settings", container.NewBorder(nil, container.NewHBox(cancel, save), nil, nil, s.Content), w.Win)
	d.Resize(dialogSize(w.Win, fyne.NewSize(560, 700)))
	w.settings = s // lists the devices again when they change (sounddevices.go)
	d.SetOnClosed(func() {
		if w.settings == s {
			w.settings = nil
		}
	})
	d.Show()
	return s
}
