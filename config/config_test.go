package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDesignExampleParses(t *testing.T) {
	cfg, err := Load("testdata/design.toml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Account.User != "1001" || cfg.Account.Domain != "example.com" || cfg.Account.DisplayName != "Front desk" {
		t.Errorf("account = %+v", cfg.Account)
	}
	if len(cfg.Servers) != 2 || cfg.Home().Name != "home" || cfg.Servers[1].HostPort() != "127.0.0.1:5070" {
		t.Fatalf("servers = %+v", cfg.Servers)
	}
	if !cfg.Servers[1].Offers(FeatureHold) || cfg.Servers[1].Offers(FeatureTransfer) {
		t.Errorf("branch features = %v", cfg.Servers[1].Features)
	}
	f := cfg.Failover
	if f.KeepaliveInterval.D() != 10*time.Second || f.KeepaliveTimeout.D() != 2*time.Second || f.KeepaliveMisses != 2 ||
		f.FailbackHolddown.D() != 120*time.Second || f.BackoffMax.D() != 1800*time.Second {
		t.Errorf("failover = %+v", f)
	}
	if !cfg.IsEmergency("911") || cfg.IsEmergency("1002") {
		t.Error("emergency numbers not read")
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "design.toml:4:") {
		t.Errorf("want a warning about the password on line 4, got %q", cfg.Warnings)
	}
}

func TestMinimalFileGetsDefaults(t *testing.T) {
	cfg, err := Parse("min.toml", []byte(`
[account]
user = "1001"

[[server]]
name = "home"
address = "pbx.example.com"

[[server]]
name = "none"
address = "10.0.0.2:5080"
transport = "tcp"
features = []
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Account.Domain != "pbx.example.com" {
		t.Errorf("domain = %q, want the home server's host", cfg.Account.Domain)
	}
	if cfg.Home().HostPort() != "pbx.example.com:5060" || cfg.Home().Transport != TransportUDP {
		t.Errorf("home = %+v %s", cfg.Home(), cfg.Home().HostPort())
	}
	if !cfg.Home().Offers(FeatureMWI) {
		t.Error("a server without a features key must offer everything")
	}
	if cfg.Servers[1].Offers(FeatureHold) {
		t.Error("features = [] must offer nothing")
	}
	d := Default()
	if cfg.Failover != d.Failover || !slices.Equal(cfg.Calls.Emergency, d.Calls.Emergency) ||
		!slices.Equal(cfg.Audio.Codecs, d.Audio.Codecs) || cfg.SIP.Listen != "0.0.0.0:0" {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings without a password: %q", cfg.Warnings)
	}
}

// Every broken file is refused with the line that is wrong and why.
func TestBrokenFilesNameTheLine(t *testing.T) {
	const head = "[account]\nuser = \"1001\"\n\n[[server]]\nname = \"home\"\naddress = \"127.0.0.1\"\n"
	cases := []struct {
		name, text string
		line       int
		want       string
	}{
		{"syntax", head + "[failover\nkeepalive_misses = 2\n", 7, ""},
		{"unknown key", head + "\n[failover]\nkeepalive_intervall = \"1s\"\n", 9, "unknown key"},
		{"unknown section", head + "\n[fail_over]\nkeepalive_misses = 1\n", 8, "unknown key"},
		{"bad transport", head + "transport = \"sctp\"\n", 7, "not one of udp, tcp, tls"},
		{"bad feature", head + "features = [\"hold\", \"parking\"]\n", 7, `feature "parking"`},
		{"bad duration", head + "\n[failover]\nkeepalive_timeout = \"2 seconds\"\n", 9, "not a duration"},
		{"negative duration", head + "\n[failover]\nbackoff_base = \"-1s\"\n", 9, "must be positive"},
		{"wrong type", head + "\n[failover]\nkeepalive_misses = \"two\"\n", 9, ""},
		{"timeout too long", head + "\n[failover]\nkeepalive_interval = \"1s\"\nkeepalive_timeout = \"1s\"\n", 10, "shorter than keepalive_interval"},
		{"no servers", "[account]\nuser = \"1001\"\n", 0, "at least one [[server]]"},
		{"no user", "[[server]]\nname = \"home\"\naddress = \"127.0.0.1\"\n", 0, "user (extension) is required"},
		{"duplicate name", head + "\n[[server]]\nname = \"home\"\naddress = \"127.0.0.2\"\n", 9, "already used by server 1"},
		{"bad address", head + "\n[[server]]\nname = \"b\"\naddress = \"127.0.0.1:99999\"\n", 10, "port must be a number"},
		{"header injection in user", "[account]\nuser = \"1001\\r\\nVia: x\"\n[[server]]\nname = \"h\"\naddress = \"h\"\n", 2, "may only contain"},
		{"quote in display name", head + "[account]\n", 0, ""}, // redefined table: a syntax error
		{"bad policy", head + "\n[failover]\nregistration = \"both\"\n", 9, "not one of alternate, simultaneous"},
		{"bad lines", head + "\n[calls]\nlines = 0\n", 9, "between 1 and 24"},
		{"bad voicemail", head + "\n[calls]\nvoicemail = \"60<0\"\n", 9, "calls.voicemail"},
		{"bad backend", head + "\n[audio]\nbackend = \"pulse\"\n", 9, "not one of default, null"},
		{"unknown codec", head + "\n[audio]\ncodecs = [\"PCMU\", \"G729\"]\n", 9, `"G729" is not one of`},
		{"bad srtp", head + "\n[audio]\nsrtp = \"always\"\n", 9, "not one of offer, require, off"},
		{"CA file a device", head + "\n[sip]\ntls_ca = \"/dev/zero\"\n", 9, "not a regular file"},
		{"missing CA file", head + "\n[sip]\ntls_ca = \"/nonexistent/ca.pem\"\n", 9, "no such file"},
		{"CA file without a certificate", head + "\n[sip]\ntls_ca = \"/etc/passwd\"\n", 9, "holds no PEM certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse("phone.toml", []byte(c.text))
			if err == nil {
				t.Fatalf("accepted: %+v", cfg)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v is not a config.Error", err, err)
			}
			if c.line > 0 && ce.Line != c.line {
				t.Errorf("line = %d, want %d (%v)", ce.Line, c.line, err)
			}
			if !strings.HasPrefix(err.Error(), "phone.toml:") {
				t.Errorf("error %q does not start with the file", err)
			}
			if c.want != "" && !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}

func TestDisplayNameRefusesQuotes(t *testing.T) {
	_, err := Parse("p.toml", []byte("[account]\nuser = \"1\"\ndisplay_name = 'A \"B\"'\n[[server]]\nname = \"h\"\naddress = \"h\"\n"))
	var ce *Error
	if !errors.As(err, &ce) || ce.Line != 3 || ce.Key != "account.display_name" {
		t.Fatalf("got %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v, want a not-exist error", err)
	}
}

func TestRelativeCAFileIsBesideTheConfiguration(t *testing.T) {
	dir := t.TempDir()
	files, err := os.ReadFile("testdata/lab-ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "company-ca.pem"), files, 0o600)
	path := filepath.Join(dir, "phone.toml")
	os.WriteFile(path, []byte("[account]\nuser = \"1001\"\n[[server]]\nname = \"h\"\naddress = \"h\"\ntransport = \"tls\"\n[sip]\ntls_ca = \"company-ca.pem\"\n"), 0o600)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "company-ca.pem"); cfg.SIP.TLSCA != want {
		t.Fatalf("tls_ca = %q, want %q", cfg.SIP.TLSCA, want)
	}
}

// A domain without a transport is left to discovery, and stays so through a save; a bad sip.dns is named.
func TestDomainServersAndDNS(t *testing.T) {
	text := "[account]\nuser = \"1001\"\n[[server]]\nname = \"home\"\naddress = \"example.com\"\n" +
		"[[server]]\nname = \"b\"\naddress = \"example.net\"\ntransport = \"tls\"\n" +
		"[[server]]\nname = \"c\"\naddress = \"192.0.2.1\"\n[sip]\ndns = \"127.0.0.1:5353\"\n"
	cfg, err := Parse("phone.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Servers
	if !s[0].Discoverable() || !s[0].TransportAuto || s[0].Transport != TransportUDP ||
		!s[1].Discoverable() || s[1].TransportAuto || s[2].Discoverable() || s[2].TransportAuto {
		t.Fatalf("servers = %+v", s)
	}
	if cfg.Account.Domain != "example.com" || cfg.SIP.DNS != "127.0.0.1:5353" {
		t.Fatalf("domain %q, dns %q", cfg.Account.Domain, cfg.SIP.DNS)
	}
	out, err := Marshal(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("again.toml", out)
	if err != nil || !again.Servers[0].TransportAuto || again.Servers[1].Transport != TransportTLS {
		t.Fatalf("after a save: %v, %+v\n%s", err, again, out)
	}
	_, err = Parse("phone.toml", []byte(strings.Replace(text, "127.0.0.1:5353", "127.0.0.1", 1)))
	if err == nil || !strings.Contains(err.Error(), "phone.toml:14: sip.dns") {
		t.Fatalf("bad dns: %v", err)
	}
}

// calls.auto_answer is off unless the file turns it on; anything but a boolean is refused with its line.
func TestAutoAnswerOption(t *testing.T) {
	const head = "[account]\nuser = \"1001\"\n\n[[server]]\nname = \"home\"\naddress = \"127.0.0.1\"\n"
	if Default().Calls.AutoAnswer {
		t.Fatal("auto-answer is on by default")
	}
	cfg, err := Parse("phone.toml", []byte(head+"\n[calls]\nauto_answer = true\n"))
	if err != nil || !cfg.Calls.AutoAnswer {
		t.Fatalf("auto_answer = true read as %v (%v)", cfg != nil && cfg.Calls.AutoAnswer, err)
	}
	if cfg, err = Parse("phone.toml", []byte(head)); err != nil || cfg.Calls.AutoAnswer {
		t.Fatalf("no auto_answer key: %v (%v)", cfg != nil && cfg.Calls.AutoAnswer, err)
	}
	_, err = Parse("phone.toml", []byte(head+"\n[calls]\nauto_answer = \"yes\"\n"))
	var ce *Error
	if !errors.As(err, &ce) || ce.Line != 9 {
		t.Fatalf("auto_answer = \"yes\": %v, want refused on line 9", err)
	}
}

// The ringer and its volume: a volume out of range is refused with its line.
func TestRingVolumeIsCheckedWithItsLine(t *testing.T) {
	base := "[account]\nuser = \"1001\"\ndomain = \"example.com\"\n[[server]]\nname = \"home\"\naddress = \"127.0.0.1:5060\"\n[audio]\nringer = \"Speakers\"\n"
	cfg, err := Parse("ok.toml", []byte(base+"ring_volume = 40\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Audio.Ringer != "Speakers" || cfg.Audio.RingVolume != 40 {
		t.Fatalf("ringer %q at %d%%", cfg.Audio.Ringer, cfg.Audio.RingVolume)
	}
	if cfg, err := Parse("default.toml", []byte(base)); err != nil || cfg.Audio.RingVolume != 100 {
		t.Fatalf("without ring_volume: %v, %+v", err, cfg)
	}
	_, err = Parse("bad.toml", []byte(base+"ring_volume = 140\n"))
	if err == nil || !strings.Contains(err.Error(), "bad.toml:9") || !strings.Contains(err.Error(), "audio.ring_volume") {
		t.Fatalf("error %v: want bad.toml:9 and audio.ring_volume", err)
	}
}

// The echo canceller's switch: auto when absent, on and off as written, anything else refused with its line.
func TestEchoCancelIsCheckedWithItsLine(t *testing.T) {
	base := "[account]\nuser = \"1001\"\ndomain = \"example.com\"\n[[server]]\nname = \"home\"\naddress = \"127.0.0.1:5060\"\n[audio]\n"
	cfg, err := Parse("default.toml", []byte(base))
	if err != nil || cfg.Audio.EchoCancel != "auto" {
		t.Fatalf("without echo_cancel: %v, %q, want auto", err, cfg.Audio.EchoCancel)
	}
	for _, v := range []string{"on", "off", "auto"} {
		if cfg, err := Parse("ok.toml", []byte(base+"echo_cancel = \""+v+"\"\n")); err != nil || cfg.Audio.EchoCancel != v {
			t.Fatalf("echo_cancel = %q: %v", v, err)
		}
	}
	_, err = Parse("bad.toml", []byte(base+"echo_cancel = \"yes\"\n"))
	if err == nil || !strings.Contains(err.Error(), ":8") || !strings.Contains(err.Error(), "echo_cancel") {
		t.Fatalf("echo_cancel = \"yes\": %v, want refused on line 8", err)
	}
	if !cfg.Audio.NoiseSuppression {
		t.Fatal("noise_suppression is off by default, want on")
	}
	if cfg, err := Parse("ns.toml", []byte(base+"noise_suppression = false\n")); err != nil || cfg.Audio.NoiseSuppression {
		t.Fatalf("noise_suppression = false: %v, %v", err, cfg.Audio.NoiseSuppression)
	}
	_, err = Parse("bool.toml", []byte(base+"echo_cancel = true\n"))
	if err == nil || !strings.Contains(err.Error(), ":8") {
		t.Fatalf("echo_cancel = true: %v, want refused on line 8", err)
	}
}
