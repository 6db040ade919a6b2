package failover

import "testing"

func TestPickCall(t *testing.T) {
	calls := []CallRef{{"1", CallHeld}, {"2", CallActive}, {"3", CallIncoming}, {"10", CallHeld}}
	cases := []struct {
		prefer []CallState
		want   string
	}{
		{FocusOrder, "3"},              // the keys attend to the call ringing here
		{actionOrder[ActHangup], "2"},  // hang up, no id: the active call
		{actionOrder[ActResume], "10"}, // of two held calls, the newest (numeric order, not text)
		{actionOrder[ActAnswer], "3"},  //
		{[]CallState{CallDialing}, ""}, // none
		{[]CallState{CallEarly, CallHeld}, "10"},
	}
	for _, c := range cases {
		got, ok := PickCall(calls, c.prefer)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("PickCall(%v) = %q %v, want %q", c.prefer, got, ok, c.want)
		}
	}
}
