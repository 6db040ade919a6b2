package provision

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"stayline/config"
)

// mapping is what Stayline does with one settings name: apply it (returning the configuration key it
// set), or, with apply nil, note why it is not needed.
type mapping struct {
	apply func(a *applier, v string) (key string, err error)
	why   string
}

// Mapping is one row of the documented table (README): the settings name, the Stayline key, and a note.
type Mapping struct{ Name, Key, Note string }

// Table lists every name the importer knows; the README's table is checked against it.
var Table = []Mapping{
	{"SIP_CONTROLLER_LIST", "[[server]] address, transport", "host[:port][;transport=udp, tcp or tls], comma separated; the first is home"},
	{"SIPSIGNAL", "[[server]] transport", "0 UDP, 1 TCP, 2 TLS: for controllers without ;transport= (default 2)"},
	{"SIPDOMAIN", "account.domain", ""},
	{"SIPREGPROXYPOLICY", "failover.registration", "alternate or simultaneous"},
	{"SIMULTANEOUS_REGISTRATIONS", "failover.simultaneous_registrations", ""},
	{"FAILBACK_POLICY", "failover.failback", "auto or admin"},
	{"RECOVERYREGISTERWAIT", "failover.backoff_base", "seconds"},
	{"REGISTERWAIT", "failover.register_expires", "seconds"},
	{"FAST_RESPONSE_TIMEOUT", "failover.keepalive_timeout", "seconds"},
	{"TCP_KEEP_ALIVE_TIME", "failover.keepalive_interval", "seconds"},
	{"WAIT_FOR_REGISTRATION_TIMER", "-", "not needed: REGISTER is bounded by keepalive_timeout"},
	{"WAIT_FOR_UNREGISTRATION_TIMER", "-", "not needed: un-REGISTER is bounded by keepalive_timeout"},
	{"TCP_KEEP_ALIVE_STATUS", "-", "not needed: TCP and TLS connections are always watched"},
	{"PHNEMERGNUM", "calls.emergency", "added to the emergency numbers"},
	{"MEDIAENCRYPTION", "audio.srtp", "9 only: off; 9 with others: offer; others without 9: require"},
	{"ENABLE_G711U, ENABLE_G711A, ENABLE_G722, ENABLE_OPUS", "audio.codecs", "1 on, 0 off"},
	{"DISPLAY_NAME", "account.display_name", "Stayline's own"},
	{"STAYLINE_SERVER_NAMES", "[[server]] name", "Stayline's own: names for the controllers, comma separated"},
	{"STAYLINE_FEATURES_n", "[[server]] features", "Stayline's own: for controller n (1 = home), comma separated; or all, none"},
	{"STAYLINE_KEEPALIVE_MISSES", "failover.keepalive_misses", "Stayline's own"},
	{"STAYLINE_FAILBACK_HOLDDOWN", "failover.failback_holddown", "Stayline's own, seconds"},
	{"STAYLINE_FAILBACK_SPREAD", "failover.failback_spread", "Stayline's own, percent"},
	{"STAYLINE_BACKOFF_MAX", "failover.backoff_max", "Stayline's own, seconds"},
	{"STAYLINE_LISTEN", "sip.listen", "Stayline's own"},
	{"STAYLINE_LINES", "calls.lines", "Stayline's own"},
	{"STAYLINE_AUDIO_BACKEND", "audio.backend", "Stayline's own: default or null"},
}

// seconds reads a duration in seconds; decimals are allowed ("0.5").
func seconds(v string) (config.Duration, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || f > 1e7 {
		return 0, fmt.Errorf("%q is not a number of seconds", v)
	}
	return config.Duration(time.Duration(f * float64(time.Second))), nil
}

func integer(v string, min, max int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < min || n > max {
		return 0, fmt.Errorf("%q is not a whole number from %d to %d", v, min, max)
	}
	return n, nil
}

func durationTo(key string, set func(a *applier, d config.Duration)) mapping {
	return mapping{apply: func(a *applier, v string) (string, error) {
		d, err := seconds(v)
		if err != nil {
			return "", err
		}
		set(a, d)
		return key, nil
	}}
}

func codecSwitch(codec string) mapping {
	return mapping{apply: func(a *applier, v string) (string, error) {
		on, err := integer(v, 0, 1)
		if err != nil {
			return "", err
		}
		if a.codecs == nil {
			a.codecs = map[string]bool{}
			for _, c := range a.cfg.Audio.Codecs {
				a.codecs[c] = true
			}
		}
		a.codecs[codec] = on == 1
		return "audio.codecs", nil
	}}
}

func ignored(why string) mapping { return mapping{why: why} }

var mappings = map[string]mapping{
	"SIP_CONTROLLER_LIST": {apply: func(a *applier, v string) (string, error) {
		a.list = v
		return "server", nil
	}},
	"SIPSIGNAL": {apply: func(a *applier, v string) (string, error) { return "server.transport", nil }}, // read first, see Apply
	"SIPDOMAIN": {apply: func(a *applier, v string) (string, error) {
		a.cfg.Account.Domain = strings.TrimSpace(v)
		return "account.domain", nil
	}},
	"SIPREGPROXYPOLICY": {apply: func(a *applier, v string) (string, error) {
		a.cfg.Failover.Registration = config.RegistrationPolicy(strings.ToLower(strings.TrimSpace(v)))
		return "failover.registration", nil
	}},
	"SIMULTANEOUS_REGISTRATIONS": {apply: func(a *applier, v string) (string, error) {
		n, err := integer(v, 1, 10)
		a.cfg.Failover.SimultaneousRegistrations = n
		return "failover.simultaneous_registrations", err
	}},
	"FAILBACK_POLICY": {apply: func(a *applier, v string) (string, error) {
		a.cfg.Failover.Failback = config.FailbackPolicy(strings.ToLower(strings.TrimSpace(v)))
		return "failover.failback", nil
	}},
	"RECOVERYREGISTERWAIT":          durationTo("failover.backoff_base", func(a *applier, d config.Duration) { a.cfg.Failover.BackoffBase = d }),
	"REGISTERWAIT":                  durationTo("failover.register_expires", func(a *applier, d config.Duration) { a.cfg.Failover.RegisterExpires = d }),
	"FAST_RESPONSE_TIMEOUT":         durationTo("failover.keepalive_timeout", func(a *applier, d config.Duration) { a.cfg.Failover.KeepaliveTimeout = d }),
	"TCP_KEEP_ALIVE_TIME":           durationTo("failover.keepalive_interval", func(a *applier, d config.Duration) { a.cfg.Failover.KeepaliveInterval = d }),
	"WAIT_FOR_REGISTRATION_TIMER":   ignored("not needed: Stayline bounds REGISTER by keepalive_timeout"),
	"WAIT_FOR_UNREGISTRATION_TIMER": ignored("not needed: Stayline bounds un-REGISTER by keepalive_timeout"),
	"TCP_KEEP_ALIVE_STATUS":         ignored("not needed: Stayline always watches its TCP and TLS connections"),
	"PHNEMERGNUM": {apply: func(a *applier, v string) (string, error) {
		if a.emergency == nil {
			a.emergency = append([]string(nil), a.cfg.Calls.Emergency...)
		}
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" && !contains(a.emergency, n) {
				a.emergency = append(a.emergency, n)
			}
		}
		return "calls.emergency", nil
	}},
	"MEDIAENCRYPTION": {apply: func(a *applier, v string) (string, error) {
		none, other := false, false
		for _, p := range strings.Split(v, ",") {
			n, err := integer(p, 1, 10)
			if err != nil {
				return "", err
			}
			if n == 9 {
				none = true
			} else {
				other = true
			}
		}
		switch {
		case none && !other:
			a.cfg.Audio.SRTP = "off"
		case none && other:
			a.cfg.Audio.SRTP = "offer"
		default:
			a.cfg.Audio.SRTP = "require"
		}
		return "audio.srtp", nil
	}},
	"ENABLE_G711U": codecSwitch("PCMU"),
	"ENABLE_G711A": codecSwitch("PCMA"),
	"ENABLE_G722":  codecSwitch("G722"),
	"ENABLE_OPUS":  codecSwitch("opus"),
	"DISPLAY_NAME": {apply: func(a *applier, v string) (string, error) {
		a.cfg.Account.DisplayName = v
		return "account.display_name", nil
	}},
	"STAYLINE_SERVER_NAMES": {apply: func(a *applier, v string) (string, error) {
		a.names = nil
		for _, n := range strings.Split(v, ",") {
			a.names = append(a.names, strings.TrimSpace(n))
		}
		return "server.name", nil
	}},
	"STAYLINE_KEEPALIVE_MISSES": {apply: func(a *applier, v string) (string, error) {
		n, err := integer(v, 1, 10)
		a.cfg.Failover.KeepaliveMisses = n
		return "failover.keepalive_misses", err
	}},
	"STAYLINE_FAILBACK_HOLDDOWN": durationTo("failover.failback_holddown", func(a *applier, d config.Duration) { a.cfg.Failover.FailbackHolddown = d }),
	"STAYLINE_FAILBACK_SPREAD": {apply: func(a *applier, v string) (string, error) {
		n, err := integer(v, 0, 100)
		a.cfg.Failover.FailbackSpread = n
		return "failover.failback_spread", err
	}},
	"STAYLINE_BACKOFF_MAX": durationTo("failover.backoff_max", func(a *applier, d config.Duration) { a.cfg.Failover.BackoffMax = d }),
	"STAYLINE_LISTEN": {apply: func(a *applier, v string) (string, error) {
		a.cfg.SIP.Listen = strings.TrimSpace(v)
		return "sip.listen", nil
	}},
	"STAYLINE_LINES": {apply: func(a *applier, v string) (string, error) {
		n, err := integer(v, 1, 24)
		a.cfg.Calls.Lines = n
		return "calls.lines", err
	}},
	"STAYLINE_AUDIO_BACKEND": {apply: func(a *applier, v string) (string, error) {
		a.cfg.Audio.Backend = strings.TrimSpace(v)
		return "audio.backend", nil
	}},
}

func init() {
	for n := 1; n <= 10; n++ {
		idx := n
		mappings[fmt.Sprintf("STAYLINE_FEATURES_%d", n)] = mapping{apply: func(a *applier, v string) (string, error) {
			if a.features == nil {
				a.features = map[int][]config.Feature{}
			}
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "all":
				a.features[idx] = nil
			case "none", "":
				a.features[idx] = []config.Feature{}
			default:
				var fs []config.Feature
				for _, f := range strings.Split(v, ",") {
					feat := config.Feature(strings.ToLower(strings.TrimSpace(f)))
					if err := feat.Valid(); err != nil {
						return "", err
					}
					fs = append(fs, feat)
				}
				a.features[idx] = fs
			}
			return fmt.Sprintf("server[%d].features", idx-1), nil
		}}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
