package failover

import "time"

// Event is one thing the manager publishes. Every event marshals to the JSON object of README.md, "Headless control", with
// "time" and "event" first.
type Event interface {
	Name() string
	At() time.Time
	stamp(name string, t time.Time)
}

// Timestamp marshals as RFC 3339 in UTC with nanoseconds, e.g. 2026-11-24T21:04:05.123456789Z.
type Timestamp time.Time

const timestampLayout = "2006-01-02T15:04:05.000000000Z07:00"

// MarshalJSON writes the fixed-width UTC form.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(timestampLayout) + `"`), nil
}

// UnmarshalJSON reads any RFC 3339 time.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	v, err := time.Parse(`"`+time.RFC3339Nano+`"`, string(b))
	*t = Timestamp(v)
	return err
}

// Header is the part every event shares.
type Header struct {
	Time  Timestamp `json:"time"`
	Event string    `json:"event"`
}

// Name is the event's name ("stage", "registered", ...).
func (h *Header) Name() string { return h.Event }

// At is when the event happened.
func (h *Header) At() time.Time { return time.Time(h.Time) }

func (h *Header) stamp(name string, t time.Time) { h.Event, h.Time = name, Timestamp(t) }

// StageEvent: the stage changed (and, on subscribing, the stage now).
type StageEvent struct {
	Header
	Stage Stage `json:"stage"`
	// Server is the name of the server in use, "" in transition and noservice.
	Server   string `json:"server"`
	Previous Stage  `json:"previous,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// LoggedOff is true while the user has logged the phone off (stage noservice); absent otherwise.
	LoggedOff bool `json:"logged_off,omitempty"`
}

// RegisteredEvent: a server accepted the phone's registration (or its refresh).
type RegisteredEvent struct {
	Header
	Server  string `json:"server"`
	Expires int    `json:"expires"` // seconds granted
	// Contact is the address the registration binds: where the server reaches the phone (its public
	// address behind a NAT).
	Contact string `json:"contact,omitempty"`
}

// UnregisteredEvent: a registration ended.
type UnregisteredEvent struct {
	Header
	Server string `json:"server"`
	Reason string `json:"reason"`
}

// ServerEvent: the manager's view of a server's health changed.
type ServerEvent struct {
	Header
	Server string `json:"server"`
	State  string `json:"state"` // "up", "down" or "auth_failed"
	Reason string `json:"reason,omitempty"`
	// RetryIn is how long until the next REGISTER to a down server, in seconds (0 when none is planned).
	RetryIn float64 `json:"retry_in,omitempty"`
}

// ActionsEvent: the set of actions possible now changed.
type ActionsEvent struct {
	Header
	Available []Action `json:"available"`
}

// RefusedEvent: an action was refused, with the reason to show the user.
type RefusedEvent struct {
	Header
	Action Action `json:"action"`
	Reason string `json:"reason"`
}

// MWIEvent: the message-waiting lamp changed.
type MWIEvent struct {
	Header
	Waiting bool   `json:"waiting"`
	Server  string `json:"server"`
}

// CallEvent: a call changed state.
type CallEvent struct {
	Header
	ID        string    `json:"id"`
	State     CallState `json:"state"`
	Remote    string    `json:"remote"`
	Reason    string    `json:"reason,omitempty"`
	Direction string    `json:"direction"`        // "in" or "out"
	Server    string    `json:"server,omitempty"` // the server the call went through; absent: none configured
	// Conference is true while the call is mixed into the phone's conference; absent: it is not.
	Conference bool `json:"conference,omitempty"`
	// Cause is why an ended call ended, as a value; Code the SIP status that ended it, when one did.
	Cause EndCause `json:"cause,omitempty"`
	Code  int      `json:"code,omitempty"`
	// DisplayName is the far end's display name (the asserted identity's, else From's); absent: none.
	DisplayName string `json:"display_name,omitempty"`
	// Progress is what the far end said before answering beyond ringing: "forwarded" (181), "queued"
	// (182); absent: nothing more.
	Progress string `json:"progress,omitempty"`
}

// DTMFEvent: the far end sent a DTMF digit on a call.
type DTMFEvent struct {
	Header
	ID    string `json:"id"`
	Digit string `json:"digit"`
}

// ErrorEvent: something the user should know went wrong (a bad command, a bad configuration).
type ErrorEvent struct {
	Header
	Reason string `json:"reason"`
}

// RegistrationStatus is one server's registration in a status answer.
type RegistrationStatus struct {
	Server     string   `json:"server"`
	Registered bool     `json:"registered"`
	Active     bool     `json:"active"`
	Health     string   `json:"health"`           // up, down, unknown, auth_failed
	ExpiresIn  int      `json:"expires_in"`       // seconds left, 0 when not registered
	Failures   int      `json:"failures"`         // consecutive failed attempts
	Reason     string   `json:"reason,omitempty"` // why it is down
	Transport  string   `json:"transport"`        // udp, tcp, tls
	Address    string   `json:"address"`          // host:port
	Features   []string `json:"features"`         // what it offers
	// Contact is where the server reaches the phone (behind a NAT the address the server sees); absent
	// while not registered. MediaAddress is the public address calls through it give for their media,
	// when known (STUN, or the address the server sees); absent when it is the phone's own.
	Contact      string `json:"contact,omitempty"`
	MediaAddress string `json:"media_address,omitempty"`
}

// CallStatus is one call in a status answer.
type CallStatus struct {
	ID        string    `json:"id"`
	State     CallState `json:"state"`
	Remote    string    `json:"remote"`
	Codec     string    `json:"codec"`
	RxPackets uint64    `json:"rx_packets"`
	TxPackets uint64    `json:"tx_packets"`
	Lost      uint64    `json:"lost"`
	JitterMs  float64   `json:"jitter_ms"`
	SRTP      string    `json:"srtp,omitempty"` // the SRTP suite protecting the call; absent: plain RTP
	// FirstAudioMs is how long the call's first audio packet took from its arrival to the speaker (early
	// media included); absent until it played.
	FirstAudioMs float64 `json:"first_audio_ms,omitempty"`
}

// StatusEvent answers the status command.
type StatusEvent struct {
	Header
	Stage         Stage                `json:"stage"`
	Server        string               `json:"server"`
	Listen        string               `json:"listen"`
	LoggedOff     bool                 `json:"logged_off"`
	Registrations []RegistrationStatus `json:"registrations"`
	Calls         []CallStatus         `json:"calls"`
	Available     []Action             `json:"available"`
}
