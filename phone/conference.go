package phone

import (
	"errors"
	"fmt"

	"stayline/audio"
)

// Conference joins calls into one three-way (or more) conference, mixed here: held calls are resumed,
// and each party then hears the phone's user and the others.
func (a *Agent) Conference(ids ...string) error {
	e := a.opts.Audio
	if e == nil {
		return errors.New("conference: no audio engine to mix in")
	}
	if len(ids) < 2 {
		return errors.New("conference: it takes two calls")
	}
	var calls []*call
	for _, id := range ids {
		c, err := a.lookup(id)
		if err != nil {
			return err
		}
		calls = append(calls, c)
	}
	for _, c := range calls {
		c.mu.Lock()
		held := c.sdp.held
		c.mu.Unlock()
		if held {
			if err := a.Resume(c.id); err != nil {
				return fmt.Errorf("conference: %w", err)
			}
		}
	}
	var ports []*audio.Port
	for _, c := range calls {
		c.connectAudio(true)
		c.mu.Lock()
		if c.port == nil {
			c.mu.Unlock()
			return fmt.Errorf("conference: call %s has no audio", c.id)
		}
		ports = append(ports, c.port)
		c.conference = true
		c.mu.Unlock()
	}
	e.Conference(ports...)
	for _, c := range calls {
		c.announce()
	}
	return nil
}
