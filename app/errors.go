package app

import (
	"context"
	"errors"
	"fmt"

	"stayline/failover"
)

// actionWords names an action in a sentence ("Hold on line 2 did not work").
var actionWords = map[failover.Action]string{
	failover.ActDial: "The call", failover.ActAnswer: "Answering", failover.ActHangup: "Ending the call",
	failover.ActHold: "Hold", failover.ActResume: "Resume", failover.ActDTMF: "Sending tones",
	failover.ActTransfer: "Transfer", failover.ActConference: "The conference", failover.ActLogoff: "Log off",
	failover.ActLogin: "Log in", failover.ActFailback: "Failback",
}

// actionFailed words an action's failure for the display: the line, what failed and why, never an
// internal id or a Go error (those go to the log).
func actionFailed(a failover.Action, line int, err error) string {
	what := actionWords[a]
	if what == "" {
		what = string(a)
	}
	if line > 0 {
		what += fmt.Sprintf(" on line %d", line)
	}
	return what + " did not work: " + cause(err) + "."
}

// cause is why, in words.
func cause(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "the other side did not answer in time"
	case errors.Is(err, failover.ErrClosed):
		return "the phone is shutting down"
	}
	return "the phone could not do it now"
}
