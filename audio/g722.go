package audio

// G.722 at 64 kbit/s (ITU-T G.722, mode 1): 16 kHz audio split by a quadrature mirror filter into a low
// and a high band, each coded by adaptive differential PCM: 6 bits a sample in the low band, 2 in the
// high band, one octet per pair of input samples. No Go module for it is served here, so this follows
// the Recommendation's blocks (names in the comments) in the fixed-point arithmetic it specifies, as the
// public-domain reference implementations do. RTP quirk (RFC 3551): the clock rate is 8000.

var (
	g722QMF = [12]int32{3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11}
	g722Q6  = [32]int32{0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858,
		940, 1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0}
	g722ILN = [32]int32{0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13,
		12, 11, 10, 9, 8, 7, 6, 5, 4, 0}
	g722ILP = [32]int32{0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41,
		40, 39, 38, 37, 36, 35, 34, 33, 32, 0}
	g722WL   = [8]int32{-60, -30, 58, 172, 334, 538, 1198, 3042}
	g722RL42 = [16]int32{0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0}
	g722ILB  = [32]int32{2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714,
		2774, 2834, 2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008}
	g722QM4 = [16]int32{0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240,
		2584, 1200, 0}
	g722QM6 = [64]int32{-136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192,
		-10232, -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776, -2400,
		-2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192, 10232, 9360,
		8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032, 1688, 1360, 1040,
		728, 432, 136, -432, -136}
	g722QM2 = [4]int32{-7408, -1616, 7408, 1616}
	g722IHN = [3]int32{0, 1, 0}
	g722IHP = [3]int32{0, 3, 2}
	g722WH  = [3]int32{0, -214, 798}
	g722RH2 = [4]int32{2, 1, 2, 1}
)

func sat16(x int32) int32 {
	if x > 32767 {
		return 32767
	}
	if x < -32768 {
		return -32768
	}
	return x
}

// g722Band is the adaptive predictor and quantizer scale of one sub-band.
type g722Band struct {
	s, sz, r int32 // signal estimate, its zero-section part, last reconstructed signal
	a        [3]int32
	b        [6]int32
	p        [2]int32
	d        [7]int32
	nb, det  int32
}

// block4 is the Recommendation's block 4: reconstruction, predictor adaptation (UPPOL1/2, UPZERO) and
// the next prediction (FILTEP, FILTEZ, PREDIC), for difference signal dx.
func (s *g722Band) block4(dx int32) {
	r := sat16(s.s + dx)  // RECONS
	p := sat16(s.sz + dx) // PARREC

	// UPPOL2
	wd1 := sat16(s.a[1] << 2)
	wd32 := -wd1
	if (p^s.p[0])&0x8000 != 0 {
		wd32 = wd1
	}
	if wd32 > 32767 {
		wd32 = 32767
	}
	sign := int32(128)
	if (p^s.p[1])&0x8000 != 0 {
		sign = -128
	}
	wd3 := sign + (wd32 >> 7) + ((s.a[2] * 32512) >> 15)
	if wd3 > 12288 {
		wd3 = 12288
	} else if wd3 < -12288 {
		wd3 = -12288
	}
	ap2 := wd3

	// UPPOL1
	wd1 = 192
	if (p^s.p[0])&0x8000 != 0 {
		wd1 = -192
	}
	ap1 := sat16(wd1 + ((s.a[1] * 32640) >> 15))
	lim := sat16(15360 - ap2)
	if ap1 > lim {
		ap1 = lim
	} else if ap1 < -lim {
		ap1 = -lim
	}

	// FILTEP
	sp := sat16(((ap1 * sat16(r+r)) >> 15) + ((ap2 * sat16(s.r+s.r)) >> 15))
	s.r = r
	s.a[1], s.a[2] = ap1, ap2
	s.p[1], s.p[0] = s.p[0], p

	// UPZERO, DELAYA, FILTEZ
	step := int32(128)
	if dx == 0 {
		step = 0
	}
	s.d[0] = dx
	var sz int32
	for i := 5; i >= 0; i-- {
		wd2 := step
		if (s.d[i+1]^dx)&0x8000 != 0 {
			wd2 = -step
		}
		s.b[i] = sat16(wd2 + ((s.b[i] * 32640) >> 15))
		sz += (s.b[i] * sat16(s.d[i]+s.d[i])) >> 15
		s.d[i+1] = s.d[i]
	}
	s.sz = sat16(sz)
	s.s = sat16(sp + s.sz) // PREDIC
}

// scale updates a band's log scale factor (LOGSCL/LOGSCH) and its linear step (SCALEL/SCALEH).
func (s *g722Band) scale(w, limit, shift int32) {
	nb := ((s.nb * 127) >> 7) + w
	if nb < 0 {
		nb = 0
	} else if nb > limit {
		nb = limit
	}
	s.nb = nb
	wd1 := (nb >> 6) & 31
	wd2 := shift - (nb >> 11)
	var wd3 int32
	if wd2 < 0 {
		wd3 = g722ILB[wd1] << -wd2
	} else {
		wd3 = g722ILB[wd1] >> wd2
	}
	s.det = wd3 << 2
}

type g722 struct{}

func (g722) Name() string          { return "G722" }
func (g722) PayloadType() uint8    { return 9 }
func (g722) ClockRate() uint32     { return 8000 }
func (g722) SampleRate() int       { return 16000 }
func (g722) TimestampStep() uint32 { return 160 }

// G722Encoder codes 16 kHz PCM; it keeps its state between frames.
type G722Encoder struct {
	band [2]g722Band
	x    [24]int32
}

// NewG722Encoder makes an encoder in its initial state.
func NewG722Encoder() *G722Encoder {
	e := &G722Encoder{}
	e.band[0].det, e.band[1].det = 32, 8
	return e
}

// Encode appends one octet per pair of samples.
func (e *G722Encoder) Encode(dst []byte, pcm []int16) []byte {
	for j := 0; j+1 < len(pcm); j += 2 {
		// Transmit QMF: split into the low and high bands.
		copy(e.x[:22], e.x[2:])
		e.x[22], e.x[23] = int32(pcm[j]), int32(pcm[j+1])
		var sumOdd, sumEven int32
		for i := 0; i < 12; i++ {
			sumOdd += e.x[2*i] * g722QMF[i]
			sumEven += e.x[2*i+1] * g722QMF[11-i]
		}
		xlow := (sumEven + sumOdd) >> 14
		xhigh := (sumEven - sumOdd) >> 14

		// Low band: SUBTRA, QUANTL, INVQAL, LOGSCL, SCALEL.
		lo := &e.band[0]
		el := sat16(xlow - lo.s)
		wd := el
		if el < 0 {
			wd = -(el + 1)
		}
		i := int32(1)
		for ; i < 30; i++ {
			if wd < (g722Q6[i]*lo.det)>>12 {
				break
			}
		}
		ilow := g722ILP[i]
		if el < 0 {
			ilow = g722ILN[i]
		}
		ril := ilow >> 2
		dlow := (lo.det * g722QM4[ril]) >> 15
		lo.scale(g722WL[g722RL42[ril]], 18432, 8)
		lo.block4(dlow)

		// High band: SUBTRA, QUANTH, INVQAH, LOGSCH, SCALEH.
		hi := &e.band[1]
		eh := sat16(xhigh - hi.s)
		wd = eh
		if eh < 0 {
			wd = -(eh + 1)
		}
		mih := int32(1)
		if wd >= (564*hi.det)>>12 {
			mih = 2
		}
		ihigh := g722IHP[mih]
		if eh < 0 {
			ihigh = g722IHN[mih]
		}
		dhigh := (hi.det * g722QM2[ihigh]) >> 15
		hi.scale(g722WH[g722RH2[ihigh]], 22528, 10)
		hi.block4(dhigh)

		dst = append(dst, byte(ihigh<<6|ilow))
	}
	return dst
}

// G722Decoder turns G.722 octets back into 16 kHz PCM; it keeps its state between frames.
type G722Decoder struct {
	band [2]g722Band
	x    [24]int32
}

// NewG722Decoder makes a decoder in its initial state.
func NewG722Decoder() *G722Decoder {
	d := &G722Decoder{}
	d.band[0].det, d.band[1].det = 32, 8
	return d
}

// Decode appends two samples per octet.
func (d *G722Decoder) Decode(dst []int16, payload []byte) []int16 {
	for _, code := range payload {
		ilow := int32(code & 0x3f)
		ihigh := int32(code>>6) & 0x03

		// Low band: INVQBL, RECONS, LIMIT; INVQAL, LOGSCL, SCALEL for the predictor.
		lo := &d.band[0]
		rlow := lo.s + ((lo.det * g722QM6[ilow]) >> 15)
		rlow = max(-16384, min(16383, rlow))
		ril := ilow >> 2
		dlowt := (lo.det * g722QM4[ril]) >> 15
		lo.scale(g722WL[g722RL42[ril]], 18432, 8)
		lo.block4(dlowt)

		// High band: INVQAH, RECONS, LIMIT, LOGSCH, SCALEH.
		hi := &d.band[1]
		dhigh := (hi.det * g722QM2[ihigh]) >> 15
		rhigh := max(-16384, min(16383, dhigh+hi.s))
		hi.scale(g722WH[g722RH2[ihigh]], 22528, 10)
		hi.block4(dhigh)

		// Receive QMF: join the bands.
		copy(d.x[:22], d.x[2:])
		d.x[22], d.x[23] = rlow+rhigh, rlow-rhigh
		var out1, out2 int32
		for i := 0; i < 12; i++ {
			out2 += d.x[2*i] * g722QMF[i]
			out1 += d.x[2*i+1] * g722QMF[11-i]
		}
		dst = append(dst, int16(sat16(out1>>11)), int16(sat16(out2>>11)))
	}
	return dst
}

// g722 is one call's G.722 codec: an encoder and a decoder, each with its own state.
type g722codec struct {
	g722
	enc *G722Encoder
	dec *G722Decoder
}

func newG722() *g722codec { return &g722codec{enc: NewG722Encoder(), dec: NewG722Decoder()} }

func (c *g722codec) Encode(dst []byte, pcm []int16) []byte      { return c.enc.Encode(dst, pcm) }
func (c *g722codec) Decode(dst []int16, payload []byte) []int16 { return c.dec.Decode(dst, payload) }
