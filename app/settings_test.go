package app

import (
	"errors"
	"image"
	"image/draw"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"stayline/config"
)

// memStore keeps what was saved; it checks like config.Save does.
type memStore struct {
	cfg   *config.Config
	saved *config.Config
}

func (m *memStore) Config() *config.Config { return m.cfg }
func (m *memStore) AudioDevices() ([]string, []string, error) {
	return []string{"Built-in Microphone"}, []string{"Built-in Speaker", "USB Headset"}, nil
}
func (m *memStore) Save(cfg *config.Config) (string, error) {
	data, err := config.Marshal(cfg, true)
	if err != nil {
		return "", err
	}
	if _, err := config.Parse("phone.toml", data); err != nil {
		return "", err
	}
	m.saved = cfg
	return "", nil
}

func newStore(t *testing.T) *memStore {
	cfg, err := config.Load("../config/testdata/design.toml")
	if err != nil {
		t.Fatal(err)
	}
	return &memStore{cfg: cfg}
}

func TestSettingsShowAndSaveTheConfiguration(t *testing.T) {
	test.NewTempApp(t)
	st := newStore(t)
	s := NewSettings(st)
	if s.User.Text != "1001" || s.SrvName.Text != "home" || s.KeepInterval.Text != "10s" || !s.Codecs["PCMU"].Checked {
		t.Fatalf("form not filled from the configuration")
	}
	// Add a third server, make it second, give it hold only; choose the headset; offer G.722 first.
	test.Tap(s.AddServer)
	s.SrvName.SetText("dr")
	s.SrvAddress.SetText("10.1.1.1:5080")
	s.SrvTransport.SetSelected("tcp")
	s.SrvAllFeatures.SetChecked(false)
	for _, f := range []config.Feature{config.FeatureTransfer, config.FeatureConference, config.FeatureMWI} {
		s.SrvFeatures[f].SetChecked(false)
	}
	test.Tap(s.UpServer)
	s.Output.SetSelected("USB Headset")
	s.Codecs["G722"].SetChecked(true)
	s.SRTP.SetSelected("require")
	s.DNS.SetText("192.0.2.53:53")
	s.Spread.SetText("0")
	s.Voicemail.SetText(" *97 ")
	if _, err := s.Apply(); err != nil {
		t.Fatal(err)
	}
	got := st.saved
	if got.Calls.Voicemail != "*97" {
		t.Fatalf("voicemail %q saved", got.Calls.Voicemail)
	}
	if got.Audio.SRTP != "require" || got.SIP.DNS != "192.0.2.53:53" || got.Failover.FailbackSpread != 0 {
		t.Fatalf("srtp %q, dns %q, spread %d saved", got.Audio.SRTP, got.SIP.DNS, got.Failover.FailbackSpread)
	}
	if len(got.Servers) != 3 || got.Servers[1].Name != "dr" || got.Servers[1].Transport != config.TransportTCP ||
		!got.Servers[1].Offers(config.FeatureHold) || got.Servers[1].Offers(config.FeatureTransfer) {
		t.Fatalf("servers saved %+v", got.Servers)
	}
	if got.Audio.Output != "USB Headset" || got.Audio.Input != "" || !strings.Contains(strings.Join(got.Audio.Codecs, ","), "G722") {
		t.Fatalf("audio saved %+v", got.Audio)
	}
}

// Invalid entries are refused in the dialog with the reason, and nothing is saved.
func TestSettingsRefuseInvalidEntries(t *testing.T) {
	test.NewTempApp(t)
	cases := []struct {
		name string
		edit func(*Settings)
		want string
	}{
		{"bad duration", func(s *Settings) { s.KeepTimeout.SetText("soon") }, "Keep-alive timeout"},
		{"timeout too long", func(s *Settings) { s.KeepTimeout.SetText("20s") }, "keepalive_timeout: must be shorter"},
		{"bad address", func(s *Settings) { s.SrvAddress.SetText("pbx:99999") }, "server[0].address"},
		{"no codec", func(s *Settings) {
			for _, c := range s.Codecs {
				c.SetChecked(false)
			}
		}, "Codecs: choose at least one"},
		{"line break in the user", func(s *Settings) { s.User.SetText("1001\nVia: x") }, "account.user"},
		{"name server without a port", func(s *Settings) { s.DNS.SetText("192.0.2.53") }, "sip.dns"},
		{"spread over 100 %", func(s *Settings) { s.Spread.SetText("150") }, "failover.failback_spread"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := newStore(t)
			s := NewSettings(st)
			c.edit(s)
			_, err := s.Apply()
			if err == nil || st.saved != nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(s.Error.Text, c.want) {
				t.Fatalf("shown %q, want it to name %q", s.Error.Text, c.want)
			}
			var ce *config.Error
			_ = errors.As(err, &ce)
		})
	}
}

// A server given as a domain with no transport shows "auto (DNS)"; choosing one is kept, and choosing
// auto again leaves the transport out of the file for discovery.
func TestSettingsTransportAutoForDomains(t *testing.T) {
	test.NewTempApp(t)
	cfg, err := config.Parse("phone.toml", []byte("[account]\nuser = \"1001\"\n[[server]]\nname = \"home\"\naddress = \"example.com\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	st := &memStore{cfg: cfg}
	s := NewSettings(st)
	if s.SrvTransport.Selected != transportAuto {
		t.Fatalf("transport shown %q, want %q", s.SrvTransport.Selected, transportAuto)
	}
	s.SrvTransport.SetSelected("tls")
	if _, err := s.Apply(); err != nil {
		t.Fatal(err)
	}
	if srv := st.saved.Servers[0]; srv.Transport != config.TransportTLS || srv.TransportAuto {
		t.Fatalf("chose tls, saved %+v", srv)
	}
	s.SrvTransport.SetSelected(transportAuto)
	if _, err := s.Apply(); err != nil {
		t.Fatal(err)
	}
	text, _ := config.Marshal(st.saved, false)
	if strings.Contains(string(text), "transport") {
		t.Fatalf("auto written as a transport:\n%s", text)
	}
}

// longNames lists devices with long names, and fails to list them when failing is set.
type longNames struct {
	*memStore
	failing bool
}

func (l longNames) AudioDevices() ([]string, []string, error) {
	if l.failing {
		return nil, nil, errors.New("the sound server did not answer: connection refused (pulse: /run/user/1000/pulse/native)")
	}
	return []string{"alsa_input.usb-Plantronics_Blackwire_3220_Series_D1CEC32E8B2F4C3DA1B6-00.analog-stereo"},
		[]string{"alsa_output.pci-0000_00_1f.3.analog-stereo (Built-in Audio Analog Stereo)"}, nil
}

// openSettings opens the settings dialog on a window of the given size.
func openSettings(t *testing.T, size fyne.Size, store SettingsStore) (*Window, *Settings) {
	t.Helper()
	w, _ := newTestWindow(t)
	w.Win.Resize(size)
	return w, w.ShowSettings(store)
}

// Every tab fits the dialog's width and scrolls up and down instead of being cut, and the dialog fits the
// window: at the main window's fixed size (which fits a 1366x768 screen at scale 1.5).
func TestSettingsTabsFitTheDialog(t *testing.T) {
	for _, size := range []fyne.Size{WindowSize} {
		for _, failing := range []bool{false, true} {
			st := longNames{newStore(t), failing}
			st.cfg.Audio.Output = "alsa_output.pci-0000_00_1f.3.analog-stereo (Built-in Audio Analog Stereo)"
			w, s := openSettings(t, size, st)
			assertFitsCanvas(t, w, s.Content)
			for i, item := range s.Tabs.Items {
				s.Tabs.SelectIndex(i)
				if sc, ok := item.Content.(*container.Scroll); !ok || sc.Direction != container.ScrollVerticalOnly {
					t.Errorf("%v: tab %s does not scroll up and down", size, item.Text)
				}
				if min, got := item.Content.MinSize(), item.Content.Size(); got.Width == 0 || min.Width > got.Width {
					t.Errorf("%v: tab %s needs %v wide, has %v: cut on the right", size, item.Text, min.Width, got.Width)
				}
			}
		}
	}
}

func TestSettingsServerListShowsSeveralRows(t *testing.T) {
	_, s := openSettings(t, WindowSize, newStore(t))
	s.Tabs.SelectIndex(1)
	if rows := s.ServerList.Size().Height / listRowHeight(); rows < 3 {
		t.Fatalf("the server list shows %.1f rows", rows)
	}
}

// Each tab as it looks at the main window's size (testdata/settings-*.png; only the dialog, not the
// window behind it).
func TestSettingsTabsRender(t *testing.T) {
	w, s := openSettings(t, WindowSize, newStore(t))
	for i, item := range s.Tabs.Items {
		s.Tabs.SelectIndex(i)
		img := dialogImage(w)
		test.AssertImageMatches(t, "settings-"+strings.ToLower(item.Text)+".png", img)
	}
}

// dialogImage is the window's top dialog, cut out of the window's picture.
func dialogImage(w *Window) image.Image {
	c := w.Win.Canvas()
	content := c.Overlays().Top().(*widget.PopUp).Content
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(content)
	px := func(v float32) int { return int(v * c.Scale()) }
	size := content.Size()
	out := image.NewNRGBA(image.Rect(0, 0, px(size.Width), px(size.Height)))
	draw.Draw(out, out.Bounds(), c.Capture(), image.Pt(px(pos.X), px(pos.Y)), draw.Src)
	return out
}

// A refusal too long for one line is shown on as many as it takes, not cut by the buttons under it.
func TestSettingsRefusalIsShownWhole(t *testing.T) {
	_, s := openSettings(t, WindowSize, newStore(t))
	s.KeepTimeout.SetText("soon enough, once the network is back")
	if _, err := s.Apply(); err == nil {
		t.Fatal("accepted")
	}
	oneLine := widget.NewLabel("x").MinSize().Height
	if got, need := s.Error.Size().Height, s.Error.MinSize().Height; got < need || need <= oneLine {
		t.Fatalf("refusal %q shown %v high, needs %v (two lines)", s.Error.Text, got, need)
	}
}

// A configured device that is not listed (unplugged, or the devices could not be listed) stays chosen,
// and saving keeps it.
func TestSettingsKeepAnUnlistedDevice(t *testing.T) {
	test.NewTempApp(t)
	st := longNames{newStore(t), true}
	st.cfg.Audio.Output = "USB Headset"
	s := NewSettings(st)
	if s.Output.Selected != "USB Headset" {
		t.Fatalf("output shown %q", s.Output.Selected)
	}
	if _, err := s.Apply(); err != nil {
		t.Fatal(err)
	}
	if got := st.saved.Audio.Output; got != "USB Headset" {
		t.Fatalf("saved output %q", got)
	}
}

// Settings > Account's intercom box shows calls.auto_answer and saves it, both ways.
func TestSettingsAutoAnswerRoundTrips(t *testing.T) {
	test.NewTempApp(t)
	st := newStore(t)
	s := NewSettings(st)
	if s.AutoAnswer.Checked {
		t.Fatal("auto-answer shown on for a file without it")
	}
	test.Tap(s.AutoAnswer)
	if _, err := s.Apply(); err != nil {
		t.Fatal(err)
	}
	if !st.saved.Calls.AutoAnswer {
		t.Fatal("the ticked box was not saved")
	}
	st.cfg = st.saved
	s = NewSettings(st)
	if !s.AutoAnswer.Checked {
		t.Fatal("auto-answer on shown off")
	}
	test.Tap(s.AutoAnswer)
	if _, err := s.Apply(); err != nil {
		t.Fatal(err)
	}
	if st.saved.Calls.AutoAnswer {
		t.Fatal("the cleared box was not saved")
	}
}

// The echo canceller's setting and the noise suppression box round-trip through the file: each word of
// the choice is saved as its value and shown again as it was.
func TestSettingsEchoCancellationRoundTrips(t *testing.T) {
	test.NewTempApp(t)
	st := newStore(t)
	s := NewSettings(st)
	if s.EchoCancel.Selected != echoWords["auto"] || !s.NoiseSuppression.Checked {
		t.Fatalf("defaults shown as %q, noise suppression %v", s.EchoCancel.Selected, s.NoiseSuppression.Checked)
	}
	for _, value := range []string{"off", "on", "auto"} {
		s.EchoCancel.SetSelected(echoWords[value])
		test.Tap(s.NoiseSuppression)
		want := s.NoiseSuppression.Checked
		if _, err := s.Apply(); err != nil {
			t.Fatal(err)
		}
		if st.saved.Audio.EchoCancel != value || st.saved.Audio.NoiseSuppression != want {
			t.Fatalf("%q saved as %q, noise suppression %v (want %v)", echoWords[value], st.saved.Audio.EchoCancel,
				st.saved.Audio.NoiseSuppression, want)
		}
		st.cfg = st.saved
		s = NewSettings(st)
		if s.EchoCancel.Selected != echoWords[value] || s.NoiseSuppression.Checked != want {
			t.Fatalf("%q shown again as %q", value, s.EchoCancel.Selected)
		}
	}
}
