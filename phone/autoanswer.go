package phone

import (
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// An incoming INVITE that asks to be answered by itself (intercom, paging; docs/ARCHITECTURE.md, "Calls
// and SIP"). The phone only reads the request: whether it is answered, and when, is the failover
// manager's decision (calls.auto_answer, no other call up), and the answer goes through its Answer like
// the user's.

// maxAnswerAfter bounds the delay a request may ask for: longer, and the call simply rings.
const maxAnswerAfter = ringTimeout

// autoAnswer is what an INVITE asked about answering by itself.
type autoAnswer struct {
	asked bool
	after time.Duration
}

// autoAnswerAsked reads an INVITE's request to be answered by itself, after a delay:
//
//	Call-Info: <sip:pbx>;answer-after=N               (Broadsoft, Asterisk, FreeSWITCH)
//	Alert-Info: <http://x>;info=alert-autoanswer[;delay=N]  (Cisco, Polycom)
//	Alert-Info: <http://x>;info=Auto Answer            (Polycom, Yealink), or ;answer-after=N
//	Answer-Mode: Auto, Priv-Answer-Mode: Auto           (RFC 5373)
//
// N is in seconds (0: at once); a delay that does not read as one, or is longer than maxAnswerAfter, is
// not a request.
func autoAnswerAsked(req *sip.Request) autoAnswer {
	for _, h := range req.GetHeaders("Call-Info") {
		for _, v := range splitValues(h.Value()) {
			if n, has := headerParams(v)["answer-after"]; has {
				return delayOf(n)
			}
		}
	}
	for _, h := range req.GetHeaders("Alert-Info") {
		for _, v := range splitValues(h.Value()) {
			if aa, ok := alertAutoAnswer(headerParams(v)); ok {
				return aa
			}
		}
	}
	for _, name := range []string{"Answer-Mode", "Priv-Answer-Mode"} {
		for _, h := range req.GetHeaders(name) {
			mode, _, _ := strings.Cut(h.Value(), ";")
			if strings.EqualFold(strings.TrimSpace(mode), "auto") {
				return autoAnswer{asked: true}
			}
		}
	}
	return autoAnswer{}
}

// alertAutoAnswer reads one Alert-Info value's parameters: info=alert-autoanswer or info=auto answer,
// with delay=N or answer-after=N; answer-after=N alone too.
func alertAutoAnswer(params map[string]string) (autoAnswer, bool) {
	info := strings.Join(strings.Fields(params["info"]), " ")
	n, hasDelay := params["delay"]
	if !hasDelay {
		n, hasDelay = params["answer-after"]
	}
	switch {
	case info == "alert-autoanswer" || info == "auto answer" || info == "autoanswer":
		if !hasDelay {
			return autoAnswer{asked: true}, true
		}
		return delayOf(n), true
	case hasDelay && params["answer-after"] != "":
		return delayOf(n), true
	}
	return autoAnswer{}, false
}

// delayOf reads N seconds; anything else is no request.
func delayOf(n string) autoAnswer {
	secs, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || secs < 0 || time.Duration(secs)*time.Second > maxAnswerAfter {
		return autoAnswer{}
	}
	return autoAnswer{asked: true, after: time.Duration(secs) * time.Second}
}

// headerParams are the parameters of one header value (after its <uri>, if any), names and values lower
// case, quotes removed.
func headerParams(v string) map[string]string {
	if gt := strings.LastIndexByte(v, '>'); gt >= 0 {
		v = v[gt+1:]
	}
	out := map[string]string{}
	for _, kv := range strings.Split(v, ";") {
		k, val, _ := strings.Cut(kv, "=")
		if k = strings.ToLower(strings.TrimSpace(k)); k != "" {
			out[k] = strings.ToLower(strings.Trim(strings.TrimSpace(val), `"`))
		}
	}
	return out
}
