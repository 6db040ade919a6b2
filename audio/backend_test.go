package audio

import (
	"testing"

	"github.com/gen2brain/malgo"
)

// The null backend must open a context with no sound card: it is what CI and headless machines use.
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
