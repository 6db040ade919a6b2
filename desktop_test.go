package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"stayline/internal/dbustest"
	"stayline/lab"
	"stayline/lab/labtest"
)

// The real window, under Xvfb, with a session bus of the test's own that has a tray host (a
// StatusNotifierWatcher) and a notification daemon: what a desktop user sees through a failover is read
// from the bus, as the desktop would read it.

// xserver is an Xvfb the test started; it is stopped by its pid.
type xserver struct {
	display string
	cmd     *exec.Cmd
}

func startXvfb(t *testing.T) *xserver {
	t.Helper()
	labtest.Need(t, "Xvfb", "xdotool")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "1366x768x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case n := <-line:
		if n == "" {
			t.Fatal("Xvfb gave no display number")
		}
		return &xserver{display: ":" + n, cmd: cmd}
	case <-time.After(10 * time.Second):
		t.Fatal("Xvfb did not start")
	}
	return nil
}

// fakeDesktop is a fake desktop session: X, a session bus, a tray host and a notification daemon.
type fakeDesktop struct {
	x     *xserver
	bus   *dbustest.Bus
	tray  *dbustest.Watcher
	notes *dbustest.Notifications
	home  string
}

func startDesktop(t *testing.T) *fakeDesktop {
	t.Helper()
	d := &fakeDesktop{x: startXvfb(t), bus: dbustest.StartBus(t), home: t.TempDir()}
	d.tray = dbustest.StartWatcher(t, d.bus)
	d.notes = dbustest.StartNotifications(t, d.bus)
	return d
}

// running is a started process and, once it ended, how.
type running struct {
	cmd  *exec.Cmd
	done chan error
}

// window runs the phone's window on the desktop with configuration cfgPath; it is killed when the test
// ends if still running.
func (d *fakeDesktop) window(t *testing.T, cfgPath string) *running {
	t.Helper()
	cmd := exec.Command(binary, "-config", cfgPath)
	cmd.Env = append(os.Environ(), "DISPLAY="+d.x.display, d.bus.Env(), "LANG=en_US.UTF-8", "HOME="+d.home,
		"XDG_CONFIG_HOME="+filepath.Join(d.home, ".config"), "XDG_CACHE_HOME="+filepath.Join(d.home, ".cache"))
	log, err := os.Create(filepath.Join(t.TempDir(), "window.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &running{cmd: cmd, done: make(chan error, 1)}
	go func() { r.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-r.done
		r.done <- nil
		log.Close()
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("window log:\n%s", out)
		}
	})
	return r
}

// tooltipSays waits until the tray's tooltip is want (the window shows the stage there).
func tooltipSays(t *testing.T, item *dbustest.Item, want string, within time.Duration) {
	t.Helper()
	if _, err := item.WaitToolTip(within, func(tt dbustest.ToolTip) bool { return tt.Title == want }); err != nil {
		tt, _ := item.ToolTip()
		t.Fatalf("tray tooltip %q, want %q: %v", tt.Title, want, err)
	}
}

// The tray shows each stage with its own icon and says it in the tooltip, and the notifications say
// failover, no service, the alternate, normal service again: in that order, and nothing else.
func TestWindowTrayAndNotificationsThroughAFailover(t *testing.T) {
	d := startDesktop(t)
	pair := labtest.Pair(t, lab.ServerOptions{})
	timers := lab.LabTimers
	timers.FailbackHolddown = 3 * time.Second
	cfgPath := writePhoneConfig(t, pair, timers)
	win := d.window(t, cfgPath)
	item, err := d.tray.WaitItem(15 * time.Second)
	if err != nil {
		t.Fatalf("no tray icon registered: %v", err)
	}
	icons := map[string]string{} // icon hash -> stage
	seeStage := func(stage, tip string, within time.Duration) {
		t.Helper()
		tooltipSays(t, item, "Stayline: "+tip, within)
		icon, err := item.Icon()
		if err != nil || icon.Empty() {
			t.Fatalf("%s: tray icon empty (%v, %v)", stage, icon, err)
		}
		if other, ok := icons[icon.Hash()]; ok && other != stage {
			t.Errorf("%s shows the tray icon of %s", stage, other)
		}
		icons[icon.Hash()] = stage
	}
	seeStage("normal", "normal service on home", 15*time.Second)
	if err := pair.Home.Kill(); err != nil {
		t.Fatal(err)
	}
	seeStage("alternate", "limited service on the alternate server alternate", 10*time.Second)
	if err := pair.Alternate.Kill(); err != nil {
		t.Fatal(err)
	}
	seeStage("noservice", "no service", 10*time.Second)
	if err := pair.Alternate.Start(); err != nil {
		t.Fatal(err)
	}
	seeStage("alternate", "limited service on the alternate server alternate", 15*time.Second)
	if err := pair.Home.Start(); err != nil {
		t.Fatal(err)
	}
	seeStage("normal", "normal service on home", 30*time.Second)

	got, _ := d.notes.Wait(4, 5*time.Second)
	time.Sleep(time.Second) // nothing else may follow
	got = d.notes.List()
	want := []string{"Stayline: failover", "Stayline: no service", "Stayline: limited service", "Stayline: normal service"}
	var titles []string
	for _, n := range got {
		titles = append(titles, n.Summary)
	}
	if strings.Join(titles, "|") != strings.Join(want, "|") {
		t.Fatalf("notifications %q, want %q", titles, want)
	}
	for _, n := range got {
		t.Logf("notification %q: %q", n.Summary, n.Body)
	}
	if len(icons) < 3 {
		t.Errorf("tray icons seen %v: want one per stage", icons)
	}
	if err := win.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(win, 10*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// Quitting from the tray during failover, answering the question, exits 0: twenty times in a row (it
// crashed 9 times in 10 when the tray's bus closed before the phone's last stage events).
func TestQuitFromTheTrayDuringFailover(t *testing.T) {
	d := startDesktop(t)
	pair := labtest.Pair(t, lab.ServerOptions{})
	cfgPath := writePhoneConfig(t, pair, lab.LabTimers)
	if err := pair.Home.Kill(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		win := d.window(t, cfgPath)
		item, err := d.tray.WaitItem(15 * time.Second)
		if err != nil {
			t.Fatalf("run %d: no tray icon: %v", i, err)
		}
		tooltipSays(t, item, "Stayline: limited service on the alternate server alternate", 15*time.Second)
		if err := item.ClickMenu("Quit"); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if err := waitExit(win, 500*time.Millisecond); err == nil || !strings.Contains(err.Error(), "still running") {
			t.Fatalf("run %d: quit during failover without asking (%v)", i, err)
		}
		d.confirm(t, "Quit")
		if err := waitExit(win, 10*time.Second); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if err := item.WaitGone(5 * time.Second); err != nil {
			t.Fatalf("run %d: tray icon left behind: %v", i, err)
		}
	}
}

// confirm answers the window's open question with its button labelled label, from the keyboard: Tab
// to it, Space.
func (d *fakeDesktop) confirm(t *testing.T, label string) {
	t.Helper()
	xdo := func(args ...string) {
		cmd := exec.Command("xdotool", args...)
		cmd.Env = append(os.Environ(), "DISPLAY="+d.x.display)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("xdotool %v: %v %s", args, err, out)
		}
	}
	xdo("search", "--sync", "--name", "^Stayline$", "windowfocus", "--sync")
	xdo("key", "--delay", "100", "Tab", "Tab", "space")
}

// waitExit waits for r to end and says how it ended.
func waitExit(r *running, within time.Duration) error {
	select {
	case err := <-r.done:
		r.done <- err // for the next look
		if err != nil {
			return fmt.Errorf("exit: %w", err)
		}
		return nil
	case <-time.After(within):
		return fmt.Errorf("still running after %s", within)
	}
}

// Quitting from the tray in normal service asks nothing and exits 0; with no service it asks first
// (retries stop), and exits 0 once answered.
func TestQuitFromTheTrayInNormalServiceAndWithNoService(t *testing.T) {
	d := startDesktop(t)
	pair := labtest.Pair(t, lab.ServerOptions{})
	cfgPath := writePhoneConfig(t, pair, lab.LabTimers)
	win, item := d.windowInTray(t, cfgPath, "Stayline: normal service on home")
	if err := item.ClickMenu("Quit"); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(win, 10*time.Second); err != nil {
		t.Fatalf("quit in normal service: %v", err)
	}
	if err := item.WaitGone(5 * time.Second); err != nil {
		t.Fatal(err)
	}

	if err := pair.Home.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := pair.Alternate.Kill(); err != nil {
		t.Fatal(err)
	}
	win, item = d.windowInTray(t, cfgPath, "Stayline: no service")
	if err := item.ClickMenu("Quit"); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(win, 500*time.Millisecond); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("quit with no service without asking (%v)", err)
	}
	d.confirm(t, "Quit")
	if err := waitExit(win, 10*time.Second); err != nil {
		t.Fatalf("quit with no service: %v", err)
	}
}

// Quitting while the pointer moves over the window exits 0, ten times in a row (Fyne 2.7 crashed on a
// pointer event reaching a window it was destroying: 6 times in 10 before the window was hidden first).
func TestQuitWhileThePointerMoves(t *testing.T) {
	d := startDesktop(t)
	pair := labtest.Pair(t, lab.ServerOptions{})
	cfgPath := writePhoneConfig(t, pair, lab.LabTimers)
	move := func(x, y string) {
		cmd := exec.Command("xdotool", "mousemove", x, y)
		cmd.Env = append(os.Environ(), "DISPLAY="+d.x.display)
		cmd.Run()
	}
	for i := 0; i < 10; i++ {
		win := d.window(t, cfgPath)
		item, err := d.tray.WaitItem(15 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		tooltipSays(t, item, "Stayline: normal service on home", 15*time.Second)
		moving := make(chan struct{})
		go func() { // over the number field (a text cursor) and off it, through the quit
			defer close(moving)
			for j := 0; j < 40; j++ {
				move("100", "360")
				move("300", "200")
			}
		}()
		if err := item.ClickMenu("Quit"); err != nil {
			t.Fatal(err)
		}
		if err := waitExit(win, 10*time.Second); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		<-moving
		if err := item.WaitGone(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

// The idle window parks Fyne's loop (app/idle.go) and still answers at once: the tray's Quit (a D-Bus
// message) in normal service, the phone's events (a failover, shown in the tray), and the keyboard (the
// quit question during failover, answered with keys).
func TestIdleWindowParksAndWakesForTheTrayEventsAndKeys(t *testing.T) {
	d := startDesktop(t)
	pair := labtest.Pair(t, lab.ServerOptions{})
	cfgPath := writePhoneConfig(t, pair, lab.LabTimers)
	win, item := d.windowInTray(t, cfgPath, "Stayline: normal service on home")
	waitParked(t, win, 15*time.Second)
	if err := item.ClickMenu("Quit"); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(win, 3*time.Second); err != nil {
		t.Fatalf("the tray's Quit did not reach the parked window: %v", err)
	}

	win, item = d.windowInTray(t, cfgPath, "Stayline: normal service on home")
	waitParked(t, win, 15*time.Second)
	if err := pair.Home.Kill(); err != nil {
		t.Fatal(err)
	}
	tooltipSays(t, item, "Stayline: limited service on the alternate server alternate", 15*time.Second)
	if err := item.ClickMenu("Quit"); err != nil {
		t.Fatal(err)
	}
	waitParked(t, win, 15*time.Second) // the question is open, and nothing moves
	d.confirm(t, "Quit")
	if err := waitExit(win, 5*time.Second); err != nil {
		t.Fatalf("the keys did not reach the parked window: %v", err)
	}
}

// writePhoneConfig writes 1001's configuration on pair with timers, and says where.
func writePhoneConfig(t *testing.T, pair *lab.Pair, timers lab.Timers) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "phone.toml")
	if err := os.WriteFile(path, []byte(pair.PhoneConfig("1001", timers, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// windowInTray runs the window and waits until its tray icon's tooltip says want.
func (d *fakeDesktop) windowInTray(t *testing.T, cfgPath, want string) (*running, *dbustest.Item) {
	t.Helper()
	win := d.window(t, cfgPath)
	item, err := d.tray.WaitItem(15 * time.Second)
	if err != nil {
		t.Fatalf("no tray icon registered: %v", err)
	}
	tooltipSays(t, item, want, 15*time.Second)
	return win, item
}

// waitParked waits until the window's main thread (Fyne's loop: 60 wake-ups a second while it runs)
// sleeps through a whole second.
func waitParked(t *testing.T, r *running, within time.Duration) {
	t.Helper()
	pid := r.cmd.Process.Pid
	deadline := time.Now().Add(within)
	last := -1
	for time.Now().Before(deadline) {
		n, err := threadSwitches(pid, pid)
		if err != nil {
			t.Fatal(err)
		}
		if last >= 0 && n-last <= 3 {
			return
		}
		last = n
		time.Sleep(time.Second)
	}
	t.Fatalf("the idle window's loop did not park within %s", within)
}

// threadSwitches is a thread's context switches so far.
func threadSwitches(pid, tid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/status", pid, tid))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
			c, _ := strconv.Atoi(strings.TrimSpace(v))
			n += c
		}
		if v, ok := strings.CutPrefix(line, "nonvoluntary_ctxt_switches:"); ok {
			c, _ := strconv.Atoi(strings.TrimSpace(v))
			n += c
		}
	}
	return n, nil
}
