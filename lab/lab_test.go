package lab_test

import (
	"strings"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

func TestServerKillAndRestartByPid(t *testing.T) {
	s := labtest.Server(t, "home", lab.ServerOptions{})
	pid, err := s.Pid()
	if err != nil || !s.Running() {
		t.Fatalf("pid %d, %v, running %v", pid, err, s.Running())
	}
	if err := lab.Ping(s.Addr(), time.Second); err != nil {
		t.Fatalf("a started server does not answer OPTIONS: %v", err)
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Fatal("still running after Kill")
	}
	if err := lab.Ping(s.Addr(), 200*time.Millisecond); err == nil {
		t.Fatal("a killed server still answers: its workers survived")
	}
	// A kill -9 leaves the pid file stale; Start must cope.
	if err := s.Start(); err != nil {
		t.Fatalf("restart after kill -9: %v", err)
	}
	if newPid, _ := s.Pid(); newPid == pid {
		t.Fatal("restart kept the old pid")
	}
	if err := lab.Ping(s.Addr(), time.Second); err != nil {
		t.Fatalf("restarted server does not answer: %v", err)
	}
}

func TestPairConfigIsValidAndPointsAtBothServers(t *testing.T) {
	dir := t.TempDir()
	p, err := lab.NewPair(dir, 0, 0, lab.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	again, err := lab.OpenPair(dir)
	if err != nil || again.Home.Port != p.Home.Port || again.Alternate.Port != p.Alternate.Port {
		t.Fatalf("OpenPair found %+v, %v", again, err)
	}
	text := p.PhoneConfig("1001", lab.LabTimers, "")
	if _, err := config.Parse("lab.toml", []byte(text)); err != nil {
		t.Fatalf("the lab's phone configuration is invalid: %v", err)
	}
	for _, want := range []string{p.Home.Addr(), p.Alternate.Addr(), `keepalive_interval = "1s"`, `keepalive_timeout = "500ms"`} {
		if !strings.Contains(text, want) {
			t.Errorf("phone configuration lacks %q:\n%s", want, text)
		}
	}
}
