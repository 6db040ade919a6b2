package phone

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

func TestDialErrorSpeaksPlainly(t *testing.T) {
	noAnswer := func(name string) error { return fmt.Errorf("%w within 1s (%s)", ErrNoResponse, name) }
	unreachable := fmt.Errorf("%w: dial tcp 127.0.0.1:5060: connect: connection refused", errUnreachable)
	unavailable := &StatusError{Method: "INVITE", Code: 503, Reason: "Service Unavailable"}
	for _, tc := range []struct {
		attempts []DialAttempt
		want     string
	}{
		{[]DialAttempt{{0, "home", noAnswer("home")}}, "the server did not answer (home)"},
		{[]DialAttempt{{0, "home", unreachable}}, "the server could not be reached (home)"},
		{[]DialAttempt{{0, "home", unavailable}}, "service unavailable (503 Service Unavailable)"},
		{[]DialAttempt{{0, "home", noAnswer("home")}, {1, "branch", unreachable}}, "no server answered (tried home, branch)"},
		{[]DialAttempt{{0, "home", noAnswer("home")}, {1, "branch", unavailable}},
			"no server took the call (home: did not answer; branch: service unavailable (503 Service Unavailable))"},
	} {
		e := &DialError{Target: "911", Attempts: tc.attempts}
		if got := e.Reason(); got != tc.want {
			t.Errorf("Reason() = %q, want %q", got, tc.want)
		}
	}
	e := &DialError{Target: "911", Attempts: []DialAttempt{{0, "home", noAnswer("home")}, {1, "branch", unreachable}}}
	if !errors.Is(e, ErrNoResponse) || !slices.Equal(e.Unanswered(), []int{0}) {
		t.Errorf("unanswered %v, errors.Is(ErrNoResponse) %v", e.Unanswered(), errors.Is(e, ErrNoResponse))
	}
	// The log keeps the details.
	if s := e.Error(); !strings.Contains(s, "home: the server did not answer the INVITE within 1s") || !strings.Contains(s, "connection refused") {
		t.Errorf("Error() = %q", s)
	}
}

// Every final response a call can end with: its kind, its code, and the words the user reads.
func TestStatusCauses(t *testing.T) {
	for _, tc := range []struct {
		code   int
		phrase string
		want   string
		kind   EndKind
	}{
		{486, "Busy Here", "busy (486 Busy Here)", EndBusy},
		{600, "Busy Everywhere", "busy (600 Busy Everywhere)", EndBusy},
		{603, "Decline", "declined (603 Decline)", EndDeclined},
		{404, "Not Found", "not found (404 Not Found)", EndFailed},
		{480, "Temporarily Unavailable", "not available (480 Temporarily Unavailable)", EndNoAnswer},
		{487, "Request Terminated", "cancelled (487 Request Terminated)", EndLocal},
		{408, "Request Timeout", "no answer (408 Request Timeout)", EndNoAnswer},
		{488, "Not Acceptable Here", "no common codec (488 Not Acceptable Here)", EndFailed},
		{503, "Service Unavailable", "service unavailable (503 Service Unavailable)", EndFailed},
		{403, "Forbidden", "forbidden (403 Forbidden)", EndFailed},
		{500, "Server Internal Error", "500 Server Internal Error", EndFailed},
		{699, "Odd", "699 Odd", EndFailed},
	} {
		got := statusCause(tc.code, tc.phrase)
		if got.reason != tc.want || got.kind != tc.kind || got.code != tc.code || got.busy() != (tc.kind == EndBusy) {
			t.Errorf("statusCause(%d, %q) = %+v, want %q %s", tc.code, tc.phrase, got, tc.want, tc.kind)
		}
	}
}

// The kinds and words of the local events and the far end's actions.
func TestLocalEndCauses(t *testing.T) {
	for _, tc := range []struct {
		cause endCause
		kind  EndKind
		want  string
	}{
		{causeCancelled, EndLocal, "cancelled"},
		{causeCallerCancelled, EndRemote, "cancelled by the caller"},
		{causeNotAnswered, EndNoAnswer, "not answered"},
		{causeShutDown, EndShutdown, "the phone shut down"},
		{causeFarEndHungUp, EndRemote, "the far end hung up"},
		{causeJoined, EndTransferred, "joined by the transfer"},
		{causeAnswerUnusable, EndFailed, "the far end's answer could not be used"},
		{causeServerNoAnswer, EndFailed, "the server did not answer"},
		{causeServerStopped, EndFailed, "the server stopped answering"},
		{hangupCause("hung up"), EndLocal, "hung up"},
		{srtpRefusedCause("Not Acceptable Here"), EndFailed, "the far end refused the call with SRTP, which this phone requires (488 Not Acceptable Here)"},
		{failedCause("could not ring", errors.New("closed")), EndFailed, "could not ring: closed"},
		{failedCause("", errors.New("INVITE lacks From")), EndFailed, "INVITE lacks From"},
		{transferredCause("sip:1002@example.com"), EndTransferred, "transferred to sip:1002@example.com"},
		{transferredByCause("sip:1002@example.com"), EndTransferred, "transferred by the far end to sip:1002@example.com"},
		{byeCause("", ""), EndRemote, "the far end hung up"},
		{byeCause("sip:1002@example.com", ""), EndTransferred, "transferred to sip:1002@example.com"},
		{byeCause("", "sip:1003@example.com"), EndTransferred, "transferred by the far end to sip:1003@example.com"},
		{(&DialError{Target: "1002"}).cause(), EndFailed, "no server to call through"},
	} {
		if tc.cause.reason != tc.want || tc.cause.kind != tc.kind || tc.cause.busy() {
			t.Errorf("cause %+v, want %s %q (not busy)", tc.cause, tc.kind, tc.want)
		}
	}
}

// An INVITE that failed: the cause the call ends with, and whether the server is to blame.
func TestInviteFailure(t *testing.T) {
	answered := func(code int, phrase string) error {
		return &sipgo.ErrDialogResponse{Res: sip.NewResponse(code, phrase)}
	}
	live := context.Background()
	noAnswer, stop := context.WithCancelCause(live)
	stop(sipgo.WaitAnswerForceCancelErr)
	hungUp, hangUp := context.WithCancelCause(live)
	hangUp(nil)
	for _, tc := range []struct {
		name  string
		err   error
		ctx   context.Context
		savp  bool
		want  string
		fault error // nil: the call's own outcome
	}{
		{"busy", answered(486, "Busy Here"), live, false, "busy (486 Busy Here)", nil},
		{"not found", answered(404, "Not Found"), live, false, "not found (404 Not Found)", nil},
		{"503 blames the server", answered(503, "Service Unavailable"), live, false,
			"service unavailable (503 Service Unavailable)", &StatusError{}},
		{"488 to plain RTP", answered(488, "Not Acceptable Here"), live, false, "no common codec (488 Not Acceptable Here)", nil},
		{"488 to SRTP required", answered(488, "Not Acceptable Here"), live, true,
			"the far end refused the call with SRTP, which this phone requires (488 Not Acceptable Here)", nil},
		{"no answer in time", context.Canceled, noAnswer, false, "the server did not answer", ErrNoResponse},
		{"hung up here", context.Canceled, hungUp, false, "", nil},
		{"transaction died", errors.New("transaction terminated"), live, false, "the server stopped answering", errUnreachable},
	} {
		cause, fault := inviteFailure(tc.err, tc.ctx, tc.savp, "home", time.Second)
		if cause.reason != tc.want {
			t.Errorf("%s: cause %q, want %q", tc.name, cause.reason, tc.want)
		}
		var se *StatusError
		switch want := tc.fault.(type) {
		case nil:
			if fault != nil {
				t.Errorf("%s: fault %v, want none", tc.name, fault)
			}
		case *StatusError:
			if !errors.As(fault, &se) || se.Code != 503 {
				t.Errorf("%s: fault %v, want the 503", tc.name, fault)
			}
		default:
			if !errors.Is(fault, want) {
				t.Errorf("%s: fault %v, want %v", tc.name, fault, want)
			}
		}
	}
	_, fault := inviteFailure(context.Canceled, noAnswer, false, "home", time.Second)
	if got := fault.Error(); got != "the server did not answer the INVITE within 1s (home)" {
		t.Errorf("no-answer fault %q", got)
	}
}
