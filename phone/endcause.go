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

// Why a call ended, in the one place that words it. The words are what the user reads (CallInfo.Reason,
// the `call` event of README.md, "Headless control"), and the history sorts a call that never talked by
// their start ("busy", "declined", "cancelled", "hung up"): they stay as they are, and endcause_test.go
// holds every one of them.

// endCause is why a call ended: the words, and whether the far end was busy (the busy tone then plays
// for a moment).
type endCause struct {
	reason string
	busy   bool
}

// The local events and far-end actions a call ends with.
var (
	causeCancelled       = endCause{reason: "cancelled"} // hung up here before a server took the call, or closing
	causeCallerCancelled = endCause{reason: "cancelled by the caller"}
	causeNotAnswered     = endCause{reason: "not answered"} // an incoming call rang ringTimeout
	causeShutDown        = endCause{reason: "the phone shut down"}
	causeFarEndHungUp    = endCause{reason: "the far end hung up"}
	causeJoined          = endCause{reason: "joined by the transfer"} // the consultation call of an attended transfer
	causeAnswerUnusable  = endCause{reason: "the far end's answer could not be used"}
	causeServerNoAnswer  = endCause{reason: "the server did not answer"}
	causeServerStopped   = endCause{reason: "the server stopped answering"}
)

// statusWords are the words of the final responses a caller meets; others are said as code and phrase.
var statusWords = map[int]string{486: "busy", 600: "busy", 603: "declined", 404: "not found", 480: "not available",
	487: "cancelled", 408: "no answer", 488: "no common codec", 503: "service unavailable", 403: "forbidden"}

// statusCause is a final response to our INVITE: "busy (486 Busy Here)", or "599 Odd" for a code without
// words.
func statusCause(code int, phrase string) endCause {
	if w, ok := statusWords[code]; ok {
		return endCause{reason: fmt.Sprintf("%s (%d %s)", w, code, phrase), busy: w == "busy"}
	}
	return endCause{reason: fmt.Sprintf("%d %s", code, phrase)}
}

// srtpRefusedCause is a 488 to an offer of RTP/SAVP only.
func srtpRefusedCause(phrase string) endCause {
	return endCause{reason: fmt.Sprintf("the far end refused the call with SRTP, which this phone requires (488 %s)", phrase)}
}

// hangupCause is a hang-up (or a decline) here, in the words of whoever asked for it (Agent.Hangup).
func hangupCause(reason string) endCause { return endCause{reason: reason} }

// failedCause is a step of the call that failed here: "what: err", or err alone when what is "".
func failedCause(what string, err error) endCause {
	if what == "" {
		return endCause{reason: err.Error()}
	}
	return endCause{reason: what + ": " + err.Error()}
}

// transferredCause ends a call we transferred to target, once the far end reports it done.
func transferredCause(target string) endCause { return endCause{reason: "transferred to " + target} }

// transferredByCause ends a call the far end transferred us from, to target.
func transferredByCause(target string) endCause {
	return endCause{reason: "transferred by the far end to " + target}
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
func (e *DialError) cause() endCause { return endCause{reason: e.Reason()} }

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
