// Package instance keeps one Stayline running per user (per configuration directory): the first run
// listens on a local socket beside the configuration; a later run (click-to-dial from a sip: or tel:
// link, or a second start) hands its request to it and exits.
package instance

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
)

// SocketPath is the running instance's socket for the configuration at configPath.
func SocketPath(configPath string) string {
	return filepath.Join(filepath.Dir(configPath), "stayline.sock")
}

// Handler answers a request from another run: "dial TARGET" or "show". A nil error is "ok".
type Handler func(command, arg string) error

// Listener is the running instance's socket.
type Listener struct {
	l    net.Listener
	path string
}

// ErrRunning says another instance owns the socket.
var ErrRunning = errors.New("another Stayline is running for this configuration")

// Listen claims the socket at path. A socket left by a run that crashed (nobody answers on it) is taken
// over; a live one gives ErrRunning.
func Listen(path string) (*Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		if c, derr := net.DialTimeout("unix", path, time.Second); derr == nil {
			c.Close()
			return nil, ErrRunning
		}
		os.Remove(path) // stale: its owner is gone
		if l, err = net.Listen("unix", path); err != nil {
			return nil, fmt.Errorf("instance socket %s: %w", path, err)
		}
	}
	os.Chmod(path, 0o600)
	return &Listener{l: l, path: path}, nil
}

// Serve answers requests until ctx ends; then the socket is removed.
func (l *Listener) Serve(ctx context.Context, h Handler, log *slog.Logger) {
	go func() {
		<-ctx.Done()
		l.l.Close()
		os.Remove(l.path)
	}()
	for {
		c, err := l.l.Accept()
		if err != nil {
			return
		}
		go serveOne(c, h, log)
	}
}

func serveOne(c net.Conn, h Handler, log *slog.Logger) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && line == "" {
		return
	}
	command, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	var reply string
	switch {
	case len(line) > 2048 || strings.IndexFunc(arg, unicode.IsControl) >= 0:
		reply = "error bad request"
	case command != "dial" && command != "show":
		reply = "error unknown request " + fmt.Sprintf("%.20q", command)
	default:
		if err := h(command, arg); err != nil {
			reply = "error " + strings.ReplaceAll(err.Error(), "\n", " ")
		} else {
			reply = "ok"
		}
	}
	log.Info("request from another run", "command", command, "arg", arg, "reply", reply)
	fmt.Fprintln(c, reply)
}

// Send hands a request to the running instance at path. ok is false when none is running.
func Send(path, command, arg string) (ok bool, err error) {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false, nil
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "%s %s\n", command, arg); err != nil {
		return true, err
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return true, fmt.Errorf("no answer from the running Stayline: %w", err)
	}
	reply = strings.TrimSpace(reply)
	if msg, isErr := strings.CutPrefix(reply, "error "); isErr {
		return true, errors.New(msg)
	}
	return true, nil
}

// DialTarget turns a link's URI into what the phone dials: sip:/sips: addresses as they are (without
// their parameters and headers), tel: and callto: numbers without visual separators (RFC 3966). Plain
// numbers pass through.
func DialTarget(uri string) (string, error) {
	uri = strings.TrimSpace(uri)
	scheme, rest, hasScheme := strings.Cut(uri, ":")
	if !hasScheme || strings.ContainsAny(scheme, "@/") {
		scheme, rest = "", uri
	}
	switch strings.ToLower(scheme) {
	case "sip", "sips":
		rest = strings.TrimPrefix(rest, "//")
		if i := strings.IndexAny(rest, ";?"); i >= 0 {
			rest = rest[:i]
		}
		user, host, found := strings.Cut(rest, "@")
		if !found || user == "" || host == "" || strings.ContainsAny(rest, " <>\"") {
			return "", fmt.Errorf("%q is not a SIP address to call", uri)
		}
		return strings.ToLower(scheme) + ":" + rest, nil
	case "tel", "callto", "":
		rest = strings.TrimPrefix(rest, "//")
		if i := strings.IndexAny(rest, ";?"); i >= 0 {
			rest = rest[:i]
		}
		if u, err := url.PathUnescape(rest); err == nil { // "+1%20555..." from a web page
			rest = u
		}
		var b strings.Builder
		for i, r := range rest {
			switch {
			case r >= '0' && r <= '9', r == '*', r == '#', r == '+' && i == 0:
				b.WriteRune(r)
			case strings.ContainsRune("-.() ", r): // visual separators
			default:
				if scheme == "" && strings.Contains(rest, "@") {
					return rest, nil // user@host without a scheme
				}
				return "", fmt.Errorf("%q is not a number to call", uri)
			}
		}
		n := b.String()
		if n == "" || n == "+" {
			return "", fmt.Errorf("%q has no number to call", uri)
		}
		return n, nil
	}
	return "", fmt.Errorf("%q: links of kind %q are not phone calls", uri, scheme)
}
