package main

import (
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// The Go floor: what a Go program pays for a 20 ms media clock alone (a timer, one 172-byte UDP packet a
// tick, a non-blocking read), with none of Stayline's work. It is run as this program with -floor, and
// measured like the phones, to show how much of Stayline's CPU is the runtime's wake-ups.

// runFloor is the -floor mode: tick for d, sending to addr.
func runFloor(addr string, d time.Duration) {
	dst, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		os.Exit(2)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		os.Exit(2)
	}
	pkt, buf := make([]byte, 172), make([]byte, 1500)
	next, end := time.Now(), time.Now().Add(d)
	timer := time.NewTimer(0)
	for time.Now().Before(end) {
		<-timer.C
		c.SetReadDeadline(time.Now().Add(-time.Second))
		c.ReadFromUDP(buf)
		c.WriteToUDP(pkt, dst)
		next = next.Add(20 * time.Millisecond)
		timer.Reset(time.Until(next))
	}
}

// floorCPU runs the floor for callLength and returns its CPU seconds.
func floorCPU() (float64, error) {
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer sink.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := sink.ReadFromUDP(buf); err != nil {
				return
			}
		}
	}()
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(self, "-floor", sink.LocalAddr().String())
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer waitOrKill(cmd, callLength+5*time.Second)
	time.Sleep(100 * time.Millisecond) // its start-up is not the clock's cost
	return cpuOver(cmd.Process.Pid, callLength-time.Second)
}
