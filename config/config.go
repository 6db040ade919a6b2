// Package config reads and checks Stayline's TOML configuration (README.md, "Configuration").
//
// Every problem is reported with the file, the line and the key it concerns; unknown keys are refused the
// same way, so a misspelt setting never falls back to a default unnoticed. The package is a leaf: the
// failover manager, the phone and the front ends all read the same types.
package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is one whole, checked configuration.
type Config struct {
	Account  Account  `toml:"account"`
	Servers  []Server `toml:"server"`
	Failover Failover `toml:"failover"`
	SIP      SIP      `toml:"sip"`
	Calls    Calls    `toml:"calls"`
	Audio    Audio    `toml:"audio"`
	NAT      NAT      `toml:"nat,omitempty"`

	// Warnings are things the file does that work but should be changed (a password in the file).
	Warnings []string `toml:"-"`
}

// Account is the address of record the phone registers.
type Account struct {
	User        string `toml:"user"`
	Password    string `toml:"password"`
	Domain      string `toml:"domain"`
	DisplayName string `toml:"display_name"`
}

// Server is one registrar/proxy; the first of the list is home.
type Server struct {
	Name      string    `toml:"name"`
	Address   string    `toml:"address"`
	Transport Transport `toml:"transport"`
	// Features this server offers; nil (the key absent) means all of them.
	Features []Feature `toml:"features"`

	// TransportAuto: the file names no transport. For a domain without a port that lets server discovery
	// choose one from NAPTR records (RFC 3263 §4.1); Transport holds UDP, the fallback.
	TransportAuto bool `toml:"-"`
	// Domain is set on a server that discovery found for a domain (RFC 3263): Address is then the
	// target's IP and port, and a TLS certificate is checked against this domain (RFC 5922).
	Domain string `toml:"-"`
}

// Discoverable says whether the address is a domain to look up in DNS (NAPTR/SRV, RFC 3263): a name,
// not an IP address, without a port.
func (s Server) Discoverable() bool {
	if s.Domain != "" {
		return false
	}
	if _, _, err := net.SplitHostPort(s.Address); err == nil {
		return false
	}
	return net.ParseIP(strings.Trim(s.Address, "[]")) == nil
}

// Failover holds the policies and timers of the failover manager.
type Failover struct {
	Registration      RegistrationPolicy `toml:"registration"`
	Failback          FailbackPolicy     `toml:"failback"`
	KeepaliveInterval Duration           `toml:"keepalive_interval"`
	KeepaliveTimeout  Duration           `toml:"keepalive_timeout"`
	KeepaliveMisses   int                `toml:"keepalive_misses"`
	FailbackHolddown  Duration           `toml:"failback_holddown"`
	// FailbackSpread lengthens the hold-down by a random 0 to this many percent, drawn once per phone,
	// so a fleet does not turn back to a returning home in the same second.
	FailbackSpread  int      `toml:"failback_spread"`
	RegisterExpires Duration `toml:"register_expires"`
	BackoffBase     Duration `toml:"backoff_base"`
	BackoffMax      Duration `toml:"backoff_max"`
	// SimultaneousRegistrations is how many servers, home included, the `simultaneous` policy keeps
	// registered at once (Avaya's SIMULTANEOUS_REGISTRATIONS).
	SimultaneousRegistrations int `toml:"simultaneous_registrations"`
}

// SIP holds the user agent's own transport settings.
type SIP struct {
	Listen string `toml:"listen"`
	// OnlyServers refuses calls and other out-of-dialog requests from addresses that are not a configured
	// server (a SIP scanner cannot ring the phone). Requests within a call are matched to it instead.
	OnlyServers bool `toml:"only_servers"`
	// TLSCA is a PEM file of certificate authorities trusted for servers' TLS certificates, besides the
	// system's (a company's own CA). A relative path is relative to the configuration file. Certificates
	// are always verified; there is no switch to turn that off.
	TLSCA string `toml:"tls_ca,omitempty"`
	// DNS is the name server (host:port) asked for NAPTR, SRV and A records of servers given as domains;
	// empty: the system's (/etc/resolv.conf, or the OS resolver where there is none).
	DNS string `toml:"dns,omitempty"`
}

// NAT holds how the phone finds the address it is reachable at from outside a NAT (docs/ARCHITECTURE.md,
// "NAT"). The registrar's own word (RFC 3581 received/rport) needs no setting.
type NAT struct {
	// STUN is a STUN server (host:port, RFC 5389/8489) asked for the public address of each call's media;
	// empty: none, the media address is the one the registrar saw.
	STUN string `toml:"stun,omitempty"`
}

// Calls holds call-handling settings.
type Calls struct {
	Emergency []string `toml:"emergency"`
	Lines     int      `toml:"lines"`
	// Voicemail is what the Messages key dials (a number or SIP address); empty: the key says it is not set.
	Voicemail string `toml:"voicemail,omitempty"`
	// AutoAnswer answers by itself an incoming call that asks for it (intercom and paging: Call-Info
	// answer-after, Alert-Info auto-answer, Answer-Mode: Auto), after the delay it asks, when no other call
	// is up. Off by default: a call never connects the room's microphone unless the user chose so.
	AutoAnswer bool `toml:"auto_answer,omitempty"`
}

// Audio holds device and codec settings.
type Audio struct {
	Backend string   `toml:"backend"`
	Input   string   `toml:"input"`
	Output  string   `toml:"output"`
	Codecs  []string `toml:"codecs"`
	// SRTP is the media security policy: "offer" (SRTP when the far end takes it), "require" (encrypted
	// calls only; others are refused with the reason) or "off".
	SRTP string `toml:"srtp"`
	// Ringer is the device the phone rings on ("" = the output device): the speakers can ring while
	// calls go to a headset.
	Ringer string `toml:"ringer,omitempty"`
	// RingVolume is the ringtone's volume in percent, 0 to 100.
	RingVolume int `toml:"ring_volume"`
	// EchoCancel is the microphone's echo canceller (audio/dsp): "auto" (on, except when the output
	// device's name says it is worn: a headset, headphones, a handset), "on" or "off".
	EchoCancel string `toml:"echo_cancel"`
	// NoiseSuppression is the microphone's noise suppression and automatic gain (audio/dsp). Off, a
	// steady test tone goes through as it is (on, it is taken for noise and lowered).
	NoiseSuppression bool `toml:"noise_suppression"`
}

// Default returns the configuration every file starts from.
func Default() Config {
	return Config{
		Failover: Failover{
			Registration:              RegisterAlternate,
			Failback:                  FailbackAuto,
			KeepaliveInterval:         Duration(10 * time.Second),
			KeepaliveTimeout:          Duration(2 * time.Second),
			KeepaliveMisses:           2,
			FailbackHolddown:          Duration(120 * time.Second),
			FailbackSpread:            20,
			RegisterExpires:           Duration(300 * time.Second),
			BackoffBase:               Duration(30 * time.Second),
			BackoffMax:                Duration(1800 * time.Second),
			SimultaneousRegistrations: 3,
		},
		SIP:   SIP{Listen: "0.0.0.0:0", OnlyServers: true},
		Calls: Calls{Emergency: []string{"911", "112"}, Lines: 3},
		Audio: Audio{Backend: "default", Codecs: []string{"PCMU", "PCMA"}, SRTP: "offer", RingVolume: 100,
			EchoCancel: "auto", NoiseSuppression: true},
	}
}

// DefaultPath is where the phone looks for its configuration when -config is not given.
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the configuration directory: %w", err)
	}
	return filepath.Join(dir, "stayline", "phone.toml"), nil
}

// Home is the first server of the list.
func (c *Config) Home() Server { return c.Servers[0] }

// AOR is the address of record, user@domain.
func (c *Config) AOR() string { return c.Account.User + "@" + c.Account.Domain }

// IsEmergency reports whether target is one of the configured emergency numbers.
func (c *Config) IsEmergency(target string) bool {
	for _, n := range c.Calls.Emergency {
		if n == target {
			return true
		}
	}
	return false
}

// Offers reports whether the server offers feature f.
func (s Server) Offers(f Feature) bool {
	if s.Features == nil {
		return true
	}
	for _, g := range s.Features {
		if g == f {
			return true
		}
	}
	return false
}

// HostPort is the server's address with the transport's default port filled in.
func (s Server) HostPort() string {
	if _, _, err := net.SplitHostPort(s.Address); err == nil {
		return s.Address
	}
	port := 5060
	if s.Transport == TransportTLS {
		port = 5061
	}
	return net.JoinHostPort(strings.Trim(s.Address, "[]"), strconv.Itoa(port))
}

// TLSName is the name a TLS certificate of this server must carry.
func (s Server) TLSName() string {
	if s.Domain != "" {
		return s.Domain
	}
	return s.Host()
}

// Host is the server's host without the port.
func (s Server) Host() string {
	host, _, err := net.SplitHostPort(s.HostPort())
	if err != nil {
		return s.Address
	}
	return host
}
