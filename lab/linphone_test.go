package lab

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Lines as linphonec 5.1 writes them with -d 6 (a hold, then the end of the call).
const linphoneLogSample = `2026-11-28 04:28:05:706 liblinphone-message-Bandwidth usage for CallSession [0x55aa324da4c0]:
	Stream #0 (audio) | cpu: 0.11% | RTP : [d=72.89,u=0.77] RTCP: [d=0.00,u=1.15]  (kbits/sec)

2026-11-28 04:28:16:341 ortp-message-===========================================================
2026-11-28 04:28:16:341 ortp-message-             AUDIO SESSION'S RTP STATISTICS                
2026-11-28 04:28:16:341 ortp-message------------------------------------------------------------
2026-11-28 04:28:16:341 ortp-message-sent                                        384 packets
2026-11-28 04:28:16:341 ortp-message-                                              0 duplicated packets
2026-11-28 04:28:16:341 ortp-message-                                          64956 bytes  
2026-11-28 04:28:16:341 ortp-message-received                                    582 packets
2026-11-28 04:28:16:341 ortp-message-                                              0 duplicated packets
2026-11-28 04:28:16:341 ortp-message-                                          99012 bytes  
2026-11-28 04:28:16:341 ortp-message-incoming delivered to the app             98496 bytes  
2026-11-28 04:28:16:341 ortp-message-incoming cumulative lost                      3 packets
2026-11-28 04:28:16:341 ortp-message-incoming received too late                    0 packets
2026-11-28 04:28:16:341 ortp-message-sent rtcp                                     4 packets
2026-11-28 04:28:16:341 ortp-message-received rtcp                                 3 packets
2026-11-28 04:28:16:341 ortp-message-===========================================================
2026-11-28 04:28:16:341 mediastreamer-message-ms_filter_unlink: MSFilePlayer:0x55aa324c3900,0-->MSResample:0x55aa324e24b0,0
2026-11-28 04:28:18:369 liblinphone-message-Bandwidth usage for CallSession [0x55aa324da4c0]:
	Stream #0 (audio) | cpu: 0.39% | RTP : [d=0.00,u=80.00] RTCP: [d=0.00,u=1.02]  (kbits/sec)
2026-11-28 04:28:18:844 ortp-message-===========================================================
2026-11-28 04:28:18:844 ortp-message-             AUDIO SESSION'S RTP STATISTICS                
2026-11-28 04:28:18:844 ortp-message-sent                                        508 packets
2026-11-28 04:28:18:844 ortp-message-received                                    582 packets
2026-11-28 04:28:18:844 ortp-message-===========================================================
2026-11-28 04:28:18:845 ortp-message-sent                                        9999 packets
`

func TestParseLinphoneLog(t *testing.T) {
	got := parseRTPStats(linphoneLogSample)
	want := []LinphoneRTPStats{{Sent: 384, Received: 582, Lost: 3}, {Sent: 508, Received: 582}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("RTP statistics %+v, want %+v (rtcp counters and lines outside a block are not counted)", got, want)
	}
	bw := parseBandwidths(linphoneLogSample)
	if len(bw) != 2 || bw[0] != (LinphoneBandwidth{Down: 72.89, Up: 0.77}) || bw[1] != (LinphoneBandwidth{Down: 0, Up: 80}) {
		t.Fatalf("bandwidths %+v", bw)
	}
	if s := parseRTPStats("no statistics here\n"); len(s) != 0 {
		t.Fatalf("statistics from nothing: %+v", s)
	}
}

func TestToneWAV(t *testing.T) {
	b := toneWAV(8000, 440, time.Second)
	if len(b) != 44+16000 || string(b[0:4]) != "RIFF" || string(b[8:16]) != "WAVEfmt " || string(b[36:40]) != "data" {
		t.Fatalf("header %q, %d bytes", b[:44], len(b))
	}
	if binary.LittleEndian.Uint32(b[24:]) != 8000 || binary.LittleEndian.Uint32(b[40:]) != 16000 {
		t.Fatal("rate or data size wrong")
	}
	peak := 0
	for i := 44; i < len(b); i += 2 {
		peak = max(peak, int(int16(binary.LittleEndian.Uint16(b[i:]))))
	}
	if peak < 7900 || peak > 8000 {
		t.Fatalf("peak %d, want about 8000", peak)
	}
}

func TestLinphoneRefusesCommandInjection(t *testing.T) {
	l := &Linphone{done: make(chan struct{})}
	if err := l.Command("call sip:1@x\nquit"); err == nil {
		t.Fatal("a command with a newline was written")
	}
	if err := l.SendDTMF("5\nquit"); err == nil || l.SendDTMF("") == nil || l.SendDTMF("12a") == nil {
		t.Fatal("DTMF with something other than digits was accepted")
	}
}

// linphonec registers through a real Kamailio, listens on loopback only, and stops by its pid, leaving no
// process behind.
func TestLinphoneRegistersAndStops(t *testing.T) {
	for _, p := range []string{"kamailio", "linphonec"} {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("STAYLINE_REQUIRE_LAB") != "" { // as labtest.Need, which this package cannot import
				t.Fatalf("%s is not installed; make test installs it", p)
			}
			t.Skipf("%s is not installed (make test installs it)", p)
		}
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(t.TempDir(), "home", port, ServerOptions{DieWithMe: true})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	l, err := StartLinphone(t.TempDir(), "1004", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	if lines := s.RegisterLines(); len(lines) == 0 || !strings.Contains(strings.Join(lines, "\n"), "user=1004") {
		t.Fatalf("Kamailio saw no REGISTER of 1004: %q", lines)
	}
	if err := l.Command("ports"); err != nil {
		t.Fatal(err)
	}
	if line, err := l.Expect("sip port = ", 2*time.Second); err != nil || !strings.HasSuffix(line, "sip port = "+strconv.Itoa(l.SIPPort)) {
		t.Fatalf("linphonec's ports: %q %v, want SIP on %d", line, err, l.SIPPort)
	}
	if addr := udpBound(t, l.SIPPort); addr != "0100007F" {
		t.Fatalf("linphonec's SIP socket is bound to %q (hex, /proc/net/udp), want 127.0.0.1 only", addr)
	}
	pid := l.Pid()
	l.Stop()
	if syscall.Kill(pid, 0) == nil {
		t.Fatalf("linphonec (pid %d) still runs after Stop", pid)
	}
	if l.watch != nil && l.watch.ProcessState == nil {
		t.Fatal("the watchdog was left running")
	}
	if !strings.Contains(l.Output(), "Terminating") {
		t.Errorf("linphonec did not quit on its own:\n%s", l.Output())
	}
}

// udpBound is the local address (hex, as /proc/net/udp writes it) of the IPv4 UDP socket bound to port.
func udpBound(t *testing.T, port int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		t.Skipf("no /proc/net/udp: %v", err)
	}
	suffix := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasSuffix(f[1], suffix) && len(f[1]) == 8+len(suffix) {
			return f[1][:8]
		}
	}
	return ""
}
