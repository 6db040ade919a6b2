package config

import (
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// maxCAFile bounds what is read of a CA file: a bundle of every public CA is about 250 KB.
const maxCAFile = 4 << 20

// checkCAFile makes sure a CA file can be used: readable, with at least one PEM certificate.
func checkCAFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxCAFile))
	if err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return fmt.Errorf("%s holds no PEM certificate", path)
	}
	return nil
}

func bad(key, format string, args ...any) error {
	return &Error{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// check refuses what a phone cannot work with. Its errors name the key; Parse adds the line.
func (c *Config) check() error {
	a := c.Account
	if a.User == "" {
		return bad("account.user", "the user (extension) is required")
	}
	if err := checkUser(a.User); err != nil {
		return bad("account.user", "%v", err)
	}
	if err := checkText(a.Password); err != nil {
		return bad("account.password", "%v", err)
	}
	if a.Domain != "" {
		if err := checkHost(a.Domain); err != nil {
			return bad("account.domain", "%v", err)
		}
	}
	if err := checkText(a.DisplayName); err != nil || strings.ContainsAny(a.DisplayName, `"\`) {
		return bad("account.display_name", "may not contain quotes, backslashes or control characters")
	}

	if len(c.Servers) == 0 {
		return bad("server", "at least one [[server]] is required; the first is home")
	}
	names := map[string]int{}
	for i, s := range c.Servers {
		if s.Name == "" {
			return bad(serverKey(i, "name"), "every server needs a name")
		}
		if err := checkText(s.Name); err != nil {
			return bad(serverKey(i, "name"), "%v", err)
		}
		if j, dup := names[s.Name]; dup {
			return bad(serverKey(i, "name"), "the name %q is already used by server %d", s.Name, j+1)
		}
		names[s.Name] = i
		if err := checkAddress(s.Address); err != nil {
			return bad(serverKey(i, "address"), "%v", err)
		}
		if err := s.Transport.Valid(); err != nil {
			return bad(serverKey(i, "transport"), "%v", err)
		}
		for _, feat := range s.Features {
			if err := feat.Valid(); err != nil {
				return bad(serverKey(i, "features"), "%v", err)
			}
		}
	}

	if c.SIP.DNS != "" {
		if _, _, err := net.SplitHostPort(c.SIP.DNS); err != nil {
			return bad("sip.dns", "%q is not host:port (e.g. \"192.0.2.53:53\")", c.SIP.DNS)
		}
	}

	if c.NAT.STUN != "" {
		if err := checkHostPort(c.NAT.STUN); err != nil {
			return bad("nat.stun", "%v (e.g. \"stun.example.com:3478\")", err)
		}
	}

	f := c.Failover
	if err := f.Registration.Valid(); err != nil {
		return bad("failover.registration", "%v", err)
	}
	if err := f.Failback.Valid(); err != nil {
		return bad("failover.failback", "%v", err)
	}
	if f.FailbackSpread < 0 || f.FailbackSpread > 100 {
		return bad("failover.failback_spread", "%d is not a percentage from 0 to 100", f.FailbackSpread)
	}
	if f.KeepaliveMisses < 1 {
		return bad("failover.keepalive_misses", "must be at least 1")
	}
	if f.KeepaliveTimeout >= f.KeepaliveInterval {
		return bad("failover.keepalive_timeout", "must be shorter than keepalive_interval (%s)", f.KeepaliveInterval)
	}
	if f.RegisterExpires.D() < 10*time.Second {
		return bad("failover.register_expires", "must be at least 10s")
	}
	if f.BackoffBase > f.BackoffMax {
		return bad("failover.backoff_base", "must not exceed backoff_max (%s)", f.BackoffMax)
	}
	if f.SimultaneousRegistrations < 1 {
		return bad("failover.simultaneous_registrations", "must be at least 1")
	}

	if c.SIP.Listen != "" {
		if _, _, err := net.SplitHostPort(c.SIP.Listen); err != nil {
			return bad("sip.listen", "%q is not host:port", c.SIP.Listen)
		}
	}
	if c.SIP.TLSCA != "" {
		if err := checkCAFile(c.SIP.TLSCA); err != nil {
			return bad("sip.tls_ca", "%v", err)
		}
	}
	if c.Calls.Lines < 1 || c.Calls.Lines > 24 {
		return bad("calls.lines", "must be between 1 and 24")
	}
	for _, n := range c.Calls.Emergency {
		if err := checkUser(n); err != nil {
			return bad("calls.emergency", "%q: %v", n, err)
		}
	}
	if strings.ContainsAny(c.Calls.Voicemail, "\r\n\x00<>\"") {
		return bad("calls.voicemail", "%q: not a number or SIP address", c.Calls.Voicemail)
	}
	switch c.Audio.Backend {
	case "default", "null":
	default:
		return bad("audio.backend", "%q is not one of default, null", c.Audio.Backend)
	}
	for _, codec := range c.Audio.Codecs {
		if !knownCodec(codec) {
			return bad("audio.codecs", "%q is not one of PCMU, PCMA, G722, opus", codec)
		}
	}
	switch c.Audio.SRTP {
	case "offer", "require", "off":
	default:
		return bad("audio.srtp", "%q is not one of offer, require, off", c.Audio.SRTP)
	}
	switch c.Audio.EchoCancel {
	case "auto", "on", "off":
	default:
		return bad("audio.echo_cancel", "%q is not one of auto, on, off", c.Audio.EchoCancel)
	}
	if c.Audio.RingVolume < 0 || c.Audio.RingVolume > 100 {
		return bad("audio.ring_volume", "%d is not a volume from 0 to 100 (percent)", c.Audio.RingVolume)
	}
	for _, d := range [][2]string{{"audio.input", c.Audio.Input}, {"audio.output", c.Audio.Output}, {"audio.ringer", c.Audio.Ringer}} {
		if strings.ContainsAny(d[1], "\x00\r\n") {
			return bad(d[0], "%q: a device name has no control characters", d[1])
		}
	}
	return nil
}

// checkText refuses control characters, which could end a SIP header early.
func checkText(s string) error {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("may not contain control characters (line breaks, tabs)")
		}
	}
	return nil
}

// checkUser accepts what RFC 3261 allows unescaped in the user part of a SIP URI.
func checkUser(s string) error {
	if s == "" {
		return fmt.Errorf("is empty")
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-_.!~*'()&=+$,;?/#", r):
		default:
			return fmt.Errorf("may only contain letters, digits and - _ . ! ~ * ' ( ) & = + $ , ; ? / #")
		}
	}
	return nil
}

func checkHost(h string) error {
	if h == "" {
		return fmt.Errorf("the host is empty")
	}
	if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
		return nil
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
		default:
			return fmt.Errorf("%q is not a host name or IP address", h)
		}
	}
	return nil
}

func checkAddress(addr string) error {
	if addr == "" {
		return fmt.Errorf("the address is required (host or host:port)")
	}
	host := addr
	if h, port, err := net.SplitHostPort(addr); err == nil {
		n, perr := strconv.Atoi(port)
		if perr != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: the port must be a number from 1 to 65535", addr)
		}
		host = h
	}
	return checkHost(host)
}

// NATUDPTimeout is how long a NAT commonly keeps an idle UDP mapping (Linux's conntrack for a flow seen one
// way; many home routers). A keep-alive interval must stay well under it for calls to keep arriving behind
// a NAT (docs/ARCHITECTURE.md, "NAT").
const NATUDPTimeout = 30 * time.Second

// natKeepaliveWarning warns when a UDP server's keep-alives come too seldom to keep a NAT's mapping open:
// more than 25 s apart, five short of the common 30 s timeout.
func (c *Config) natKeepaliveWarning() string {
	interval := c.Failover.KeepaliveInterval.D()
	if interval <= NATUDPTimeout-5*time.Second {
		return ""
	}
	for _, s := range c.Servers {
		if s.Transport == TransportUDP {
			return fmt.Sprintf("failover.keepalive_interval %s: behind a NAT, whose UDP mappings commonly expire after %s "+
				"idle, incoming calls may stop arriving between keep-alives; 25s or less keeps them open", interval, NATUDPTimeout)
		}
	}
	return ""
}

// checkHostPort accepts host:port with a host name or IP address and a port from 1 to 65535.
func checkHostPort(addr string) error {
	h, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: the port must be a number from 1 to 65535", addr)
	}
	return checkHost(h)
}

func knownCodec(name string) bool {
	for _, k := range []string{"PCMU", "PCMA", "G722", "opus"} {
		if strings.EqualFold(name, k) {
			return true
		}
	}
	return false
}
