package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"stayline/lab"
)

// measurement is one scenario; it fills one or more figures.
type measurement struct {
	name string
	run  func(b *bench)
}

var measurements = []measurement{
	{"start", measureStart},
	{"failover.alternate", measureAlternate},
	{"failover.simultaneous", measureSimultaneous},
	{"failover.tcp", measureTCP},
	{"baresip.failover", measureBaresipFailover},
	{"call.setup", measureCallSetup},
	{"call.early_media", measureEarlyMedia},
	{"failover.dial_during_loss", measureDialDuringLoss},
	{"network.change", measureNetworkChange},
	{"call.rtp_lost", measureRTPLost},
	{"call.pacing", measurePacing},
	{"call.pacing_vs_baresip", measurePacingVsBaresip},
	{"cpu", measureCPU},
	{"audio.mouth_to_ear", measureMouthToEar},
	{"cpu.call_vs_baresip_pulse", measureCPUPulse},
	{"rss.gui", measureGUI},
	{"idle.wakeups", measureIdleWakeups},
}

func below(limit float64) func(float64) bool { return func(v float64) bool { return v <= limit } }

// labPair starts a Kamailio pair (and the echo test on 600 when echo is set) in a directory of its own.
func (b *bench) labPair(echo bool) (*lab.Pair, func(), error) {
	dir, err := os.MkdirTemp(b.dir, "lab")
	if err != nil {
		return nil, nil, err
	}
	opts := lab.ServerOptions{DieWithMe: true}
	var stops []func()
	if echo {
		port, err := lab.FreePort()
		if err != nil {
			return nil, nil, err
		}
		e, err := lab.StartEcho(filepath.Join(dir, "echo"), port)
		if err != nil {
			return nil, nil, err
		}
		stops = append(stops, e.Stop)
		opts.EchoAddr = fmt.Sprintf("127.0.0.1:%d", port)
	}
	p, err := lab.NewPair(dir, 0, 0, opts)
	if err == nil {
		err = p.Start()
	}
	if err != nil {
		for _, s := range stops {
			s()
		}
		return nil, nil, err
	}
	return p, func() {
		p.Stop()
		for _, s := range stops {
			s()
		}
	}, nil
}

// phoneConfig writes the lab's configuration for user 1001, changed by edit.
func (b *bench) phoneConfig(p *lab.Pair, edit func(string) string) (string, error) {
	text := p.PhoneConfig("1001", lab.LabTimers, "")
	if edit != nil {
		text = edit(text)
	}
	f, err := os.CreateTemp(b.dir, "phone-*.toml")
	if err != nil {
		return "", err
	}
	defer f.Close()
	_, err = f.WriteString(text)
	return f.Name(), err
}

func simultaneous(text string) string {
	return strings.Replace(text, "[failover]\n", "[failover]\nregistration = \"simultaneous\"\nsimultaneous_registrations = 2\n", 1)
}

func overTCP(text string) string {
	return regexp.MustCompile(`(?m)^(address = .*)$`).ReplaceAllString(text, "$1\ntransport = \"tcp\"")
}

// phoneOn starts a headless phone on the lab and waits until it is in service on home.
func (b *bench) phoneOn(p *lab.Pair, edit func(string) string) (*headless, error) {
	cfg, err := b.phoneConfig(p, edit)
	if err != nil {
		return nil, err
	}
	h, err := startHeadless(b.binary, cfg, b.env...)
	if err != nil {
		return nil, err
	}
	if _, err := h.wait(5*time.Second, "service on home", stageIs("normal", "home")); err != nil {
		h.quit()
		return nil, err
	}
	return h, nil
}

// eachRun runs one scenario b.runs times, each in its own lab, keeping what the runs that worked gave.
func (b *bench) eachRun(echo bool, run func(p *lab.Pair) error) error {
	var errs []error
	for i := 0; i < b.runs; i++ {
		p, stop, err := b.labPair(echo)
		if err != nil {
			return err
		}
		if err := run(p); err != nil {
			errs = append(errs, err)
			b.log.Warn("run failed", "error", err)
		}
		stop()
	}
	return errors.Join(errs...)
}

// killHomeAtRandomPhase waits a random part of the keep-alive interval (so the runs sample every phase
// of the phone's keep-alive schedule), then kills home with SIGKILL and says when.
func killHomeAtRandomPhase(p *lab.Pair) (time.Time, error) {
	time.Sleep(time.Duration(rand.Int64N(int64(lab.LabTimers.KeepaliveInterval))))
	at := time.Now()
	return at, p.Home.Kill()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// phoneThenKill starts a phone on p (its configuration changed by edit) and, once it is in service and
// ready says so (nil: at once), kills home at a random phase. The caller quits the phone.
func (b *bench) phoneThenKill(p *lab.Pair, edit func(string) string, ready func(*headless) error) (*headless, time.Time, error) {
	h, err := b.phoneOn(p, edit)
	if err != nil {
		return nil, time.Time{}, err
	}
	if ready != nil {
		if err := ready(h); err != nil {
			h.quit()
			return nil, time.Time{}, err
		}
	}
	killed, err := killHomeAtRandomPhase(p)
	if err != nil {
		h.quit()
		return nil, time.Time{}, err
	}
	return h, killed, nil
}

func measureStart(b *bench) {
	start := b.fig("start.registered_ms", "≤ 500", below(500))
	rss := b.fig("rss.headless_mb", "≤ 40", below(40))
	rss.note = "idle, registered, 2 s after start"
	p, stop, err := b.labPair(false)
	if err != nil {
		start.err = err
		return
	}
	defer stop()
	cfg, err := b.phoneConfig(p, nil)
	if err != nil {
		start.err = err
		return
	}
	for i := 0; i < b.runs; i++ {
		h, err := startHeadless(b.binary, cfg)
		if err != nil {
			start.err = err
			return
		}
		ev, err := h.wait(5*time.Second, "registered on home", registeredOn("home"))
		if err != nil {
			start.err = err
			h.quit()
			continue
		}
		start.add(b, ms(ev.at.Sub(h.started)))
		time.Sleep(2 * time.Second)
		if mb, err := rssMB(h.pid()); err == nil {
			rss.add(b, mb)
		} else {
			rss.err = err
		}
		h.quit()
	}
}

func measureAlternate(b *bench) {
	f := b.fig("failover.alternate.recover_ms", "≤ 2000", below(2000))
	f.note = "kill -9 of home at a random keep-alive phase -> registered on the alternate (UDP, 1 s/0.5 s/1 miss)"
	f.err = b.eachRun(false, func(p *lab.Pair) error {
		h, killed, err := b.phoneThenKill(p, nil, nil)
		if err != nil {
			return err
		}
		defer h.quit()
		ev, err := h.wait(5*time.Second, "registered on the alternate", registeredOn("alternate"))
		if err != nil {
			return err
		}
		f.add(b, ms(ev.at.Sub(killed)))
		return nil
	})
}

func measureSimultaneous(b *bench) {
	sw := b.fig("failover.simultaneous.switch_ms", "≤ 50 after detection", below(50))
	sw.note = "loss detected (stage transition) -> active on the alternate, already registered there"
	det := b.fig("failover.simultaneous.detect_ms", "≤ 1500", below(1500))
	det.note = "kill -9 of home -> loss detected (UDP keep-alive)"
	sw.err = b.eachRun(false, func(p *lab.Pair) error {
		h, killed, err := b.phoneThenKill(p, simultaneous, func(h *headless) error {
			_, err := h.wait(5*time.Second, "registered on the alternate too", registeredOn("alternate"))
			return err
		})
		if err != nil {
			return err
		}
		defer h.quit()
		lost, err := h.wait(5*time.Second, "transition", stageIs("transition", ""))
		if err != nil {
			return err
		}
		active, err := h.wait(5*time.Second, "alternate", stageIs("alternate", "alternate"))
		if err != nil {
			return err
		}
		sw.add(b, ms(active.at.Sub(lost.at)))
		det.add(b, ms(lost.at.Sub(killed)))
		return nil
	})
}

func measureTCP(b *bench) {
	f := b.fig("failover.tcp.detect_ms", "≤ 100", below(100))
	f.note = "kill -9 of home -> loss detected (the TCP connection's end)"
	f.err = b.eachRun(false, func(p *lab.Pair) error {
		h, killed, err := b.phoneThenKill(p, overTCP, nil)
		if err != nil {
			return err
		}
		defer h.quit()
		ev, err := h.wait(5*time.Second, "transition", stageIs("transition", ""))
		if err != nil {
			return err
		}
		f.add(b, ms(ev.at.Sub(killed)))
		return nil
	})
}

func measureCallSetup(b *bench) {
	f := b.fig("call.setup_ms", "-", nil)
	f.note = "dial -> 200 OK (call active), through Kamailio to the lab's echo"
	p, stop, err := b.labPair(true)
	if err != nil {
		f.err = err
		return
	}
	defer stop()
	h, err := b.phoneOn(p, nil)
	if err != nil {
		f.err = err
		return
	}
	defer h.quit()
	for i := 0; i < b.runs; i++ {
		t0 := time.Now()
		h.send("dial 600")
		ev, err := h.wait(5*time.Second, "call active", callIs("active"))
		if err != nil {
			f.err = err
			return
		}
		f.add(b, ms(ev.at.Sub(t0)))
		h.send("hangup")
		if _, err := h.wait(5*time.Second, "call ended", callIs("ended")); err != nil {
			f.err = err
			return
		}
	}
}

// callStats asks the phone for its status and returns the first call's counters.
func callStats(h *headless) (rx, lost float64, err error) {
	h.send("status")
	ev, err := h.wait(3*time.Second, "status", func(ev event) bool { return ev.str("event") == "status" })
	if err != nil {
		return 0, 0, err
	}
	calls, _ := ev.fields["calls"].([]any)
	if len(calls) == 0 {
		return 0, 0, fmt.Errorf("status shows no call: %v", ev.fields)
	}
	c, _ := calls[0].(map[string]any)
	rx, _ = c["rx_packets"].(float64)
	lost, _ = c["lost"].(float64)
	return rx, lost, nil
}

func measureRTPLost(b *bench) {
	f := b.fig("call.rtp_lost", "0", below(0))
	f.note = "RTP lost (sequence gaps at the phone) on a call to the echo across kill -9 of home"
	f.err = b.eachRun(true, func(p *lab.Pair) error {
		h, _, err := b.phoneThenKill(p, nil, func(h *headless) error {
			h.send("dial 600")
			if _, err := h.wait(5*time.Second, "call active", callIs("active")); err != nil {
				return err
			}
			time.Sleep(time.Second) // the call is under way when home dies
			return nil
		})
		if err != nil {
			return err
		}
		defer h.quit()
		if _, err := h.wait(5*time.Second, "alternate", stageIs("alternate", "alternate")); err != nil {
			return err
		}
		time.Sleep(time.Second)
		rx, lost, err := callStats(h)
		if err != nil {
			return err
		}
		if rx < 100 {
			return fmt.Errorf("only %v packets received: the echo is not flowing", rx)
		}
		f.add(b, lost)
		return nil
	})
}

var benchMetric = regexp.MustCompile(`([0-9.]+) p99_dev_ms`)

// measurePacing runs the phone package's pacing benchmark: our media sender to a UDP receiver on
// loopback, the arrival intervals' deviation from 20 ms.
func measurePacing(b *bench) {
	f := b.fig("call.pacing_p99_ms", "≤ 2", below(2))
	f.note = "p99 |arrival interval - 20 ms| at a loopback receiver, 250 packets a run (go test -bench RTPPacing)"
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "^BenchmarkRTPPacing$", "-benchtime", "250x",
		"-count", strconv.Itoa(b.runs), "./phone/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		f.err = fmt.Errorf("go test -bench: %v: %s", err, tail(string(out), 5))
		return
	}
	for _, m := range benchMetric.FindAllStringSubmatch(string(out), -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		f.add(b, v)
	}
	if len(f.values) == 0 {
		f.err = fmt.Errorf("no p99_dev_ms in: %s", tail(string(out), 5))
	}
}

// callLength is how long each CPU measurement's call lasts.
const callLength = 10 * time.Second

func measureCPU(b *bench) {
	f := b.fig("cpu.call_vs_baresip", "≤ 1", below(1))
	sl := b.fig("cpu.stayline_call_s", "-", nil)
	sl.note = fmt.Sprintf("CPU seconds of one %s G.711 call to the echo, headless, null audio", callLength)
	bs := b.fig("cpu.baresip_call_s", "-", nil)
	bs.note = fmt.Sprintf("the same for baresip (ausine source, aufile player), same lab, same run")
	f.note = "stayline / baresip, per run"
	goFloor := b.fig("cpu.go_floor_s", "-", nil)
	goFloor.note = fmt.Sprintf("a bare Go program for %s: 20 ms timer, one UDP packet a tick (the runtime's share)", callLength)
	idle := b.fig("cpu.stayline_idle_s", "-", nil)
	idle.note = fmt.Sprintf("CPU seconds of the same phone idle (5 s before the call, scaled to %s; keep-alive every 1 s)", callLength)
	f.err = b.eachRun(true, func(p *lab.Pair) error {
		ours, err := b.stayline(p, idle)
		if err != nil {
			return err
		}
		if c, err := floorCPU(); err == nil {
			goFloor.add(b, c*float64(callLength)/float64(callLength-time.Second))
		} else {
			goFloor.err = err
		}
		theirs, err := b.baresipCall(p)
		if err != nil {
			return err
		}
		sl.add(b, ours)
		bs.add(b, theirs)
		if theirs > 0 {
			f.add(b, ours/theirs)
		}
		return nil
	})
}

func (b *bench) stayline(p *lab.Pair, idle *figure) (float64, error) {
	h, err := b.phoneOn(p, func(s string) string { return strings.Replace(s, "[audio]\n", "[audio]\ncodecs = [\"PCMU\"]\n", 1) })
	if err != nil {
		return 0, err
	}
	defer h.quit()
	quiet, err := cpuOver(h.pid(), callLength/2)
	if err != nil {
		return 0, err
	}
	idle.add(b, 2*quiet)
	h.send("dial 600")
	if _, err := h.wait(5*time.Second, "call active", callIs("active")); err != nil {
		return 0, err
	}
	return cpuOver(h.pid(), callLength)
}

func cpuOver(pid int, d time.Duration) (float64, error) {
	u0, s0, err := cpuSplit(pid)
	if err != nil {
		return 0, err
	}
	time.Sleep(d)
	u1, s1, err := cpuSplit(pid)
	slog.Debug("cpu", "pid", pid, "user_s", u1-u0, "system_s", s1-s0)
	return u1 - u0 + s1 - s0, err
}

func (b *bench) baresipCall(p *lab.Pair) (float64, error) {
	bs, err := b.baresipOnEcho(p)
	if err != nil {
		return 0, err
	}
	defer bs.Stop()
	return cpuOver(bs.Pid(), callLength)
}

// baresipOnEcho starts baresip as 1002 on home (G.711) and calls the echo; the call is up when it returns.
// The caller stops baresip.
func (b *bench) baresipOnEcho(p *lab.Pair) (*lab.Baresip, error) {
	dir, err := os.MkdirTemp(b.dir, "baresip")
	if err != nil {
		return nil, err
	}
	bs, err := lab.StartBaresipWith(dir, "1002", p.Home.Addr(), lab.BaresipOptions{Codecs: "PCMU"})
	if err != nil {
		return nil, err
	}
	if _, err := bs.Command("dial", "sip:600@127.0.0.1"); err == nil {
		_, err = bs.WaitEvent("CALL_ESTABLISHED", 5*time.Second)
	}
	if err != nil {
		bs.Stop()
		return nil, err
	}
	return bs, nil
}

// measureGUI runs the window under an Xvfb of its own and reads its memory once it is registered.
func measureGUI(b *bench) {
	f := b.fig("rss.gui_mb", "≤ 150", below(150))
	f.note = "the window under Xvfb, registered, idle 3 s"
	anon := b.fig("rss.gui_anon_mb", "-", nil)
	anon.note = "of which anonymous memory (heap, stacks, GL buffers); the rest is mapped files"
	renderer := b.fig("rss.gui_renderer_mb", "-", nil)
	renderer.note = "of which Mesa's software GL renderer under Xvfb (libLLVM, *_dri.so), which a GPU driver replaces"
	xvfb, display, err := startXvfb(b.dir)
	if err != nil {
		f.err = err
		return
	}
	defer func() { xvfb.Process.Kill(); xvfb.Wait() }()
	f.err = b.eachRun(false, func(p *lab.Pair) error {
		pid, stop, err := b.windowOn(p, display, nil)
		if err != nil {
			return err
		}
		defer stop()
		mb, err := rssMB(pid)
		if err != nil {
			return err
		}
		f.add(b, mb)
		if a, err := statusMB(pid, "RssAnon:"); err == nil {
			anon.add(b, a)
		}
		if r, err := rendererMB(pid); err == nil {
			renderer.add(b, r)
		}
		return nil
	})
}

// windowOn starts the window on display with the lab's configuration (changed by edit), waits until it is
// registered on home and 3 s more for it to settle, and returns its pid and how to stop it.
func (b *bench) windowOn(p *lab.Pair, display string, edit func(string) string) (int, func(), error) {
	cfg, err := b.phoneConfig(p, edit)
	if err != nil {
		return 0, nil, err
	}
	cmd := exec.Command(b.binary, "-config", cfg)
	cmd.Env = append(os.Environ(), "DISPLAY="+display, "DBUS_SESSION_BUS_ADDRESS=disabled:")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	stop := func() { cmd.Process.Signal(syscall.SIGTERM); waitOrKill(cmd, 5*time.Second) }
	deadline := time.Now().Add(10 * time.Second)
	for !p.Home.Registered("1001") {
		if time.Now().After(deadline) {
			stop()
			return 0, nil, errors.New("the window's phone did not register on home within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(6 * time.Second) // the window settles, and its idle loop parks (3 s after the last input)
	return cmd.Process.Pid, stop, nil
}

func waitOrKill(cmd *exec.Cmd, within time.Duration) {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(within):
		cmd.Process.Kill()
		<-done
	}
}

// startXvfb starts Xvfb on a free display number and waits for its socket.
func startXvfb(dir string) (*exec.Cmd, string, error) {
	for n := 90; n < 190; n++ {
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", n)); err == nil {
			continue
		}
		display := fmt.Sprintf(":%d", n)
		cmd := exec.Command("Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return nil, "", fmt.Errorf("start Xvfb (apt-get install xvfb): %w", err)
		}
		for i := 0; i < 100; i++ {
			if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
				return cmd, display, nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
	}
	return nil, "", errors.New("no free X display for Xvfb")
}
