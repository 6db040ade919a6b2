package lab

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Register is one REGISTER a lab server logged: accepted for processing, or refused with 503 by its
// rate limit (ServerOptions.RegisterRate).
type Register struct {
	User       string
	CallID     string
	CSeq       int
	Auth       bool // carried credentials (the answer to a challenge, or reused ones)
	Unregister bool // Expires: 0
	Overload   bool // refused with 503 and Retry-After
	At         time.Time
}

// Registers reads the server's log: every REGISTER and every 503 it sent, in time order. The lines are
// kamailio.cfg's "stayline-lab: REGISTER user=... callid=... cseq=... expires=... auth=... t=..." and
// "stayline-lab: 503 user=... t=...".
func (s *Server) Registers() ([]Register, error) {
	var out []Register
	for _, set := range []struct {
		lines    []string
		overload bool
	}{{s.RegisterLines(), false}, {s.OverloadLines(), true}} {
		for _, l := range set.lines {
			r, err := parseRegister(l)
			if err != nil {
				return nil, fmt.Errorf("%s log: %w", s.Name, err)
			}
			r.Overload = set.overload
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

func parseRegister(line string) (Register, error) {
	var r Register
	for _, f := range strings.Fields(line) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		switch k {
		case "user":
			r.User = v
		case "callid":
			r.CallID = v
		case "cseq":
			r.CSeq, _ = strconv.Atoi(v)
		case "auth":
			r.Auth = v != "" && v != "0"
		case "expires":
			r.Unregister = v == "0"
		case "t":
			sec, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return r, fmt.Errorf("bad time in %q", line)
			}
			r.At = time.Unix(0, int64(sec*1e9))
		}
	}
	if r.User == "" || r.At.IsZero() {
		return r, fmt.Errorf("unreadable line %q", line)
	}
	return r, nil
}

// Registered says whether the server has accepted (for processing) an authenticated REGISTER of user
// that was not an un-REGISTER.
func (s *Server) Registered(user string) bool {
	rs, _ := s.Registers()
	for _, r := range rs {
		if r.User == user && r.Auth && !r.Unregister && !r.Overload {
			return true
		}
	}
	return false
}
