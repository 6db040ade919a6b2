//go:build linux && cgo

package audio

/*
#include <stdint.h>
#include <stdatomic.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/eventfd.h>

typedef struct sl_ring {
	void *dev;
	int16_t *buf; uint32_t cap;
	_Atomic uint32_t w, r;
	_Atomic uint64_t calls;
	int capture, efd;
	uint32_t every, since;
} sl_ring;

#define SL_MAX 8
static _Atomic(sl_ring*) sl_rings[SL_MAX];

static void sl_data(void *dev, void *out, const void *in, uint32_t frames) {
	sl_ring *r = NULL;
	for (int i = 0; i < SL_MAX; i++) { sl_ring *x = atomic_load(&sl_rings[i]); if (x && x->dev == dev) { r = x; break; } }
	if (!r) { if (out) memset(out, 0, frames*2); return; }
	atomic_fetch_add(&r->calls, 1);
	uint64_t one = 1;
	if (r->capture) {
		uint32_t w = atomic_load(&r->w), rd = atomic_load(&r->r);
		uint32_t space = r->cap - (w - rd), n = frames < space ? frames : space;
		const int16_t *s = in;
		for (uint32_t i = 0; i < n; i++) r->buf[(w + i) & (r->cap-1)] = s[i];
		atomic_store(&r->w, w + n);
		r->since += frames;
		if (r->since >= r->every) { r->since %= r->every; (void)!write(r->efd, &one, 8); }
	} else {
		uint32_t rd = atomic_load(&r->r), w = atomic_load(&r->w);
		uint32_t avail = w - rd, n = frames < avail ? frames : avail;
		int16_t *d = out;
		for (uint32_t i = 0; i < n; i++) d[i] = r->buf[(rd + i) & (r->cap-1)];
		if (n < frames) memset(d + n, 0, (frames-n)*2);
		atomic_store(&r->r, rd + n);
		(void)!write(r->efd, &one, 8);
	}
}

static sl_ring *sl_attach(void *dev, int capture, int efd, uint32_t rate, uint32_t every) {
	char *p = dev;
	if (*(uint32_t*)(p+12) != rate || *(int*)(p+8) != (capture ? 2 : 1) || *(void**)(p+24) == NULL) return NULL;
	sl_ring *r = calloc(1, sizeof *r);
	r->dev = dev; r->cap = 8192; r->buf = calloc(r->cap, 2); r->capture = capture; r->efd = efd; r->every = every;
	for (int i = 0; i < SL_MAX; i++) { sl_ring *z = NULL; if (atomic_compare_exchange_strong(&sl_rings[i], &z, r)) { *(void**)(p+24) = (void*)sl_data; return r; } }
	free(r->buf); free(r); return NULL;
}
static void sl_detach(sl_ring *r) {
	for (int i = 0; i < SL_MAX; i++) { sl_ring *x = r; if (atomic_compare_exchange_strong(&sl_rings[i], &x, NULL)) break; }
	free(r->buf); free(r);
}
static uint32_t sl_read(sl_ring *r, int16_t *dst, uint32_t max) {
	uint32_t rd = atomic_load(&r->r), w = atomic_load(&r->w), n = w - rd; if (n > max) n = max;
	for (uint32_t i = 0; i < n; i++) dst[i] = r->buf[(rd + i) & (r->cap-1)];
	atomic_store(&r->r, rd + n); return n;
}
static uint32_t sl_level(sl_ring *r) { return atomic_load(&r->w) - atomic_load(&r->r); }
static void sl_write(sl_ring *r, const int16_t *src, uint32_t n) {
	uint32_t w = atomic_load(&r->w);
	for (uint32_t i = 0; i < n; i++) r->buf[(w + i) & (r->cap-1)] = src[i];
	atomic_store(&r->w, w + n);
}
static uint64_t sl_calls(sl_ring *r) { return atomic_load(&r->calls); }
static int sl_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
*/
import "C"

import (
	"os"
	"unsafe"

	"github.com/gen2brain/malgo"
)

// Sound without Go on the audio threads (docs/ARCHITECTURE.md, "Sound: devices and timing"). malgo
// hands miniaudio a data callback that calls into Go from the sound server's threads, and every such call
// leaves Go's scheduler a slot "in a system call" that its monitor thread (sysmon) takes back 10 ms
// later, resetting its back-off: it then polled every 20 us, most of a call's CPU. So the microphone and
// the speaker get a callback in C instead (sl_data): it copies into a ring in C memory (the microphone's)
// or out of one (the speaker's) and writes an eventfd, which the engine's pump reads through Go's poller:
// the microphone's every 20 ms of audio, the speaker's after each read. The pump turns the microphone's
// ring into frames (fromMicrophone, as the callback did) and keeps the speaker's ring filled to one
// device period and 10 ms (toSpeaker); a call's speaker flow then starts 30 ms shallower (Port). The
// callback is swapped in ma_device.onData after malgo's init and before the start; miniaudio 0.11's
// ma_device begins {pContext, type, sampleRate, state, onData}, and sl_attach checks type and sampleRate
// where they must be before it writes: where they are not (another miniaudio), the device keeps malgo's
// Go callback. The ringer keeps it too (rarely open).

// cring is a device's ring (nil: the device uses malgo's Go callback).
type cring struct{ r *C.sl_ring }

// playbackPeriodMs is the speaker's period, and so its buffer at PulseAudio (device.go): 20 ms, since the
// ring (30 ms) is what absorbs a late pump.
const playbackPeriodMs = 20

// speakerRing is what the pump keeps in the speaker's ring: a device period and 10 ms.
const speakerRing = EngineRate * (playbackPeriodMs + 10) / 1000

// attachRing gives an initialised, not yet started device a C callback and its ring.
func (e *Engine) attachRing(dev *malgo.Device, capture bool) *cring {
	if e.efd == nil {
		fd := C.sl_eventfd()
		if fd < 0 {
			return nil
		}
		e.efd = os.NewFile(uintptr(fd), "stayline-sound")
		go e.pump(e.efd)
	}
	ptr := *(*unsafe.Pointer)(unsafe.Pointer(dev)) // malgo.Device{ptr *unsafe.Pointer}
	raw := *(*unsafe.Pointer)(ptr)                 // the ma_device
	c := 0
	if capture {
		c = 1
	}
	r := C.sl_attach(raw, C.int(c), C.int(e.efd.Fd()), C.uint32_t(EngineRate), C.uint32_t(engineFrame))
	if r == nil {
		e.log.Debug("sound device keeps malgo's Go callback (ma_device not as expected)")
		return nil
	}
	if !capture {
		e.speakerRinged.Store(true)
	}
	return &cring{r: r}
}

// detach frees a closed device's ring (its callback can no longer run).
func (c *cring) detach() {
	if c != nil {
		C.sl_detach(c.r)
	}
}

// pump serves the rings until the engine closes f.
func (e *Engine) pump(f *os.File) {
	var b [8]byte
	buf := make([]int16, 8192)
	for {
		if _, err := f.Read(b[:]); err != nil {
			return
		}
		e.devMu.Lock()
		if d := e.capture; d != nil && d.ring != nil && !d.closing.Load() {
			n := int(C.sl_read(d.ring.r, (*C.int16_t)(unsafe.Pointer(&buf[0])), C.uint32_t(len(buf))))
			d.callbacks.Store(uint64(C.sl_calls(d.ring.r)))
			if n > 0 {
				e.captureSamples(buf[:n])
			}
		}
		if d := e.playback; d != nil && d.ring != nil && !d.closing.Load() {
			d.callbacks.Store(uint64(C.sl_calls(d.ring.r)))
			if need := speakerRing - int(C.sl_level(d.ring.r)); need > 0 {
				pcm := make([]int16, need)
				e.mu.Lock()
				e.toSpeaker(pcm)
				e.mu.Unlock()
				C.sl_write(d.ring.r, (*C.int16_t)(unsafe.Pointer(&pcm[0])), C.uint32_t(need))
			}
		}
		e.devMu.Unlock()
	}
}

// closePump ends the pump (the devices are closed).
func (e *Engine) closePump() {
	if e.efd != nil {
		e.efd.Close()
		e.efd = nil
	}
}
