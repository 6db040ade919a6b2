package config

import (
	"fmt"
	"time"
)

// Transport is a SIP transport: udp, tcp or tls.
type Transport string

// The transports a server may use.
const (
	TransportUDP Transport = "udp"
	TransportTCP Transport = "tcp"
	TransportTLS Transport = "tls"
)

// Valid accepts only the known transports.
func (t Transport) Valid() error {
	switch t {
	case TransportUDP, TransportTCP, TransportTLS:
		return nil
	}
	return fmt.Errorf("transport %q is not one of udp, tcp, tls", string(t))
}

// Reliable reports whether the transport is connection based (TCP or TLS).
func (t Transport) Reliable() bool { return t == TransportTCP || t == TransportTLS }

// Feature is something a server may or may not offer to a phone on it.
type Feature string

// The features a server can offer.
const (
	FeatureHold       Feature = "hold"
	FeatureTransfer   Feature = "transfer"
	FeatureConference Feature = "conference"
	FeatureMWI        Feature = "mwi"
)

// AllFeatures lists every feature, in the order the settings show them.
var AllFeatures = []Feature{FeatureHold, FeatureTransfer, FeatureConference, FeatureMWI}

// Valid accepts only the known features.
func (f Feature) Valid() error {
	for _, known := range AllFeatures {
		if f == known {
			return nil
		}
	}
	return fmt.Errorf("feature %q is not one of hold, transfer, conference, mwi", string(f))
}

// RegistrationPolicy says how many servers the phone registers on at once.
type RegistrationPolicy string

// The registration policies of docs/ARCHITECTURE.md, "Stages and their rules".
const (
	RegisterAlternate    RegistrationPolicy = "alternate"
	RegisterSimultaneous RegistrationPolicy = "simultaneous"
)

// Valid accepts only the known policies.
func (p RegistrationPolicy) Valid() error {
	switch p {
	case RegisterAlternate, RegisterSimultaneous:
		return nil
	}
	return fmt.Errorf("registration policy %q is not one of alternate, simultaneous", string(p))
}

// FailbackPolicy says who moves the phone back to home.
type FailbackPolicy string

// The failback policies of docs/ARCHITECTURE.md, "Stages and their rules".
const (
	FailbackAuto  FailbackPolicy = "auto"
	FailbackAdmin FailbackPolicy = "admin"
)

// Valid accepts only the known policies.
func (p FailbackPolicy) Valid() error {
	switch p {
	case FailbackAuto, FailbackAdmin:
		return nil
	}
	return fmt.Errorf("failback policy %q is not one of auto, admin", string(p))
}

// Duration is a time.Duration written as a Go duration string ("10s", "1m30s").
type Duration time.Duration

// UnmarshalText parses a positive duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"10s\" or \"500ms\"", b)
	}
	if v <= 0 {
		return fmt.Errorf("duration %q must be positive", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration the way it is read.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D is the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }
