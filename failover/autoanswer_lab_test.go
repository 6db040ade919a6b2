package failover

import (
	"os"
	"strconv"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// intercom places an intercom call (SIPp, lab/scenarios/uac-intercom.xml: Call-Info answer-after=0) to
// 1001 through home, talking for talk once answered.
func intercom(t *testing.T, p *lab.Pair, talk time.Duration) *lab.SIPp {
	t.Helper()
	return labtest.SIPp(t, "uac-intercom", "-m", "1", "-s", "1001", "-rtp_echo", "-mp", strconv.Itoa(freeMediaPorts(t)),
		"-d", strconv.Itoa(int(talk/time.Millisecond)), p.Home.Addr())
}

// freeMediaPorts is a free even port (SIPp's -mp takes it and the next one).
func freeMediaPorts(t *testing.T) int {
	t.Helper()
	p, err := lab.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p &^ 1
}

// An intercom call through a real registrar: answered by itself with calls.auto_answer on (no Answer
// here), ringing with it off until the user acts.
func TestLiveIntercomCallAnsweredOnlyWhenAutoAnswerIsOn(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	lp := startLivePhone(t, p, "", func(c *config.Config) { c.Calls.AutoAnswer = true })
	lp.waitStage(StageNormal, "home", 5*time.Second)
	caller := intercom(t, p, 500*time.Millisecond)
	lp.waitCall("incoming", 5*time.Second)
	lp.waitCall("active", 3*time.Second)
	lp.waitCall("ended", 5*time.Second)
	if code := caller.Wait(5 * time.Second); code != 0 {
		b, _ := os.ReadFile(caller.MessagesFile())
		t.Fatalf("the intercom caller's scenario failed (exit %d)\n%s", code, b)
	}

	p = labtest.Pair(t, lab.ServerOptions{})
	lp = startLivePhone(t, p, "") // calls.auto_answer off: the default
	lp.waitStage(StageNormal, "home", 5*time.Second)
	caller = intercom(t, p, 500*time.Millisecond)
	in := lp.waitCall("incoming", 5*time.Second)
	time.Sleep(time.Second)
	for _, c := range lp.m.Status().Calls {
		if c.ID == in.ID && c.State != CallIncoming {
			t.Fatalf("the intercom call is %s with auto-answer off", c.State)
		}
	}
	if err := lp.m.Hangup(in.ID); err != nil {
		t.Fatal(err)
	}
	lp.waitCall("ended", 3*time.Second)
	caller.Wait(5 * time.Second)
}
