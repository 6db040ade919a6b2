package failover

import (
	"fmt"

	"stayline/config"
)

// Action is something the user can ask for; the names are the headless commands (README.md, "Headless control").
type Action string

// The actions the gate rules on.
const (
	ActDial       Action = "dial"
	ActAnswer     Action = "answer"
	ActHangup     Action = "hangup"
	ActHold       Action = "hold"
	ActResume     Action = "resume"
	ActDTMF       Action = "dtmf"
	ActTransfer   Action = "transfer"
	ActConference Action = "conference"
	ActLogoff     Action = "logoff"
	ActLogin      Action = "login"
	ActFailback   Action = "failback"
)

// AllActions is every action, in the order the Phone button lists them.
var AllActions = []Action{ActDial, ActAnswer, ActHangup, ActHold, ActResume, ActDTMF, ActTransfer,
	ActConference, ActFailback, ActLogoff, ActLogin}

// Refusal is the gate's answer to an action the current stage does not allow.
type Refusal struct {
	Action Action
	Reason string
}

func (r *Refusal) Error() string { return fmt.Sprintf("%s refused: %s", r.Action, r.Reason) }

func refuse(a Action, format string, args ...any) *Refusal {
	return &Refusal{Action: a, Reason: fmt.Sprintf(format, args...)}
}

// CallCounts summarises the calls the phone holds, by state, and how many of them are in the conference.
type CallCounts struct {
	Dialing, Ringing, Incoming, Active, Held int
	Conferenced                              int
}

// Total is every call in any state.
func (c CallCounts) Total() int { return c.Dialing + c.Ringing + c.Incoming + c.Active + c.Held }

// situation is everything the gate looks at. The rules are a pure function of it: the §2 table.
type situation struct {
	stage     Stage
	loggedOff bool
	server    config.Server // the server in use; zero when none
	hasServer bool
	policy    config.FailbackPolicy
	calls     CallCounts
	lines     int
}

// check says whether action a is allowed now. emergency marks a dial to a configured emergency number.
func (s situation) check(a Action, emergency bool) *Refusal {
	if s.loggedOff && a != ActLogin && !(a == ActDial && emergency) {
		return refuse(a, "The phone is logged off")
	}
	switch a {
	case ActDial:
		if emergency {
			return nil // tried on any reachable server, in every stage
		}
		switch s.stage {
		case StageTransition:
			return refuse(a, "New calls are not possible while the phone moves to another server")
		case StageFailback:
			return refuse(a, "New calls are not possible while the phone returns to its home server")
		case StageNoService:
			return refuse(a, "No service: no server is reachable")
		}
		if s.calls.Total() >= s.lines {
			return refuse(a, "All %d lines are in use", s.lines)
		}
		return nil
	case ActAnswer:
		if s.calls.Incoming == 0 {
			return refuse(a, "No incoming call to answer")
		}
		switch s.stage {
		case StageTransition:
			return refuse(a, "Calls cannot be answered while the phone moves to another server")
		case StageNoService:
			return refuse(a, "No service: no server is reachable")
		}
		return nil
	case ActHangup:
		if s.calls.Total() == 0 {
			return refuse(a, "No call to end")
		}
		return nil
	case ActDTMF:
		if s.calls.Active == 0 {
			return refuse(a, "No active call to send tones to")
		}
		return nil
	case ActHold, ActResume, ActTransfer, ActConference:
		return s.checkFeature(a)
	case ActLogoff:
		if s.stage != StageNormal {
			return refuse(a, "Log off is not available during failover")
		}
		return nil
	case ActLogin:
		if !s.loggedOff {
			return refuse(a, "The phone is already logged in")
		}
		return nil
	case ActFailback:
		if s.stage != StageAlternate {
			return refuse(a, "Failback is only possible while the phone is on an alternate server")
		}
		if s.calls.Total() > 0 {
			return refuse(a, "Failback waits until every call has ended")
		}
		return nil
	}
	return refuse(a, "Unknown action")
}

// admission is the answer to an incoming call now: 0 to let it ring, else the SIP status and reason. While
// the registration moves, and with no service, no new call is taken: 480 lets the server divert it (to
// voicemail), in failback as well as in transition.
func (s situation) admission() (int, string) {
	switch {
	case s.loggedOff:
		return 480, "Logged Off"
	case s.stage == StageTransition || s.stage == StageFailback || s.stage == StageNoService:
		return 480, "Temporarily Unavailable"
	case s.calls.Total() >= s.lines:
		return 486, "Busy Here"
	}
	return 0, ""
}

var featureOf = map[Action]config.Feature{
	ActHold: config.FeatureHold, ActResume: config.FeatureHold,
	ActTransfer: config.FeatureTransfer, ActConference: config.FeatureConference,
}

var featureWords = map[Action]string{
	ActHold: "Hold", ActResume: "Resume", ActTransfer: "Transfer", ActConference: "Conference",
}

func (s situation) checkFeature(a Action) *Refusal {
	word := featureWords[a]
	switch a {
	case ActHold, ActTransfer:
		if s.calls.Active == 0 {
			return refuse(a, "No active call")
		}
	case ActResume:
		if s.calls.Held == 0 {
			return refuse(a, "No call on hold")
		}
	case ActConference:
		if s.calls.Active+s.calls.Held < 2 {
			return refuse(a, "A conference needs two calls")
		}
		if s.calls.Conferenced >= s.calls.Active+s.calls.Held {
			return refuse(a, "The calls are already in the conference")
		}
	}
	switch s.stage {
	case StageTransition:
		return refuse(a, "%s is not available while the phone moves to another server", word)
	case StageFailback:
		return refuse(a, "%s is not available while the phone returns to its home server", word)
	case StageNoService:
		return refuse(a, "%s is not available: no service", word)
	}
	if !s.hasServer || !s.server.Offers(featureOf[a]) {
		return refuse(a, "%s is not offered by server %s", word, s.server.Name)
	}
	return nil
}

// available lists the actions allowed now, in AllActions order.
func (s situation) available() []Action {
	out := []Action{}
	for _, a := range AllActions {
		if s.check(a, false) == nil {
			out = append(out, a)
		}
	}
	return out
}

// Available is the gate's answer for a situation, without a running manager: what the Phone button
// lists in stage with those calls, on server (nil: none in use). Front ends use it to preview and test
// their keys against the real rules.
func Available(stage Stage, calls CallCounts, server *config.Server, loggedOff bool, lines int) []Action {
	s := situation{stage: stage, calls: calls, loggedOff: loggedOff, lines: lines}
	if server != nil {
		s.server, s.hasServer = *server, true
	}
	return s.available()
}
