package lab

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"
)

// FreePort finds a loopback port free for both UDP and TCP. Ports are drawn at random from a range the
// kernel does not hand out as ephemeral ports, so test packages running in parallel do not collide.
func FreePort() (int, error) {
	for try := 0; try < 200; try++ {
		port := 20000 + rand.IntN(12000)
		if portFree("127.0.0.1", port) && portFree("127.0.0.1", port+1) { // port+1: a TLS listener beside
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port found for the lab")
}

func portFree(ip string, port int) bool {
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	defer u.Close()
	t, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	t.Close()
	return true
}

func waitPortFree(ip string, port int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for !portFree(ip, port) {
		if time.Now().After(deadline) {
			return fmt.Errorf("port %d still busy after %s", port, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// Ping sends one SIP OPTIONS over UDP to addr and waits up to timeout for any answer.
func Ping(addr string, timeout time.Duration) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	local := c.LocalAddr().String()
	host, port, _ := net.SplitHostPort(local)
	branch := fmt.Sprintf("z9hG4bK-lab-%d", rand.Int64())
	msg := strings.Join([]string{
		"OPTIONS sip:" + addr + " SIP/2.0",
		"Via: SIP/2.0/UDP " + net.JoinHostPort(host, port) + ";branch=" + branch + ";rport",
		"From: <sip:lab@" + host + ">;tag=lab" + port,
		"To: <sip:" + addr + ">",
		"Call-ID: " + branch + "@lab",
		"CSeq: 1 OPTIONS",
		"Max-Forwards: 70",
		"Content-Length: 0",
		"", "",
	}, "\r\n")
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 ") {
		return fmt.Errorf("not a SIP answer: %q", buf[:min(n, 40)])
	}
	return nil
}

func waitReady(addr string, within time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(within)
	for {
		if err := Ping(addr, 100*time.Millisecond); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("no answer to OPTIONS on %s after %s: %w", addr, within, err)
		}
		select {
		case <-exited:
			return fmt.Errorf("kamailio exited during start")
		default:
		}
	}
}
