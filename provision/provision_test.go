package provision

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"stayline/config"
	"stayline/lab"
)

func account() *config.Config {
	c := config.Default()
	c.Account = config.Account{User: "1001", Password: lab.Password}
	return &c
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// reparse reads a configuration back as the phone would.
func reparse(t *testing.T, c *config.Config) *config.Config {
	t.Helper()
	text, err := config.Marshal(c, true)
	if err != nil {
		t.Fatal(err)
	}
	out, err := config.Parse("x.toml", text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	out.Warnings = nil
	return out
}

// The lab's settings file, imported onto an account, is exactly the lab's configuration.
func TestLabSettingsFileMakesTheLabConfiguration(t *testing.T) {
	pair, err := lab.NewPair(t.TempDir(), 15060, 15070, lab.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := config.Parse("lab.toml", []byte(pair.PhoneConfig("1001", lab.LabTimers, "")))
	if err != nil {
		t.Fatal(err)
	}
	src := writeFile(t, t.TempDir(), "46xxsettings.txt", pair.SettingsFile(lab.LabTimers))
	script, err := Load(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	got := account()
	report, err := Apply(got, script)
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Unknown) != 0 || len(report.Ignored) != 0 {
		t.Errorf("the lab file left names unused: %+v", report)
	}
	if g, w := reparse(t, got), reparse(t, want); !reflect.DeepEqual(g, w) {
		t.Fatalf("imported:\n%+v\nwant the lab's:\n%+v", g, w)
	}
}

func TestEveryNameIsAccountedFor(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "site.txt", "SET SIPDOMAIN example.com\nSET ENABLE_G722 1\n")
	src := writeFile(t, dir, "46xxsettings.txt", `## Settings for the Stayline test
IF $MODEL4 SEQ 9641 GOTO SIP9641
SET SIP_CONTROLLER_LIST "pbx1.example.com:5061,pbx2.example.com;transport=udp"
SET SIPSIGNAL 2
SET SIPREGPROXYPOLICY "simultaneous"
SET SIMULTANEOUS_REGISTRATIONS 2
SET FAILBACK_POLICY admin
SET WAIT_FOR_REGISTRATION_TIMER 32
SET ENABLE_PRESENCE 1
SET DSCPAUD 46
SET MEDIAENCRYPTION "1,9"
SET PHNEMERGNUM 999
GOTO END
# SIP9641
SET DSCPAUD 34
GET site.txt
# END
`)
	script, err := Load(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	cfg := account()
	r, err := Apply(cfg, script)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Conditionals) != 2 {
		t.Errorf("conditionals %v, want the IF and the GOTO", r.Conditionals)
	}
	if len(r.Unknown) != 2 || !strings.HasPrefix(r.Unknown[0], "DSCPAUD (") || !strings.Contains(r.Unknown[0], ":10, ") ||
		!strings.HasPrefix(r.Unknown[1], "ENABLE_PRESENCE (") {
		t.Errorf("unknown %v, want DSCPAUD (both lines) and ENABLE_PRESENCE", r.Unknown)
	}
	if len(r.Ignored) != 1 || !strings.Contains(r.Ignored[0], "WAIT_FOR_REGISTRATION_TIMER") {
		t.Errorf("ignored %v", r.Ignored)
	}
	s := cfg.Servers
	if len(s) != 2 || s[0].Name != "home" || s[0].Transport != config.TransportTLS || s[1].Transport != config.TransportUDP ||
		s[1].Address != "pbx2.example.com" {
		t.Errorf("servers %+v", s)
	}
	if cfg.Failover.Registration != config.RegisterSimultaneous || cfg.Failover.SimultaneousRegistrations != 2 ||
		cfg.Failover.Failback != config.FailbackAdmin || cfg.Audio.SRTP != "offer" || cfg.Account.Domain != "example.com" {
		t.Errorf("config %+v", cfg)
	}
	if !contains(cfg.Calls.Emergency, "999") || !contains(cfg.Calls.Emergency, "911") {
		t.Errorf("emergency %v, want 999 added to the defaults", cfg.Calls.Emergency)
	}
	if strings.Join(cfg.Audio.Codecs, ",") != "G722,PCMU,PCMA" {
		t.Errorf("codecs %v (from the GET file)", cfg.Audio.Codecs)
	}
}

func TestBadSettingsNameTheirLine(t *testing.T) {
	cases := map[string]string{
		"SET SIP_CONTROLLER_LIST a.example.com\nSET FAST_RESPONSE_TIMEOUT soon\n":                         "46xx.txt:2: FAST_RESPONSE_TIMEOUT",
		"SET SIP_CONTROLLER_LIST a.example.com\nSET TCP_KEEP_ALIVE_TIME 2\nSET FAST_RESPONSE_TIMEOUT 5\n": "46xx.txt:3: FAST_RESPONSE_TIMEOUT: must be shorter",
		"SET SIP_CONTROLLER_LIST \"a.example.com;transport=sctp\"\n":                                      "46xx.txt:1: SIP_CONTROLLER_LIST",
		"SET SIPSIGNAL 7\n": "46xx.txt:1: SIPSIGNAL",
		"SET SIP_CONTROLLER_LIST a\nSET SIPREGPROXYPOLICY both\n": "46xx.txt:2: SIPREGPROXYPOLICY",
		"SET DISPLAY_NAME \"Front desk\nSET X 1\n":                "46xx.txt:1: DISPLAY_NAME: unterminated",
		"PUT SIPDOMAIN x\n": "46xx.txt:1: \"PUT SIPDOMAIN x\" is not a SET",
	}
	for text, want := range cases {
		src := writeFile(t, t.TempDir(), "46xx.txt", text)
		script, err := Load(context.Background(), src)
		if err == nil {
			_, err = Apply(account(), script)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", text, err, want)
		}
	}
}

// Over HTTP: the file and what it GETs come from the provisioning server (here on loopback).
func TestImportFromAURL(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/phones/46xxsettings.txt", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("SET SIP_CONTROLLER_LIST \"10.0.0.1;transport=tcp\"\nGET site/extra.txt\n"))
	})
	mux.HandleFunc("/phones/site/extra.txt", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("SET REGISTERWAIT 600\n"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	script, err := Load(context.Background(), srv.URL+"/phones/46xxsettings.txt")
	if err != nil {
		t.Fatal(err)
	}
	cfg := account()
	if _, err := Apply(cfg, script); err != nil {
		t.Fatal(err)
	}
	if cfg.Servers[0].Transport != config.TransportTCP || cfg.Failover.RegisterExpires.D().Seconds() != 600 {
		t.Fatalf("imported %+v", cfg)
	}
	if _, err := Load(context.Background(), srv.URL+"/phones/none.txt"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing file: %v", err)
	}
}

// The README documents every name the importer knows, as the code maps it.
func TestREADMEDocumentsTheMapping(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range Table {
		key := "`" + m.Key + "`"
		if m.Key == "-" {
			key = "-"
		}
		row := fmt.Sprintf("| `%s` | %s | %s |", strings.ReplaceAll(m.Name, ", ", "`, `"), key, m.Note)
		if !strings.Contains(string(readme), row+"\n") {
			t.Errorf("README.md lacks the row\n%s", row)
		}
	}
	// And the table covers what the importer applies or ignores.
	for name := range mappings {
		documented := false
		for _, m := range Table {
			if strings.Contains(", "+m.Name+", ", ", "+name+", ") ||
				(strings.HasSuffix(m.Name, "_n") && strings.HasPrefix(name, strings.TrimSuffix(m.Name, "n"))) {
				documented = true
			}
		}
		if !documented {
			t.Errorf("%s is mapped but not in Table", name)
		}
	}
}
