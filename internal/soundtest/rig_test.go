package soundtest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"stayline/audio"
	"stayline/config"
	"stayline/internal/core"
	"stayline/lab"
	"stayline/lab/labtest"
	"stayline/phone"
)

// The frequencies: baresip's ausine sends 440 Hz; the phone's microphone is fed 1004 Hz (ITU-T's test tone).
const (
	farTone  = 440
	nearTone = 1004
)

// rig is the phone on a private PulseAudio, registered on Kamailio with baresip (1003) as the far end.
type rig struct {
	t       *testing.T
	dir     string
	pulse   *lab.Pulse
	sinks   map[string]int // name -> module
	k       *lab.Server
	bs      *lab.Baresip
	sndDir  string
	ph      *core.Phone
	speaker *lab.Recording // the speaker sink's monitor, from the start
	mic     *lab.Player    // the near tone played into the microphone sink
}

// rigOptions shape a rig.
type rigOptions struct {
	Rate       int    // the null sinks' rate (the "sound card's")
	Output     string // the phone's audio.output ("" = system default)
	Ringer     string
	RingVolume int
	ExtraSinks []string // more null sinks (a headset, a ringer)
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	labtest.Need(t, "pulseaudio", "pactl", "parecord", "paplay", "kamailio", "baresip")
	if o.Rate == 0 {
		o.Rate = 16000
	}
	if o.RingVolume == 0 {
		o.RingVolume = 100
	}
	r := &rig{t: t, dir: t.TempDir(), sinks: map[string]int{}}
	if keep := os.Getenv("STAYLINE_SOUND_KEEP"); keep != "" { // keep the recordings to listen to them
		r.dir = filepath.Join(keep, t.Name())
		os.RemoveAll(r.dir)
	}
	p, err := lab.StartPulse(filepath.Join(r.dir, "pulse"))
	if err != nil {
		t.Fatal(err)
	}
	r.pulse = p
	t.Cleanup(p.Stop)
	for _, name := range append([]string{"speaker", "mic"}, o.ExtraSinks...) {
		r.loadSink(name, o.Rate)
	}
	if err := p.SetDefaults("speaker", "mic.monitor"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PULSE_SERVER", p.Server())

	r.k = labtest.Server(t, "home", lab.ServerOptions{})
	r.sndDir = filepath.Join(r.dir, "baresip-heard")
	if err := os.MkdirAll(r.sndDir, 0o755); err != nil {
		t.Fatal(err)
	}
	r.bs = labtest.BaresipWith(t, "1003", r.k.Addr(), lab.BaresipOptions{SndPath: r.sndDir, Codecs: "PCMU"})

	near := filepath.Join(r.dir, "near.wav")
	if err := lab.WriteToneWAV(near, 16000, nearTone, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	if r.mic, err = p.Play("mic", near); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.mic.Stop)
	if r.speaker, err = p.Record("speaker.monitor", 16000); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.speaker.Stop() })

	cfg := config.Default()
	cfg.Account = config.Account{User: "1001", Password: lab.Password, Domain: "127.0.0.1"}
	cfg.Servers = []config.Server{{Name: "home", Address: r.k.Addr(), Transport: config.TransportUDP}}
	cfg.SIP.Listen = "127.0.0.1:0"
	cfg.Audio.Backend, cfg.Audio.Output, cfg.Audio.Codecs = "default", o.Output, []string{"PCMU"}
	cfg.Audio.Ringer, cfg.Audio.RingVolume = o.Ringer, o.RingVolume
	// The tones are measured as they were sent: a noise suppressor takes a steady tone for noise, an
	// automatic gain rides it (the echo canceller's own tests measure those, audio/dsp).
	cfg.Audio.EchoCancel, cfg.Audio.NoiseSuppression = "off", false
	logf, err := os.Create(filepath.Join(r.dir, "phone.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	ph, err := core.New(&cfg, core.Options{Logger: slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if ph.Engine.Backend != "default" || ph.Engine.Warning != "" {
		t.Fatalf("sound engine on %q: %s", ph.Engine.Backend, ph.Engine.Warning)
	}
	r.ph = ph
	ph.Manager.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ph.Close(ctx)
	})
	waitFor(t, 10*time.Second, "registered", func() bool { return len(ph.Manager.Status().Registrations) > 0 && registered(ph) })
	return r
}

func registered(ph *core.Phone) bool {
	for _, reg := range ph.Manager.Status().Registrations {
		if reg.Registered {
			return true
		}
	}
	return false
}

func (r *rig) loadSink(name string, rate int) {
	r.t.Helper()
	m, err := r.pulse.NullSink(name, rate)
	if err != nil {
		r.t.Fatal(err)
	}
	r.sinks[name] = m
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// call is one call's record: when it was answered and ended, and its id.
type call struct {
	id               string
	answered, ended  time.Time
	heardFile        string // baresip's recording of what it received
	firstAudioStatus time.Duration
	ports            []audio.PortStats // the engine's flows just before the hang-up
	media            phone.MediaStats  // the call's RTP figures just before the hang-up
}

// placeCall dials baresip, which answers at once, talks for talk, and hangs up.
func (r *rig) placeCall(talk time.Duration) call {
	r.t.Helper()
	before := r.heardFiles()
	if err := r.ph.Manager.Dial("1003"); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.bs.WaitEvent("CALL_INCOMING", 5*time.Second); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.bs.Command("accept", ""); err != nil {
		r.t.Fatal(err)
	}
	var c call
	waitFor(r.t, 5*time.Second, "the answer", func() bool {
		for _, ci := range r.ph.Agent.Calls() {
			if ci.State == phone.CallActive {
				c.id, c.answered = ci.ID, time.Now()
				return true
			}
		}
		return false
	})
	time.Sleep(talk)
	for _, ci := range r.ph.Agent.Calls() {
		if ci.ID == c.id {
			c.firstAudioStatus, c.media = ci.Stats.FirstAudio, ci.Stats
		}
	}
	c.ports = r.ph.Engine.PortStats()
	if err := r.ph.Manager.Hangup(c.id); err != nil {
		r.t.Fatal(err)
	}
	c.ended = time.Now()
	if _, err := r.bs.WaitEvent("CALL_CLOSED", 5*time.Second); err != nil {
		r.t.Fatal(err)
	}
	waitFor(r.t, 5*time.Second, "the call's end", func() bool { return len(r.ph.Agent.Calls()) == 0 })
	time.Sleep(300 * time.Millisecond) // baresip closes its files
	for f := range r.heardFiles() {
		if !before[f] {
			c.heardFile = f
		}
	}
	return c
}

// heardFiles are baresip's recordings of what it received so far.
func (r *rig) heardFiles() map[string]bool {
	m, _ := filepath.Glob(filepath.Join(r.sndDir, "dump-*-dec.wav"))
	out := map[string]bool{}
	for _, f := range m {
		out[f] = true
	}
	return out
}

// measure is one direction of one call: the tone's onset and its SNR per half-second from there.
type measure struct {
	onset  time.Duration // from the answer (the speaker) or from the start of baresip's stream (its ears)
	snr    []float64
	tail   []int16
	source string
}

// speakerSide measures what the phone's speaker played during c: the far tone from its onset, for
// the call's talk time less a half-second at the end (the hang-up).
func (r *rig) speakerSide(c call) measure {
	r.t.Helper()
	time.Sleep(100 * time.Millisecond) // the recorder's latency
	samples := r.speaker.Samples()
	from, to := r.speaker.IndexAt(c.answered), r.speaker.IndexAt(c.ended)
	if from <= 0 || to > len(samples) || from >= to {
		r.t.Fatalf("the speaker's recording (%d samples) does not cover the call (%d-%d)", len(samples), from, to)
	}
	x := samples[from:to]
	on := lab.ToneOnset(x, 16000, farTone)
	onAt := r.speaker.TimeOf(from + on)
	if on < 0 {
		lab.WriteWAV(filepath.Join(r.dir, "speaker-"+c.id+".wav"), x, 16000)
		r.t.Fatalf("the far end's %d Hz never reached the speaker (recording in %s)", farTone, r.dir)
	}
	end := len(x) - 8000
	lab.WriteWAV(filepath.Join(r.dir, "speaker-"+c.id+".wav"), x, 16000)
	return measure{onset: onAt.Sub(c.answered), snr: lab.ToneSNR(x[on+settle(16000):max(on, end)], 16000, farTone, 500*time.Millisecond),
		tail: x, source: "speaker"}
}

// farSide measures what baresip received during c.
func (r *rig) farSide(c call) measure {
	r.t.Helper()
	if c.heardFile == "" {
		r.t.Fatal("baresip's sndfile wrote no recording of the call")
	}
	x, rate, err := lab.ReadWAV(c.heardFile)
	if err != nil {
		r.t.Fatal(err)
	}
	on := lab.ToneOnset(x, rate, nearTone)
	if on < 0 {
		r.t.Fatalf("the microphone's %d Hz never reached baresip (%s)", nearTone, c.heardFile)
	}
	end := len(x) - rate/2
	return measure{onset: time.Duration(on) * time.Second / time.Duration(rate),
		snr: lab.ToneSNR(x[on+settle(rate):max(on, end)], rate, nearTone, 500*time.Millisecond), source: "far end"}
}

// report logs a direction's figures over the calls and fails the test where they miss the targets.
func report(t *testing.T, what string, ms []measure, firstWithin time.Duration, perCall int) {
	t.Helper()
	var all []float64
	var onsets []string
	for _, m := range ms {
		all = append(all, m.snr...)
		onsets = append(onsets, fmt.Sprintf("%.0f ms", m.onset.Seconds()*1000))
	}
	s := lab.SummarizeSNR(all)
	t.Logf("%s: %s; first audio after %s", what, s, strings.Join(onsets, ", "))
	if s.Under30 > 0 {
		var seq []string
		for _, v := range all {
			seq = append(seq, fmt.Sprintf("%.0f", v))
		}
		t.Errorf("%s: %d half-seconds under 30 dB: %s", what, s.Under30, strings.Join(seq, " "))
	}
	if s.Windows < perCall*len(ms) {
		t.Errorf("%s: only %d half-seconds measured in %d calls", what, s.Windows, len(ms))
	}
	for _, m := range ms {
		if firstWithin > 0 && m.onset > firstWithin {
			t.Errorf("%s: first audio %s after the answer (want within %s)", what, m.onset.Round(time.Millisecond), firstWithin)
		}
	}
}

// settle is lab.OnsetSettle in samples at rate.
func settle(rate int) int { return int(lab.OnsetSettle.Seconds() * float64(rate)) }

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
