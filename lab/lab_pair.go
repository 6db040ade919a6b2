package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Pair is the lab's two registrars: home and alternate.
type Pair struct {
	Dir       string
	Home      *Server
	Alternate *Server
}

// Timers are the failover settings written into a lab phone configuration.
type Timers struct {
	KeepaliveInterval time.Duration
	KeepaliveTimeout  time.Duration
	KeepaliveMisses   int
	FailbackHolddown  time.Duration
	BackoffBase       time.Duration
	BackoffMax        time.Duration
	RegisterExpires   time.Duration
}

// LabTimers are README.md, "Performance"'s lab timers: 1 s keep-alive interval, 500 ms timeout, 1 miss.
var LabTimers = Timers{
	KeepaliveInterval: time.Second,
	KeepaliveTimeout:  500 * time.Millisecond,
	KeepaliveMisses:   1,
	FailbackHolddown:  10 * time.Second,
	BackoffBase:       time.Second,
	BackoffMax:        30 * time.Second,
	RegisterExpires:   300 * time.Second,
}

type pairFile struct {
	HomePort      int    `json:"home_port"`
	AlternatePort int    `json:"alternate_port"`
	EchoAddr      string `json:"echo_addr,omitempty"`
	EchoPid       int    `json:"echo_pid,omitempty"`
	VoicemailAddr string `json:"voicemail_addr,omitempty"`
	VoicemailPid  int    `json:"voicemail_pid,omitempty"`
}

// NewPair prepares a lab in dir with the given ports (0 picks free ones). It remembers the ports in
// dir/lab.json, so that a later OpenPair(dir) finds the same servers.
func NewPair(dir string, homePort, altPort int, opts ServerOptions) (*Pair, error) {
	var err error
	if homePort == 0 {
		if homePort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	for altPort == 0 || altPort == homePort || altPort == homePort+1 || altPort+1 == homePort {
		if altPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(pairFile{HomePort: homePort, AlternatePort: altPort, EchoAddr: opts.EchoAddr,
		VoicemailAddr: opts.VoicemailAddr})
	if err := os.WriteFile(filepath.Join(dir, "lab.json"), b, 0o644); err != nil {
		return nil, err
	}
	return pairIn(dir, homePort, altPort, opts), nil
}

// OpenPair finds the lab that NewPair prepared in dir.
func OpenPair(dir string) (*Pair, error) {
	b, err := os.ReadFile(filepath.Join(dir, "lab.json"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no lab in %s (start one with: stayline-lab up)", dir)
		}
		return nil, err
	}
	var f pairFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s/lab.json: %w", dir, err)
	}
	return pairIn(dir, f.HomePort, f.AlternatePort, ServerOptions{EchoAddr: f.EchoAddr, VoicemailAddr: f.VoicemailAddr}), nil
}

// update rewrites the lab's record in dir/lab.json.
func (p *Pair) update(change func(*pairFile)) error {
	path := filepath.Join(p.Dir, "lab.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var f pairFile
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	change(&f)
	b, _ = json.Marshal(f)
	return os.WriteFile(path, b, 0o644)
}

func (p *Pair) record() pairFile {
	var f pairFile
	if b, err := os.ReadFile(filepath.Join(p.Dir, "lab.json")); err == nil {
		json.Unmarshal(b, &f)
	}
	return f
}

// SetEchoPid records the process id of the lab's echo test, for Down.
func (p *Pair) SetEchoPid(pid int) error { return p.update(func(f *pairFile) { f.EchoPid = pid }) }

// SetVoicemailPid records the process id of the lab's voicemail, for Down.
func (p *Pair) SetVoicemailPid(pid int) error {
	return p.update(func(f *pairFile) { f.VoicemailPid = pid })
}

// EchoPid is the process id of the lab's echo test (0: none).
func (p *Pair) EchoPid() int { return p.record().EchoPid }

// VoicemailPid is the process id of the lab's voicemail (0: none).
func (p *Pair) VoicemailPid() int { return p.record().VoicemailPid }

func pairIn(dir string, homePort, altPort int, opts ServerOptions) *Pair {
	home := NewServer(dir, "home", homePort, opts)
	alt := NewServer(dir, "alternate", altPort, opts)
	return &Pair{Dir: dir, Home: home, Alternate: alt}
}

// Server returns the lab server called name ("home" or "alternate").
func (p *Pair) Server(name string) (*Server, error) {
	switch name {
	case "home":
		return p.Home, nil
	case "alternate", "alt":
		return p.Alternate, nil
	}
	return nil, fmt.Errorf("no lab server %q (home or alternate)", name)
}

// Start starts both servers.
func (p *Pair) Start() error {
	if err := p.Home.Start(); err != nil {
		return err
	}
	if err := p.Alternate.Start(); err != nil {
		p.Home.Stop()
		return err
	}
	return nil
}

// Stop stops both servers.
func (p *Pair) Stop() error {
	return errors.Join(p.Home.Stop(), p.Alternate.Stop())
}

// PhoneConfig is a Stayline configuration for user against this lab.
func (p *Pair) PhoneConfig(user string, t Timers, extra string) string {
	return fmt.Sprintf(`# Written by the Stayline lab: user %[1]s on the lab's two registrars.
[account]
user = %[1]q
password = %[2]q
display_name = "Lab phone"

[[server]]
name = "home"
address = %[3]q

[[server]]
name = "alternate"
address = %[4]q
features = ["hold"]

[failover]
keepalive_interval = %[5]q
keepalive_timeout = %[6]q
keepalive_misses = %[7]d
failback_holddown = %[8]q
backoff_base = %[9]q
backoff_max = %[10]q
register_expires = %[11]q

[sip]
listen = "127.0.0.1:0"

[audio]
backend = "null"
%[12]s`, user, Password, p.Home.Addr(), p.Alternate.Addr(),
		t.KeepaliveInterval.String(), t.KeepaliveTimeout.String(), t.KeepaliveMisses,
		t.FailbackHolddown.String(), t.BackoffBase.String(), t.BackoffMax.String(), t.RegisterExpires.String(),
		strings.TrimSpace(extra)+"\n")
}

// SettingsFile is the lab's configuration as a deskphone settings file (46xxsettings style), for the
// provisioning import: with the account's user and password, it makes what PhoneConfig writes.
func (p *Pair) SettingsFile(t Timers) string {
	secs := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }
	return fmt.Sprintf(`## Stayline lab: the two registrars, as an Avaya-style 46xxsettings file.
SET SIP_CONTROLLER_LIST "%s;transport=udp,%s;transport=udp"
SET SIPREGPROXYPOLICY "alternate"
SET FAILBACK_POLICY auto
SET TCP_KEEP_ALIVE_TIME %s
SET FAST_RESPONSE_TIMEOUT %s
SET STAYLINE_KEEPALIVE_MISSES %d
SET STAYLINE_FAILBACK_HOLDDOWN %s
SET RECOVERYREGISTERWAIT %s
SET STAYLINE_BACKOFF_MAX %s
SET REGISTERWAIT %s
SET DISPLAY_NAME "Lab phone"
SET STAYLINE_SERVER_NAMES "home,alternate"
SET STAYLINE_FEATURES_2 "hold"
SET STAYLINE_LISTEN "127.0.0.1:0"
SET STAYLINE_AUDIO_BACKEND null
`, p.Home.Addr(), p.Alternate.Addr(), secs(t.KeepaliveInterval), secs(t.KeepaliveTimeout), t.KeepaliveMisses,
		secs(t.FailbackHolddown), secs(t.BackoffBase), secs(t.BackoffMax), secs(t.RegisterExpires))
}
