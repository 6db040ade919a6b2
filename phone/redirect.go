package phone

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// A call we place that the far end redirects (3xx, RFC 3261 §8.1.3.4): the phone follows the redirect
// through the same server, at most maxRedirects times and never back to a target it already tried, and
// the line shows the new party (docs/ARCHITECTURE.md, "Before the answer").

// maxRedirects is how many redirects one call follows.
const maxRedirects = 5

// causeRedirectLoop ends a call whose redirects lead nowhere new, or too far.
var causeRedirectLoop = endCause{kind: EndFailed, reason: "the call was redirected too often, or in a loop"}

// redirected is an attempt's outcome when the INVITE was answered 3xx: the places to try, best first.
type redirected struct {
	code    int
	targets []sip.Uri
}

func (r *redirected) Error() string {
	return fmt.Sprintf("redirected (%d) to %d address(es)", r.code, len(r.targets))
}

// redirectOf reads a 3xx final response out of the INVITE's error: its Contacts in order of their q
// value (RFC 3261 §20.10; the order given where equal). nil when err is no 3xx, or one that names nowhere.
func redirectOf(err error) *redirected {
	var dr *sipgo.ErrDialogResponse
	if !errors.As(err, &dr) || dr.Res.StatusCode < 300 || dr.Res.StatusCode > 399 {
		return nil
	}
	type choice struct {
		uri sip.Uri
		q   float64
	}
	var choices []choice
	for _, h := range dr.Res.GetHeaders("Contact") {
		for _, part := range splitContacts(h.Value()) {
			ch := sip.ContactHeader{Params: sip.NewParams()}
			if _, err := sip.ParseAddressValue(part, &ch.Address, &ch.Params); err != nil || ch.Address.Host == "" {
				continue
			}
			q := 1.0
			if v, ok := ch.Params.Get("q"); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
			choices = append(choices, choice{ch.Address, q})
		}
	}
	if len(choices) == 0 {
		return nil
	}
	slices.SortStableFunc(choices, func(a, b choice) int {
		switch {
		case a.q > b.q:
			return -1
		case a.q < b.q:
			return 1
		}
		return 0
	})
	r := &redirected{code: dr.Res.StatusCode}
	for _, c := range choices {
		r.targets = append(r.targets, c.uri)
	}
	return r
}

// splitContacts splits a Contact header's value at the commas between addresses (not those inside a
// quoted name or <...>).
func splitContacts(v string) []string {
	var parts []string
	depth, quoted, start := 0, false, 0
	for i, r := range v {
		switch {
		case r == '"':
			quoted = !quoted
		case quoted:
		case r == '<':
			depth++
		case r == '>':
			depth--
		case r == ',' && depth == 0:
			parts = append(parts, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	return append(parts, strings.TrimSpace(v[start:]))
}

// redirectKey is how a target is recognised when a redirect leads back to it.
func redirectKey(u sip.Uri) string {
	return strings.ToLower(u.User + "@" + u.Host + ":" + strconv.Itoa(u.Port))
}

// follow chooses where a redirected call goes next: the first of r's targets not tried yet, while the call
// has redirects left. ok false ends the call (causeRedirectLoop).
func (o *outgoing) follow(r *redirected) (sip.Uri, bool) {
	if o.tried == nil {
		o.tried = map[string]bool{redirectKey(o.uri): true}
	}
	if o.redirects >= maxRedirects {
		return sip.Uri{}, false
	}
	for _, u := range r.targets {
		if u.Scheme != "sip" && u.Scheme != "sips" {
			continue
		}
		if k := redirectKey(u); !o.tried[k] {
			o.tried[k] = true
			o.redirects++
			o.uri = sip.Uri{Scheme: u.Scheme, User: u.User, Host: u.Host, Port: u.Port}
			return o.uri, true
		}
	}
	return sip.Uri{}, false
}

// retarget shows the party a redirect sent the call to.
func (c *call) retarget(u sip.Uri) {
	c.mu.Lock()
	c.remote = u.User + "@" + u.Host
	c.early, c.progressWords = earlyCall{}, "" // what the old target said is over
	c.mu.Unlock()
	c.announce()
}
