package audio

import (
	"testing"

	"github.com/gen2brain/malgo"
)

// miniaudio's null backend (the constant malgo misnames) opens with no sound card. The engine does not
// use it for "null" (it costs CPU for nothing), but a context on it is how a machine without sound can
// still list "devices", and it proves the constant.
func TestNullBackendOpensWithoutSoundCard(t *testing.T) {
	backends, err := Backends("null")
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := malgo.InitContext(backends, malgo.ContextConfig{}, nil)
	if err != nil {
		t.Fatalf("null backend: %v", err)
	}
	defer func() {
		ctx.Uninit()
		ctx.Free()
	}()
	devices, err := ctx.Devices(malgo.Playback)
	if err != nil {
		t.Fatalf("list null playback devices: %v", err)
	}
	if len(devices) == 0 {
		t.Fatal("the null backend lists no playback device")
	}
}

func TestBackendsRefusesUnknownName(t *testing.T) {
	if _, err := Backends("pulse"); err == nil {
		t.Fatal("Backends(\"pulse\") gave no error")
	}
	if b, err := Backends("default"); err != nil || b != nil {
		t.Fatalf("Backends(\"default\") = %v, %v; want nil, nil", b, err)
	}
}
