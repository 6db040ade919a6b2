package lab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"time"
)

// Measuring a test tone in recorded sound: how clean it is (its SNR, window by window) and when it began.
// A tone that clicks, drops out or slips shows as a window whose SNR falls: a 20 ms gap in a half-second
// brings it to about 14 dB, a slip of one sample at 440 Hz to about 27 dB; clean G.711 reaches about 38 dB.
// The windows of a call start a little after the tone's onset (OnsetSettle): its first instant, a codec's
// or resampler's filter filling, is no click but would count as one.

// OnsetSettle is how long after its onset a tone is measured from.
const OnsetSettle = 20 * time.Millisecond

// WriteToneWAV writes a WAV file (16-bit mono) of a freq Hz sine at rate lasting d, at about -12 dBFS.
func WriteToneWAV(path string, rate, freq int, d time.Duration) error {
	return os.WriteFile(path, toneWAV(rate, freq, d), 0o644)
}

// WriteWAV writes samples (16-bit mono at rate) as a WAV file.
func WriteWAV(path string, samples []int16, rate int) error {
	n := len(samples)
	b := make([]byte, 44+2*n)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], uint32(rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(2*rate))
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(s))
	}
	return os.WriteFile(path, b, 0o644)
}

// ReadWAV reads a 16-bit PCM WAV file; of several channels, the first.
func ReadWAV(path string) (samples []int16, rate int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, fmt.Errorf("%s is not a WAV file", path)
	}
	channels, bits := 0, 0
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:]))
		body := b[off+8:]
		if size > len(body) || size < 0 { // a file still being written: take what is there
			size = len(body)
		}
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, 0, errors.New("short fmt chunk")
			}
			channels = int(binary.LittleEndian.Uint16(body[2:]))
			rate = int(binary.LittleEndian.Uint32(body[4:]))
			bits = int(binary.LittleEndian.Uint16(body[14:]))
		case "data":
			if channels == 0 || bits != 16 {
				return nil, 0, fmt.Errorf("%s: %d channels of %d bits: only 16-bit PCM is read", path, channels, bits)
			}
			step := 2 * channels
			for i := 0; i+step <= size; i += step {
				samples = append(samples, int16(binary.LittleEndian.Uint16(body[i:])))
			}
			return samples, rate, nil
		}
		off += 8 + size + size%2
	}
	return nil, 0, fmt.Errorf("%s has no data", path)
}

// toneFit finds the sine nearest freq (within ±3 Hz, to 0.05 Hz) in x and returns its power and the
// power of everything else (DC removed).
func toneFit(x []int16, rate int, freq float64) (tone, rest float64) {
	n := float64(len(x))
	if n == 0 {
		return 0, 0
	}
	mean := 0.0
	for _, v := range x {
		mean += float64(v)
	}
	mean /= n
	total := 0.0
	for _, v := range x {
		d := float64(v) - mean
		total += d * d
	}
	total /= n
	power := func(f float64) float64 {
		// Goertzel: the power of the component at f.
		w := 2 * math.Pi * f / float64(rate)
		c := 2 * math.Cos(w)
		var s1, s2 float64
		for _, v := range x {
			s0 := float64(v) - mean + c*s1 - s2
			s2, s1 = s1, s0
		}
		re := s1 - s2*math.Cos(w)
		im := s2 * math.Sin(w)
		return 2 * (re*re + im*im) / (n * n)
	}
	best, bestF := 0.0, freq
	for f := freq - 3; f <= freq+3; f += 0.25 {
		if p := power(f); p > best {
			best, bestF = p, f
		}
	}
	for f := bestF - 0.25; f <= bestF+0.25; f += 0.05 {
		best = max(best, power(f))
	}
	return min(best, total), max(total-best, 0)
}

// ToneSNR is the SNR (dB) of the freq Hz tone in each whole window of x.
func ToneSNR(x []int16, rate int, freq float64, window time.Duration) []float64 {
	w := int(int64(rate) * int64(window) / int64(time.Second))
	var out []float64
	for i := 0; w > 0 && i+w <= len(x); i += w {
		tone, rest := toneFit(x[i:i+w], rate, freq)
		switch {
		case tone == 0:
			out = append(out, -99)
		case rest <= tone*1e-10:
			out = append(out, 99)
		default:
			out = append(out, 10*math.Log10(tone/rest))
		}
	}
	return out
}

// ToneOnset is the index of the first sample of the first 10 ms block of x (in steps of 1 ms) in which
// the freq Hz tone is present (louder than -50 dBFS and 10 dB above the rest); -1 if it never is.
func ToneOnset(x []int16, rate int, freq float64) int {
	block := rate / 100
	for i := 0; i+block <= len(x); i += max(1, rate/1000) {
		tone, rest := toneFit(x[i:i+block], rate, freq)
		if tone > 32768*32768*1e-5 && tone > 10*rest {
			return i
		}
	}
	return -1
}

// SNRSummary sums up windows of ToneSNR.
type SNRSummary struct {
	Windows  int
	Min      float64
	Median   float64
	Max      float64
	Under30  int // windows under 30 dB
	Spoilt   []int
	Sequence []float64
}

// SummarizeSNR sums up a series of window SNRs.
func SummarizeSNR(snr []float64) SNRSummary {
	s := SNRSummary{Windows: len(snr), Sequence: snr}
	if len(snr) == 0 {
		return s
	}
	sorted := slices.Clone(snr)
	slices.Sort(sorted)
	s.Min, s.Max, s.Median = sorted[0], sorted[len(sorted)-1], sorted[len(sorted)/2]
	for i, v := range snr {
		if v < 30 {
			s.Under30++
			s.Spoilt = append(s.Spoilt, i)
		}
	}
	return s
}

func (s SNRSummary) String() string {
	return fmt.Sprintf("%d half-seconds: min %.1f dB, median %.1f dB, max %.1f dB, %d under 30 dB", s.Windows, s.Min,
		s.Median, s.Max, s.Under30)
}
