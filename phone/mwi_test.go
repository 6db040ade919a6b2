package phone

import (
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

func TestMessageWaitingFromTheVoicemail(t *testing.T) {
	vmAddr, vm := labtest.Voicemail(t)
	k := labtest.Server(t, "home", lab.ServerOptions{VoicemailAddr: vmAddr})
	a := startAgent(t, lab.Password, srv("home", k, config.TransportUDP))
	if err := a.SubscribeMWI(ctxFor(t, 2*time.Second), 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(3 * time.Second)
	for {
		select {
		case ev := <-a.Events():
			if ev.Kind == EventMWI {
				if !ev.Waiting || ev.Server != 0 {
					t.Fatalf("MWI event %+v", ev)
				}
				if err := a.UnsubscribeMWI(ctxFor(t, 2*time.Second), 0); err != nil {
					t.Fatalf("unsubscribe: %v", err)
				}
				if vm.Received("SUBSCRIBE") != 2 {
					t.Fatal("the voicemail did not see the subscription end")
				}
				return
			}
		case <-deadline:
			t.Fatal("no message-waiting report")
		}
	}
}

func TestMessagesWaitingBody(t *testing.T) {
	for body, want := range map[string][2]bool{
		"Messages-Waiting: yes\r\nVoice-Message: 2/0 (0/0)\r\n": {true, true},
		"messages-waiting:no\r\n":                               {false, true},
		"Messages-Waiting: maybe\r\n":                           {false, false},
		"Voice-Message: 2/0\r\n":                                {false, false},
		"":                                                      {false, false},
	} {
		waiting, known := messagesWaiting([]byte(body))
		if waiting != want[0] || known != want[1] {
			t.Errorf("%q: waiting %v known %v, want %v", body, waiting, known, want)
		}
	}
}
