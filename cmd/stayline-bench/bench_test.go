package main

import (
	"os"
	"testing"

	"stayline/internal/figures"
)

func TestMedianAndFormat(t *testing.T) {
	for _, c := range []struct {
		v    []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {nil, 0}} {
		if got := (&figure{values: c.v}).median(); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.v, got, c.want)
		}
	}
	for v, want := range map[float64]string{12: "12", 1147.4: "1147", 2.834: "2.83", 0.0054: "0.005"} {
		if got := figures.Format(v); got != want {
			t.Errorf("format(%v) = %q, want %q", v, got, want)
		}
	}
	if !selected("cpu", "rss,cpu") || selected("call.setup", "cpu") || !selected("anything", "") {
		t.Error("selected() chose wrongly")
	}
}

func TestProcReaders(t *testing.T) {
	pid := os.Getpid()
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = 1 // touch it: resident
	}
	rss, err := rssMB(pid)
	if err != nil || rss < 64 {
		t.Fatalf("rss = %v MB, %v; want ≥ 64 after touching 64 MB", rss, err)
	}
	anon, err := statusMB(pid, "RssAnon:")
	if err != nil || anon < 64 || anon > rss {
		t.Fatalf("RssAnon = %v MB, %v (rss %v)", anon, err, rss)
	}
	if _, err := cpuSeconds(pid); err != nil {
		t.Fatal(err)
	}
	if r, err := rendererMB(pid); err != nil || r != 0 {
		t.Fatalf("a test binary has %v MB of GL renderer (%v), want 0", r, err)
	}
	_ = buf[len(buf)-1]
}
