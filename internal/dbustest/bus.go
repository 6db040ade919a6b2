// Package dbustest gives tests a private D-Bus session bus with fake desktop services on it, so a test
// can run the real Stayline window (Fyne under Xvfb) and read from the bus what the phone puts in the
// system tray and which desktop notifications it sends.
//
// On Linux, Fyne's tray is fyne.io/systray: a StatusNotifierItem exported on the session bus and
// registered with org.kde.StatusNotifierWatcher. Fyne's notifications are one call of
// org.freedesktop.Notifications.Notify on the session bus (only a binary built with -tags flatpak uses
// the xdg-desktop-portal instead). A test starts a Bus, the fakes it wants on it (a Watcher for a
// desktop with a tray, Notifications for a notification daemon), and gives the child process the bus
// through DBUS_SESSION_BUS_ADDRESS (Bus.Env):
//
//	bus := dbustest.StartBus(t)
//	tray := dbustest.StartWatcher(t, bus)
//	notes := dbustest.StartNotifications(t, bus)
//	cmd.Env = append(os.Environ(), bus.Env(), "DISPLAY=:99")
//	item, err := tray.WaitItem(10 * time.Second)
//
// The bus is a dbus-daemon of the test's own (Debian package dbus-daemon), started and stopped by its
// process id. Its configuration has no service directories, so nothing is ever activated on it: a name
// no fake owns (the tray watcher on a desktop without a tray, the portal) fails at once with
// org.freedesktop.DBus.Error.ServiceUnknown instead of starting real desktop services.
package dbustest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// DaemonProgram is the message bus daemon StartBus runs.
const DaemonProgram = "dbus-daemon"

// startTimeout bounds how long the daemon may take to print its address; stopTimeout how long it may
// take to exit after SIGTERM before it is killed.
const (
	startTimeout = 10 * time.Second
	stopTimeout  = 3 * time.Second
)

// busConfig is the daemon's whole configuration: a session bus on one Unix socket, open to its own
// user, with no service directories (so no activation).
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// Bus is a running private session bus.
type Bus struct {
	// Address is the bus address, the value for DBUS_SESSION_BUS_ADDRESS.
	Address string

	dir     string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	stop    sync.Once
	stopErr error
}

// StartBus starts a private session bus that stops when the test ends. When dbus-daemon is not
// installed it skips the test, or fails it if STAYLINE_REQUIRE_LAB is set (make test sets it).
func StartBus(t testing.TB) *Bus {
	t.Helper()
	needDaemon(t)
	b, err := NewBus()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("stop private D-Bus: %v", err)
		}
	})
	return b
}

func needDaemon(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath(DaemonProgram); err != nil {
		if os.Getenv("STAYLINE_REQUIRE_LAB") != "" {
			t.Fatalf("%s is not installed (Debian package dbus); make test installs it", DaemonProgram)
		}
		t.Skipf("%s is not installed (Debian package dbus; make test installs it)", DaemonProgram)
	}
}

// NewBus starts a private session bus in a new directory under the system's temporary directory (a
// short path, as a Unix socket's must be). Close stops it and removes the directory.
func NewBus() (*Bus, error) {
	dir, err := os.MkdirTemp("", "stayline-dbus-")
	if err != nil {
		return nil, fmt.Errorf("private D-Bus: %w", err)
	}
	b, err := startDaemon(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return b, nil
}

func startDaemon(dir string) (*Bus, error) {
	config := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(busConfig, filepath.Join(dir, "bus"))), 0o600); err != nil {
		return nil, fmt.Errorf("private D-Bus: write configuration: %w", err)
	}
	logPath := filepath.Join(dir, "dbus-daemon.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("private D-Bus: %w", err)
	}
	defer logFile.Close()
	addrR, addrW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("private D-Bus: address pipe: %w", err)
	}
	defer addrR.Close()

	// The daemon gets the pipe as fd 3 (its first extra file) and prints its address there once it
	// listens.
	cmd := exec.Command(DaemonProgram, "--config-file="+config, "--nofork", "--nopidfile", "--print-address=3")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.ExtraFiles = []*os.File{addrW}
	// The daemon dies with this process even when a crash skips Close. Pdeathsig follows the thread
	// that started the child, so start it from a locked thread that outlives the call (the thread goes
	// back to the runtime's pool, which never ends idle threads).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	addrW.Close()
	if err != nil {
		return nil, fmt.Errorf("private D-Bus: start %s: %w", DaemonProgram, err)
	}
	b := &Bus{dir: dir, cmd: cmd, exited: make(chan struct{})}
	go func() {
		b.waitErr = cmd.Wait()
		close(b.exited)
	}()

	addr, err := readAddress(addrR, b.exited)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("private D-Bus: %w (log: %s)", err, readLog(logPath))
	}
	b.Address = addr
	return b, nil
}

// readAddress reads the line the daemon prints its address on, unless it exits or takes too long.
func readAddress(r *os.File, exited <-chan struct{}) (string, error) {
	type line struct {
		text string
		err  error
	}
	got := make(chan line, 1)
	go func() {
		text, err := bufio.NewReader(r).ReadString('\n')
		got <- line{strings.TrimSpace(text), err}
	}()
	select {
	case l := <-got:
		if l.text == "" {
			return "", fmt.Errorf("%s printed no address: %v", DaemonProgram, l.err)
		}
		return l.text, nil
	case <-exited:
		return "", fmt.Errorf("%s exited at start", DaemonProgram)
	case <-time.After(startTimeout):
		return "", fmt.Errorf("%s printed no address within %v", DaemonProgram, startTimeout)
	}
}

func readLog(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if s := strings.TrimSpace(string(data)); s != "" {
		return s
	}
	return "empty"
}

// Env is the environment entry that puts a child process on this bus.
func (b *Bus) Env() string {
	return "DBUS_SESSION_BUS_ADDRESS=" + b.Address
}

// Pid is the process id of the bus daemon.
func (b *Bus) Pid() int {
	return b.cmd.Process.Pid
}

// Connect opens a new private connection to the bus (ready to use: authenticated and named). The
// caller closes it.
func (b *Bus) Connect() (*dbus.Conn, error) {
	return connect(b.Address)
}

// service is a fake that owns a name on a bus: it starts on its connection and closes with it.
type service interface {
	start() error
	Close() error
}

// serve connects to the bus at address, makes the service on that connection and starts it; what names
// it in errors.
func serve[S service](address, what string, make func(*dbus.Conn) S) (S, error) {
	var zero S
	conn, err := connect(address)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	s := make(conn)
	if err := s.start(); err != nil {
		conn.Close()
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	return s, nil
}

// startFor makes a service with newS for the length of test t.
func startFor[S service](t testing.TB, newS func() (S, error)) S {
	t.Helper()
	s, err := newS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func connect(address string) (*dbus.Conn, error) {
	conn, err := dbus.Connect(address)
	if err != nil {
		return nil, fmt.Errorf("connect to D-Bus %s: %w", address, err)
	}
	return conn, nil
}

// Close stops the daemon (SIGTERM to its process id, SIGKILL if it has not exited after a few
// seconds) and removes its directory. It may be called more than once.
func (b *Bus) Close() error {
	b.stop.Do(func() {
		b.stopErr = b.terminate()
		if err := os.RemoveAll(b.dir); err != nil && b.stopErr == nil {
			b.stopErr = fmt.Errorf("private D-Bus: %w", err)
		}
	})
	return b.stopErr
}

func (b *Bus) terminate() error {
	pid := b.cmd.Process.Pid
	select {
	case <-b.exited:
		return fmt.Errorf("private D-Bus: %s (pid %d) had already exited: %v (log: %s)",
			DaemonProgram, pid, b.waitErr, readLog(filepath.Join(b.dir, "dbus-daemon.log")))
	default:
	}
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("private D-Bus: stop pid %d: %w", pid, err)
	}
	select {
	case <-b.exited:
		return nil
	case <-time.After(stopTimeout):
	}
	if err := b.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("private D-Bus: kill pid %d: %w", pid, err)
	}
	<-b.exited
	return fmt.Errorf("private D-Bus: %s (pid %d) ignored SIGTERM for %v and was killed", DaemonProgram, pid, stopTimeout)
}
