package phone

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Dial-pad digits on a call, both ways: RFC 4733 telephone-events in the RTP when the far end takes them,
// else SIP INFO (application/dtmf-relay).

// SendDTMF sends digits on a call: RFC 4733 events when the far end takes them, else SIP INFO.
func (a *Agent) SendDTMF(id, digits string) error {
	c, err := a.lookup(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	dlg, active := c.dlg, c.state == CallActive
	c.mu.Unlock()
	if !active {
		return fmt.Errorf("call %s is not active", id)
	}
	err = c.media.sendDigits(digits)
	if !errors.Is(err, errNoTelephoneEvent) {
		return err
	}
	for i := 0; i < len(digits); i++ {
		body := dtmfRelayBody(digits[i])
		ctx, cancel := context.WithTimeout(a.ctx, 2*a.requestTimeout())
		_, res, err := a.sendInDialog(ctx, c.link, dlg, sip.INFO, func(r *sip.Request) {
			r.AppendHeader(sip.NewHeader("Content-Type", dtmfRelayType))
			r.SetBody(body)
		})
		cancel()
		if err != nil {
			return fmt.Errorf("DTMF by SIP INFO: %w", err)
		}
		if !res.IsSuccess() {
			return fmt.Errorf("DTMF by SIP INFO answered %d %s", res.StatusCode, res.Reason)
		}
	}
	return nil
}

// digit reports a digit the far end sent on the call.
func (c *call) digit(d byte) {
	c.a.notify(Event{Kind: EventDigit, Server: c.server, Call: CallInfo{ID: c.id}, Digit: d})
}

// dtmfRelayType is the content type of a digit sent by SIP INFO.
const dtmfRelayType = "application/dtmf-relay"

// dtmfRelayBody is the INFO body that sends one digit.
func dtmfRelayBody(d byte) []byte { return []byte(fmt.Sprintf("Signal=%c\r\nDuration=160\r\n", d)) }

// dtmfRelayDigits reads the digits of an INFO body ("Signal=5" lines); what is no dial-pad key is left out.
func dtmfRelayDigits(body []byte) []byte {
	var digits []byte
	for _, line := range strings.Split(string(body), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "Signal") {
			if v = strings.TrimSpace(v); len(v) == 1 {
				if _, valid := dtmfCode(v[0]); valid {
					digits = append(digits, v[0])
				}
			}
		}
	}
	return digits
}

// RFC 4733 telephone-events: a digit is a run of packets sharing the event's start timestamp, with a
// growing duration; the last carries the end bit and is sent three times.

const (
	dtmfToneTicks = 5 // 100 ms of tone
	dtmfEndRepeat = 3 // the final packet, three times
	dtmfVolume    = 10
)

// dtmfCode maps a dial-pad key to its event code.
func dtmfCode(d byte) (byte, bool) {
	switch {
	case d >= '0' && d <= '9':
		return d - '0', true
	case d == '*':
		return 10, true
	case d == '#':
		return 11, true
	case d >= 'A' && d <= 'D':
		return 12 + d - 'A', true
	case d >= 'a' && d <= 'd':
		return 12 + d - 'a', true
	}
	return 0, false
}

// dtmfKey maps an event code back to its key.
func dtmfKey(code byte) (byte, bool) {
	const keys = "0123456789*#ABCD"
	if int(code) < len(keys) {
		return keys[code], true
	}
	return 0, false
}

// dtmfSender produces the packets of one digit, one per 20 ms tick.
type dtmfSender struct {
	digit byte
	ts    uint32 // the event's start timestamp
	sent  int
}

// next returns the next payload and whether it starts the event (RTP marker bit).
func (d *dtmfSender) next(step uint32) ([]byte, bool) {
	d.sent++
	ticks := min(d.sent, dtmfToneTicks)
	duration := uint16(uint32(ticks) * step)
	end := d.sent >= dtmfToneTicks
	p := make([]byte, 4)
	p[0] = d.digit
	p[1] = dtmfVolume
	if end {
		p[1] |= 0x80
	}
	binary.BigEndian.PutUint16(p[2:], duration)
	return p, d.sent == 1
}

func (d *dtmfSender) done() bool { return d.sent >= dtmfToneTicks+dtmfEndRepeat-1 }

// lastDigit turns received events into digits, one per event.
type lastDigit struct {
	ts   uint32
	seen bool
}

// event reads one telephone-event payload; it reports a digit the first time an event is seen.
func (l *lastDigit) event(ts uint32, payload []byte) (byte, bool) {
	if len(payload) < 4 {
		return 0, false
	}
	if l.seen && ts == l.ts {
		return 0, false // the same event, continued or ended
	}
	key, ok := dtmfKey(payload[0])
	if !ok {
		return 0, false
	}
	l.ts, l.seen = ts, true
	return key, true
}
