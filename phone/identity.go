package phone

import (
	"strings"
	"unicode"

	"github.com/emiago/sipgo/sip"
)

// Who the far end is (docs/ARCHITECTURE.md, "Calls and SIP"): the identity the network asserts
// (P-Asserted-Identity, RFC 3325), else the Remote-Party-ID draft's, else what the message's From
// says. All pure functions of the message.

// maxNameRunes bounds a display name taken from the network: it is shown, never interpreted.
const maxNameRunes = 64

// assertedParty is the party a message's network asserts, unless the party asked to stay hidden (a
// Privacy header of id, user or header, RFC 3323 and 3325: the From it sent is then what is shown): from P-Asserted-Identity first (a sip: or sips:
// URI preferred over a tel: one, when several are given), then Remote-Party-ID (in a request the calling
// party's, in a response the called party's; one the party asked to hide, privacy=full or uri, is not
// used, and privacy=name drops the name). remote is user@host for a SIP URI, the number for a tel: URI
// ("+15551234"); name the display name, "" if none. ok is false when the message asserts nothing usable:
// values that do not parse are ignored.
func assertedParty(m sip.Message) (remote, name string, ok bool) {
	if hidden(m) {
		return "", "", false
	}
	if remote, name, ok = fromPAI(m); ok {
		return remote, name, true
	}
	_, isResponse := m.(*sip.Response)
	return fromRPID(m, isResponse)
}

// callingParty is who an incoming INVITE comes from, as the phone shows it: the asserted party, else the
// From header's.
func callingParty(req *sip.Request) (remote, name string) {
	if remote, name, ok := assertedParty(req); ok {
		return remote, name
	}
	from := req.From()
	if from == nil {
		return "", ""
	}
	return from.Address.User + "@" + from.Address.Host, cleanName(from.DisplayName)
}

// hidden reports whether m's Privacy header asks to hide the party's identity (id, user or header).
func hidden(m sip.Message) bool {
	for _, h := range m.GetHeaders("Privacy") {
		for _, v := range strings.FieldsFunc(h.Value(), func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
			switch strings.ToLower(v) {
			case "id", "user", "header":
				return true
			}
		}
	}
	return false
}

// partyValue is one name-addr or addr-spec of an identity header.
type partyValue struct {
	name, uri string
	params    map[string]string // header parameters, names and values lower case
}

// fromPAI takes the first sip:/sips: identity of the P-Asserted-Identity headers, else the first tel: one.
// The display name, when the chosen value has none, may come from another value (the same party's name
// given once, RFC 3325 §9.1).
func fromPAI(m sip.Message) (remote, name string, ok bool) {
	var sipRemote, telRemote, anyName string
	for _, h := range m.GetHeaders("P-Asserted-Identity") {
		for _, v := range splitValues(h.Value()) {
			p, parsed := parsePartyValue(v)
			if !parsed {
				continue
			}
			r, tel, good := identityOf(p.uri)
			if !good {
				continue
			}
			if anyName == "" {
				anyName = p.name
			}
			switch {
			case !tel && sipRemote == "":
				sipRemote, name = r, p.name
			case tel && telRemote == "":
				telRemote = r
			}
		}
	}
	remote = sipRemote
	if remote == "" {
		remote, name = telRemote, ""
	}
	if remote == "" {
		return "", "", false
	}
	if name == "" {
		name = anyName
	}
	return remote, name, true
}

// fromRPID takes the first usable Remote-Party-ID: of the calling party in a request, the called party in
// a response (no party parameter: either), not hidden by privacy=full or privacy=uri.
func fromRPID(m sip.Message, response bool) (remote, name string, ok bool) {
	want := "calling"
	if response {
		want = "called"
	}
	for _, h := range m.GetHeaders("Remote-Party-ID") {
		for _, v := range splitValues(h.Value()) {
			p, parsed := parsePartyValue(v)
			if !parsed {
				continue
			}
			if party, has := p.params["party"]; has && party != want {
				continue
			}
			privacy := p.params["privacy"]
			if privacy == "full" || privacy == "uri" {
				continue
			}
			r, _, good := identityOf(p.uri)
			if !good {
				continue
			}
			if privacy == "name" {
				p.name = ""
			}
			return r, p.name, true
		}
	}
	return "", "", false
}

// splitValues splits a header's value at the commas that separate values, not those in quotes or <>.
func splitValues(s string) []string {
	var out []string
	quoted, bracket, escaped := false, false, false
	start := 0
	for i, r := range s {
		switch {
		case escaped:
			escaped = false
		case quoted && r == '\\':
			escaped = true
		case r == '"' && !bracket:
			quoted = !quoted
		case !quoted && r == '<':
			bracket = true
		case !quoted && r == '>':
			bracket = false
		case !quoted && !bracket && r == ',':
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// parsePartyValue reads `"Name" <uri>;params`, `Name <uri>;params` or `uri;params`.
func parsePartyValue(v string) (partyValue, bool) {
	v = strings.TrimSpace(v)
	var p partyValue
	rest := ""
	if lt := indexOutsideQuotes(v, '<'); lt >= 0 {
		gt := strings.IndexByte(v[lt:], '>')
		if gt < 0 {
			return p, false
		}
		p.name = displayName(v[:lt])
		p.uri, rest = v[lt+1:lt+gt], v[lt+gt+1:]
	} else {
		if strings.ContainsAny(v, "\" ") {
			return p, false // a name needs the URI in <>
		}
		p.uri, rest, _ = strings.Cut(v, ";")
		rest = ";" + rest
	}
	p.params = map[string]string{}
	for _, kv := range strings.Split(rest, ";") {
		if k, val, _ := strings.Cut(strings.TrimSpace(kv), "="); k != "" {
			p.params[strings.ToLower(k)] = strings.ToLower(strings.Trim(val, `"`))
		}
	}
	return p, p.uri != ""
}

// indexOutsideQuotes is the index of the first c not within a quoted string, -1 if none.
func indexOutsideQuotes(s string, c byte) int {
	quoted, escaped := false, false
	for i := 0; i < len(s); i++ {
		switch {
		case escaped:
			escaped = false
		case quoted && s[i] == '\\':
			escaped = true
		case s[i] == '"':
			quoted = !quoted
		case !quoted && s[i] == c:
			return i
		}
	}
	return -1
}

// displayName reads the display name before a <uri>: a quoted string (unescaped) or tokens.
func displayName(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		var b strings.Builder
		escaped := false
		for _, r := range s[1 : len(s)-1] {
			if !escaped && r == '\\' {
				escaped = true
				continue
			}
			escaped = false
			b.WriteRune(r)
		}
		s = b.String()
	}
	return cleanName(s)
}

// cleanName is a display name fit to show: no control characters, spaces folded, at most maxNameRunes.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxNameRunes {
		s = string(r[:maxNameRunes])
	}
	return s
}

// identityOf is how the phone names the party of a URI: user@host for sip: and sips: (host alone when it
// has no user), the number for tel: (visual separators dropped: tel:+1-555-1234 is "+15551234"). ok is
// false for other schemes and for URIs that do not parse.
func identityOf(uri string) (remote string, tel, ok bool) {
	scheme, rest, found := strings.Cut(strings.TrimSpace(uri), ":")
	if !found {
		return "", false, false
	}
	switch strings.ToLower(scheme) {
	case "sip", "sips":
		var u sip.Uri
		if err := sip.ParseUri(strings.TrimSpace(uri), &u); err != nil || u.Host == "" || !printable(u.User+u.Host) {
			return "", false, false
		}
		if u.User == "" {
			return u.Host, false, true
		}
		return u.User + "@" + u.Host, false, true
	case "tel":
		n, good := telNumber(rest)
		return n, true, good
	}
	return "", false, false
}

// telNumber is the number of a tel: URI's body (RFC 3966): digits, a leading +, *, # and A-D, without
// the visual separators - . ( ) and without parameters.
func telNumber(body string) (string, bool) {
	body, _, _ = strings.Cut(body, ";")
	var b strings.Builder
	digits := 0
	for i, r := range body {
		switch {
		case r >= '0' && r <= '9':
			digits++
			b.WriteRune(r)
		case r == '+' && i == 0, r == '*', r == '#', strings.ContainsRune("ABCDabcd", r):
			b.WriteRune(unicode.ToUpper(r))
		case strings.ContainsRune("-.()", r):
		default:
			return "", false
		}
	}
	return b.String(), digits > 0
}

// printable reports whether s has no spaces or control characters (nothing that could break a line).
func printable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f })
}
