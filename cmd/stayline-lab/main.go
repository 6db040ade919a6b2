// stayline-lab runs Stayline's lab: two Kamailio registrars on loopback (home and alternate), so a phone
// can be watched failing over.
//
//	stayline-lab up                    start home (5060) and alternate (5070), write DIR/phone.toml
//	stayline-lab down                  stop both
//	stayline-lab kill home|alternate   kill -9 one of them (its whole process group)
//	stayline-lab start home|alternate  start it again
//	stayline-lab status                which are running
//	stayline-lab run -- CMD [ARGS...]  run CMD against the user's configuration if there is one, else
//	                                   against a lab started for it (-config DIR/phone.toml is appended)
//
// Not in the usage text: `stayline-lab echo -port N` runs the lab's echo test (600) in the foreground until
// SIGTERM or SIGINT; `up` starts it so, as a process of its own that `down` kills by its pid.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"stayline/config"
	"stayline/lab"
)

func main() {
	dir := flag.String("dir", defaultDir(), "the lab's directory (logs, pid files, phone.toml)")
	homePort := flag.Int("home-port", 5060, "home server port (0: any free port)")
	altPort := flag.Int("alternate-port", 5070, "alternate server port (0: any free port)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: stayline-lab [flags] up|down|status|kill NAME|start NAME|run -- CMD...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := do(*dir, *homePort, *altPort, args); err != nil {
		fmt.Fprintln(os.Stderr, "stayline-lab:", err)
		os.Exit(1)
	}
}

func defaultDir() string {
	if d := os.Getenv("STAYLINE_LAB_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("stayline-lab-%d", os.Getuid()))
}

func do(dir string, homePort, altPort int, args []string) error {
	switch args[0] {
	case "up":
		_, err := up(dir, homePort, altPort)
		return err
	case "down":
		p, err := lab.OpenPair(dir)
		if err != nil {
			return err
		}
		stopEcho(p)
		return p.Stop()
	case "status":
		p, err := lab.OpenPair(dir)
		if err != nil {
			return err
		}
		for _, s := range []*lab.Server{p.Home, p.Alternate} {
			state := "stopped"
			if s.Running() {
				pid, _ := s.Pid()
				state = fmt.Sprintf("running (pid %d)", pid)
			}
			fmt.Printf("%-9s %s  %s  log: %s\n", s.Name, s.Addr(), state, s.LogFile())
		}
		return nil
	case "kill", "start":
		if len(args) != 2 {
			return fmt.Errorf("%s needs a server name: home or alternate", args[0])
		}
		p, err := lab.OpenPair(dir)
		if err != nil {
			return err
		}
		s, err := p.Server(args[1])
		if err != nil {
			return err
		}
		if args[0] == "kill" {
			pid, _ := s.Pid()
			if err := s.Kill(); err != nil {
				return err
			}
			fmt.Printf("killed %s (kill -9 of process group %d)\n", s.Name, pid)
			return nil
		}
		if err := s.Start(); err != nil {
			return err
		}
		fmt.Printf("started %s on %s\n", s.Name, s.Addr())
		return nil
	case "echo":
		return echo(args[1:])
	case "run":
		cmd := args[1:]
		if len(cmd) > 0 && cmd[0] == "--" {
			cmd = cmd[1:]
		}
		if len(cmd) == 0 {
			return errors.New("run needs a command")
		}
		return run(dir, homePort, altPort, cmd)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func up(dir string, homePort, altPort int) (*lab.Pair, error) {
	if old, err := lab.OpenPair(dir); err == nil {
		stopEcho(old)
		old.Stop()
	}
	// The echo test (600), which both registrars route to: a process of its own (stayline-lab echo).
	echoPort, err := lab.FreePort()
	if err != nil {
		return nil, err
	}
	echo, err := lab.StartEcho(dir, echoPort)
	if err != nil {
		return nil, fmt.Errorf("echo test: %w", err)
	}
	// The voicemail stand-in, so the message-waiting lamp lights on home.
	vmPort, err := lab.FreePort()
	if err != nil {
		echo.Stop()
		return nil, err
	}
	vm, err := lab.StartVoicemail(dir, vmPort)
	if err != nil {
		echo.Stop()
		return nil, fmt.Errorf("voicemail: %w", err)
	}
	p, err := lab.NewPair(dir, homePort, altPort, lab.ServerOptions{EchoAddr: fmt.Sprintf("127.0.0.1:%d", echoPort),
		VoicemailAddr: fmt.Sprintf("127.0.0.1:%d", vmPort)})
	if err != nil {
		echo.Stop()
		vm.Stop()
		return nil, err
	}
	p.SetEchoPid(echo.Pid())
	p.SetVoicemailPid(vm.Pid())
	if err := p.Start(); err != nil {
		echo.Stop()
		vm.Stop()
		return nil, fmt.Errorf("%w\n(are ports %d and %d in use? try -home-port 0 -alternate-port 0)", err, homePort, altPort)
	}
	cfgPath := filepath.Join(dir, "phone.toml")
	if err := os.WriteFile(cfgPath, []byte(p.PhoneConfig("1001", lab.LabTimers, "")), 0o600); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "lab up: home %s, alternate %s, echo test on 600; phone configuration %s\n",
		p.Home.Addr(), p.Alternate.Addr(), cfgPath)
	return p, nil
}

// echo runs the echo test in the foreground until SIGTERM or SIGINT.
func echo(args []string) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	port := fs.Int("port", 0, "SIP port (UDP and TCP)")
	ip := fs.String("ip", "127.0.0.1", "address to listen on")
	maxCall := fs.Duration("max-call", lab.DefaultEchoMaxCall, "hang up calls after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *port <= 0 || fs.NArg() > 0 {
		return errors.New("usage: stayline-lab echo -port N [-ip ADDRESS] [-max-call DURATION]")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	return lab.RunEcho(ctx, net.JoinHostPort(*ip, strconv.Itoa(*port)), lab.EchoOptions{MaxCall: *maxCall, Logger: log})
}

// stopEcho kills the lab's echo test and voicemail by the process ids the lab recorded.
func stopEcho(p *lab.Pair) {
	for _, pid := range []int{p.EchoPid(), p.VoicemailPid()} {
		if pid > 1 {
			syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
}

// run starts cmd with the user's own configuration when there is one; otherwise it brings the lab up for
// the length of cmd.
func run(dir string, homePort, altPort int, cmd []string) error {
	if userCfg, err := config.DefaultPath(); err == nil {
		if _, err := os.Stat(userCfg); err == nil {
			fmt.Fprintf(os.Stderr, "using your configuration %s\n", userCfg)
			return runCmd(append(cmd, "-config", userCfg))
		}
	}
	p, err := up(dir, homePort, altPort)
	if err != nil {
		return err
	}
	defer func() {
		stopEcho(p)
		p.Stop()
	}()
	fmt.Fprintf(os.Stderr, "no configuration of yours found: running against the lab.\n"+
		"Type dial 600 for the echo test, status, hangup, or quit.\n"+
		"In another terminal: make lab-kill-home (watch the failover), make lab-start-home (watch the failback).\n")
	return runCmd(append(cmd, "-config", filepath.Join(dir, "phone.toml")))
}

func runCmd(argv []string) error {
	c := exec.Command(argv[0], argv[1:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The phone handles Ctrl-C itself (it unregisters); the lab waits for it.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	defer signal.Reset(os.Interrupt, syscall.SIGTERM)
	return c.Run()
}
