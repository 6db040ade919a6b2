package phone

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The forms of "answer by itself" an INVITE may carry, and what is no such request.
func TestAutoAnswerAsked(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header string
		want   autoAnswer
	}{
		{"none", "", autoAnswer{}},
		{"Call-Info answer-after=0", "Call-Info: <sip:pbx.example.com>;answer-after=0\r\n", autoAnswer{true, 0}},
		{"Call-Info answer-after=5", "Call-Info: <sip:pbx>;Answer-After=5\r\n", autoAnswer{true, 5 * time.Second}},
		{"Call-Info among others", "Call-Info: <http://x/photo.jpg>;purpose=icon, <sip:pbx>;answer-after=2\r\n", autoAnswer{true, 2 * time.Second}},
		{"Call-Info without answer-after", "Call-Info: <http://x/photo.jpg>;purpose=icon\r\n", autoAnswer{}},
		{"Call-Info bad delay", "Call-Info: <sip:pbx>;answer-after=soon\r\n", autoAnswer{}},
		{"Call-Info negative delay", "Call-Info: <sip:pbx>;answer-after=-1\r\n", autoAnswer{}},
		{"Call-Info delay too long", "Call-Info: <sip:pbx>;answer-after=100000\r\n", autoAnswer{}},
		{"Alert-Info alert-autoanswer", "Alert-Info: <http://www.notused.com>;info=alert-autoanswer\r\n", autoAnswer{true, 0}},
		{"Alert-Info alert-autoanswer delay", "Alert-Info: <http://x>;info=alert-autoanswer;delay=3\r\n", autoAnswer{true, 3 * time.Second}},
		{"Alert-Info Auto Answer", "Alert-Info: <http://x>;info=Auto Answer\r\n", autoAnswer{true, 0}},
		{"Alert-Info quoted auto answer", "Alert-Info: <http://x>;info=\"auto answer\"\r\n", autoAnswer{true, 0}},
		{"Alert-Info answer-after", "Alert-Info: <http://x>;answer-after=1\r\n", autoAnswer{true, time.Second}},
		{"Alert-Info a ring tone", "Alert-Info: <http://x/ring.wav>;info=alert-internal\r\n", autoAnswer{}},
		{"Answer-Mode Auto", "Answer-Mode: Auto\r\n", autoAnswer{true, 0}},
		{"Answer-Mode Auto;require", "Answer-Mode: Auto;require\r\n", autoAnswer{true, 0}},
		{"Priv-Answer-Mode Auto", "Priv-Answer-Mode: Auto\r\n", autoAnswer{true, 0}},
		{"Answer-Mode Manual", "Answer-Mode: Manual\r\n", autoAnswer{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := messageWith(t, false)
			if tc.header != "" {
				req = messageWith(t, false, tc.header)
			}
			if got := autoAnswerAsked(req.(*sip.Request)); got != tc.want {
				t.Fatalf("%+v, want %+v", got, tc.want)
			}
		})
	}
}

// An INVITE asking to be answered at once rings, saying so in its call event; the phone itself does not
// answer it (the manager decides: failover/autoanswer.go).
func TestIncomingCallReportsItsAutoAnswer(t *testing.T) {
	a := rawPhone(t)
	r := newRawSender(t, a.Listen())
	r.send(r.request("INVITE", "intercom", "Call-Info: <sip:pbx>;answer-after=0\r\n", goodOffer))
	in := waitCall(t, a, "", CallIncoming, 2*time.Second)
	if !in.AutoAnswer || in.AnswerAfter != 0 {
		t.Fatalf("incoming call %+v: want AutoAnswer after 0", in)
	}
	time.Sleep(300 * time.Millisecond)
	if ok := r.responses("SIP/2.0 200"); len(ok) > 0 {
		t.Fatalf("the phone answered by itself:\n%s", ok[0])
	}
	declineRaw(t, a, r, in.ID)
}
