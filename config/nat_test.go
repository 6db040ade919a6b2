package config

import (
	"strings"
	"testing"
)

// [nat] stun is optional; a good one survives a save, a bad one is refused with its line.
func TestNATSection(t *testing.T) {
	base := "[account]\nuser = \"1001\"\n[[server]]\nname = \"home\"\naddress = \"192.0.2.1\"\n"
	cfg, err := Parse("phone.toml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NAT.STUN != "" {
		t.Fatalf("stun without a [nat] section = %q, want none", cfg.NAT.STUN)
	}
	out, err := Marshal(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "[nat]") {
		t.Errorf("a save wrote an empty [nat] section:\n%s", out)
	}

	cfg, err = Parse("phone.toml", []byte(base+"[nat]\nstun = \"stun.example.com:3478\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NAT.STUN != "stun.example.com:3478" {
		t.Fatalf("stun = %q", cfg.NAT.STUN)
	}
	out, err = Marshal(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("again.toml", out)
	if err != nil || again.NAT.STUN != "stun.example.com:3478" {
		t.Fatalf("after a save: %v, stun %q\n%s", err, again.NAT.STUN, out)
	}

	for _, bad := range []string{"stun.example.com", "stun.example.com:0", "stun.example.com:99999",
		"stun.example.com:port", "bad host:3478", ":3478"} {
		_, err := Parse("phone.toml", []byte(base+"[nat]\n\nstun = \""+bad+"\"\n"))
		if err == nil || !strings.Contains(err.Error(), "phone.toml:8: nat.stun") {
			t.Errorf("stun = %q: %v, want refused at phone.toml:8", bad, err)
		}
	}
}

// A UDP keep-alive interval over 25 s is accepted with a warning naming its line: a NAT commonly forgets
// an idle UDP mapping after 30 s. The default (10 s) and TCP-only servers warn of nothing.
func TestKeepaliveIntervalWarnsAboutNATTimeouts(t *testing.T) {
	base := "[account]\nuser = \"1001\"\n[[server]]\nname = \"home\"\naddress = \"192.0.2.1\"\n"
	warned := func(cfg *Config) bool {
		for _, w := range cfg.Warnings {
			if strings.Contains(w, "keepalive_interval") {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct {
		text string
		warn bool
	}{
		{base, false},
		{base + "[failover]\nkeepalive_interval = \"25s\"\n", false},
		{base + "[failover]\nkeepalive_interval = \"45s\"\n", true},
		{strings.Replace(base, "192.0.2.1\"\n", "192.0.2.1\"\ntransport = \"tcp\"\n", 1) + "[failover]\nkeepalive_interval = \"45s\"\n", false},
	} {
		cfg, err := Parse("phone.toml", []byte(tc.text))
		if err != nil {
			t.Fatal(err)
		}
		if warned(cfg) != tc.warn {
			t.Errorf("%q: warnings %q, want a keep-alive warning: %v", tc.text, cfg.Warnings, tc.warn)
		}
	}
	cfg, _ := Parse("phone.toml", []byte(base+"[failover]\nkeepalive_interval = \"45s\"\n"))
	if !warned(cfg) || !strings.HasPrefix(cfg.Warnings[len(cfg.Warnings)-1], "phone.toml:7: failover.keepalive_interval 45s") {
		t.Errorf("warning %q, want it at phone.toml:7", cfg.Warnings)
	}
}
