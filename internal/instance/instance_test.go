package instance

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func TestDialTargetFromLinks(t *testing.T) {
	good := map[string]string{
		"sip:1002@example.com":                      "sip:1002@example.com",
		"SIP:1002@example.com;transport=tcp?x=y":    "sip:1002@example.com",
		"sips:ann@pbx.example.com":                  "sips:ann@pbx.example.com",
		"tel:+1-555-123-4567":                       "+15551234567",
		"tel:+1%20(555)%20123.4567;phone-context=x": "+15551234567",
		"tel:911":         "911",
		"callto:1002":     "1002",
		"1002":            "1002",
		"*72#":            "*72#",
		"ann@example.com": "ann@example.com",
	}
	for in, want := range good {
		if got, err := DialTarget(in); err != nil || got != want {
			t.Errorf("%q -> %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"http://example.com", "tel:", "tel:+", "tel:12a4", "sip:example.com", "sip:@x", "mailto:a@b", "sip:a@b c", "tel:1+2"} {
		if got, err := DialTarget(in); err == nil {
			t.Errorf("%q accepted as %q", in, got)
		}
	}
}

func TestOneInstanceTakesTheOthersRequests(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stayline.sock")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if ok, _ := Send(path, "dial", "1002"); ok {
		t.Fatal("a request was taken with nothing running")
	}
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Serve(ctx, func(cmd, arg string) error {
		got <- cmd + " " + arg
		if arg == "bad" {
			return errors.New("Dial is not available during failover")
		}
		return nil
	}, quiet)
	if _, err := Listen(path); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Listen: %v, want ErrRunning", err)
	}
	if ok, err := Send(path, "dial", "+15551234567"); !ok || err != nil {
		t.Fatalf("send: %v %v", ok, err)
	}
	if g := <-got; g != "dial +15551234567" {
		t.Fatalf("handler got %q", g)
	}
	if ok, err := Send(path, "dial", "bad"); !ok || err == nil || err.Error() != "Dial is not available during failover" {
		t.Fatalf("refusal came back as %v %v", ok, err)
	}
	<-got
	if _, err := Send(path, "format", "c:"); err == nil {
		t.Fatal("an unknown request was accepted")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode: %v %v", fi, err)
	}
	cancel()
}

// A socket file left by a crashed run is taken over.
func TestStaleSocketIsTakenOver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stayline.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	l.l.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	l.l.Close() // the file stays, nobody listens: as after kill -9
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the test needs the stale file: %v", err)
	}
	l2, err := Listen(path)
	if err != nil {
		t.Fatalf("stale socket not taken over: %v", err)
	}
	l2.l.Close()
}
