package assets

import (
	"bytes"
	"image/png"
	"testing"
)

// Every embedded SVG draws to a bitmap with something on it, and a badge changes the application icon.
func TestEveryIconRasterises(t *testing.T) {
	for name, svg := range map[string][]byte{"icon": IconSVG, "transition": StageTransitionSVG,
		"alternate": StageAlternateSVG, "failback": StageFailbackSVG, "noservice": StageNoServiceSVG,
		"loggedoff": StageLoggedOffSVG, "lamp-on": LampOnSVG, "lamp-off": LampOffSVG} {
		img, err := Rasterise(svg, 32)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		opaque := 0
		for i := 3; i < len(img.Pix); i += 4 {
			if img.Pix[i] > 0 {
				opaque++
			}
		}
		if opaque < 32*32/10 {
			t.Errorf("%s: only %d of %d pixels drawn", name, opaque, 32*32)
		}
	}
	plain, err := Badged(nil, 64)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{string(plain): true}
	for _, badge := range [][]byte{StageTransitionSVG, StageAlternateSVG, StageFailbackSVG, StageNoServiceSVG, StageLoggedOffSVG} {
		b, err := Badged(badge, 64)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(b))
		if err != nil || cfg.Width != 64 || cfg.Height != 64 {
			t.Fatalf("badged icon: %v %+v", err, cfg)
		}
		if seen[string(b)] {
			t.Error("two stages have the same tray icon")
		}
		seen[string(b)] = true
	}
}
