package phone

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Why a call ended, in the one place that says it: a kind other packages act on (CallInfo.End), the SIP
// status when one ended it, and the words the user reads (CallInfo.Reason, the `call` event of README.md,
// "Headless control"). endcause_test.go holds every one of them.

// EndKind is why a call ended, as a value other packages can act on (the history sorts unanswered calls
// by it, the window says nothing of a call the user ended); the words for the user are the reason.
type EndKind string

// The kinds of end.
const (
	EndLocal       EndKind = "local"       // hung up, declined or cancelled here
	EndRemote      EndKind = "remote"      // the far end hung up, or the caller gave up on a call ringing here
	EndBusy        EndKind = "busy"        // the far end was busy (486, 600)
	EndDeclined    EndKind = "declined"    // the far end declined (603)
	EndNoAnswer    EndKind = "no_answer"   // nobody answered (a call ringing here rang out, 408, 480)
	EndTransferred EndKind = "transferred" // handed over by a transfer
	EndShutdown    EndKind = "shutdown"    // the phone shut down
	EndFailed      EndKind = "failed"      // the server, the network, or a refusal (404, 488, 503 ...)
)

// endCause is why a call ended: its kind, the SIP status when a final response ended it, and the words.
type endCause struct {
	kind   EndKind
	code   int
	reason string
}

// busy reports whether the far end was busy (the busy tone then plays for a moment).
func (c endCause) busy() bool { return c.kind == EndBusy }

// The local events and far-end actions a call ends with.
var (
	causeCancelled       = endCause{kind: EndLocal, reason: "cancelled"} // hung up here before a server took the call, or closing
	causeCallerCancelled = endCause{kind: EndRemote, reason: "cancelled by the caller"}
	causeNotAnswered     = endCause{kind: EndNoAnswer, reason: "not answered"} // an incoming call rang ringTimeout
	causeShutDown        = endCause{kind: EndShutdown, reason: "the phone shut down"}
	causeFarEndHungUp    = endCause{kind: EndRemote, reason: "the far end hung up"}
	causeJoined          = endCause{kind: EndTransferred, reason: "joined by the transfer"} // the consultation call of an attended transfer
	causeAnswerUnusable  = endCause{kind: EndFailed, reason: "the far end's answer could not be used"}
	causeServerNoAnswer  = endCause{kind: EndFailed, reason: "the server did not answer"}
	causeServerStopped   = endCause{kind: EndFailed, reason: "the server stopped answering"}
)

// statusKinds are the kinds of the final responses that are not failures.
var statusKinds = map[int]EndKind{486: EndBusy, 600: EndBusy, 603: EndDeclined, 487: EndLocal, 408: EndNoAnswer,
	480: EndNoAnswer}

// statusWords are the words of the final responses a caller meets; others are said as code and phrase.
var statusWords = map[int]string{486: "busy", 600: "busy", 603: "declined", 404: "not found", 480: "not available",
	487: "cancelled", 408: "no answer", 488: "no common codec", 503: "service unavailable", 403: "forbidden"}

// statusCause is a final response to our INVITE: "busy (486 Busy Here)", or "599 Odd" for a code without
// words.
func statusCause(code int, phrase string) endCause {
	kind, ok := statusKinds[code]
	if !ok {
		kind = EndFailed
	}
	if w, ok := statusWords[code]; ok {
		return endCause{kind: kind, code: code, reason: fmt.Sprintf("%s (%d %s)", w, code, phrase)}
	}
	return endCause{kind: kind, code: code, reason: fmt.Sprintf("%d %s", code, phrase)}
}

// srtpRefusedCause is a 488 to an offer of RTP/SAVP only.
func srtpRefusedCause(phrase string) endCause {
	return endCause{kind: EndFailed, code: 488,
		reason: fmt.Sprintf("the far end refused the call with SRTP, which this phone requires (488 %s)", phrase)}
}

// hangupCause is a hang-up (or a decline) here, in the words of whoever asked for it (Agent.Hangup).
func hangupCause(reason string) endCause { return endCause{kind: EndLocal, reason: reason} }

// failedCause is a step of the call that failed here: "what: err", or err alone when what is "".
func failedCause(what string, err error) endCause {
	if what == "" {
		return endCause{kind: EndFailed, reason: err.Error()}
	}
	return endCause{kind: EndFailed, reason: what + ": " + err.Error()}
}

// transferredCause ends a call we transferred to target, once the far end reports it done.
func transferredCause(target string) endCause {
	return endCause{kind: EndTransferred, reason: "transferred to " + target}
}

// transferredByCause ends a call the far end transferred us from, to target.
func transferredByCause(target string) endCause {
	return endCause{kind: EndTransferred, reason: "transferred by the far end to " + target}
}

// byeCause is a BYE from the far end: the end of a transfer under way (ours to referTo, or the far end's
// to referredTo), else a hang-up there.
func byeCause(referTo, referredTo string) endCause {
	switch {
	case referTo != "":
		return transferredCause(referTo) // the transferee ends the call once the transfer is done
	case referredTo != "":
		return transferredByCause(referredTo)
	}
	return causeFarEndHungUp
}

// inviteFailure sorts out an INVITE that got no answer (savp: we offered RTP/SAVP only): the cause the
// call ends with if it ends here, and, when the server is to blame (no answer in time, no way through,
// 503), the fault: the error to try the next server with. An outcome of the call's own (busy, not found)
// has no fault; a hang-up here (ctx ended) has neither cause (its reason is "") nor fault.
func inviteFailure(err error, ctx context.Context, savp bool, server string, respTimeout time.Duration) (endCause, error) {
	var dr *sipgo.ErrDialogResponse
	if errors.As(err, &dr) {
		code, phrase := dr.Res.StatusCode, dr.Res.Reason
		if savp && code == 488 {
			return srtpRefusedCause(phrase), nil
		}
		var fault error
		if code == sip.StatusServiceUnavailable {
			fault = statusError(sip.INVITE, dr.Res)
		}
		return statusCause(code, phrase), fault
	}
	if ctx.Err() != nil {
		if errors.Is(context.Cause(ctx), sipgo.WaitAnswerForceCancelErr) {
			return causeServerNoAnswer, fmt.Errorf("%w within %s (%s)", ErrNoResponse, respTimeout, server)
		}
		return endCause{}, nil
	}
	// The transaction died: a transport error, or no final response before Timer B.
	return causeServerStopped, fmt.Errorf("%w: %w", errUnreachable, err)
}

// Reason is why the call failed in the words the user reads (the ended call's reason): the servers by
// name and a refusal as statusCause words it, with no protocol or Go error text. One server: "the
// server did not answer (home)", or its refusal ("service unavailable (503 Service Unavailable)"); several:
// "no server answered (tried home, branch)", or, when one refused, what became of each.
func (e *DialError) Reason() string {
	if len(e.Attempts) == 0 {
		return "no server to call through"
	}
	if len(e.Attempts) == 1 {
		t := e.Attempts[0]
		if t.refused() {
			return t.outcome()
		}
		return "the server " + t.outcome() + " (" + t.Name + ")"
	}
	var names, each []string
	refused := false
	for _, t := range e.Attempts {
		names = append(names, t.Name)
		each = append(each, t.Name+": "+t.outcome())
		refused = refused || t.refused()
	}
	if !refused {
		return "no server answered (tried " + strings.Join(names, ", ") + ")"
	}
	return "no server took the call (" + strings.Join(each, "; ") + ")"
}

// cause is the end of a call no server took.
func (e *DialError) cause() endCause { return endCause{kind: EndFailed, reason: e.Reason()} }

// refused reports whether the server answered the INVITE with a refusal.
func (t DialAttempt) refused() bool {
	var se *StatusError
	return errors.As(t.Err, &se)
}

// outcome is what became of the attempt in plain words.
func (t DialAttempt) outcome() string {
	var se *StatusError
	switch {
	case errors.As(t.Err, &se):
		return statusCause(se.Code, se.Reason).reason
	case errors.Is(t.Err, ErrNoResponse):
		return "did not answer"
	}
	return "could not be reached"
}
