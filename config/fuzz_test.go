package config

import (
	"errors"
	"os"
	"reflect"
	"testing"
)

// FuzzParse: any bytes either fail with a located config.Error, or give a configuration that writes back
// and reads again to itself.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/design.toml"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("[account]\nuser = \"1001\"\n[[server]]\nname = \"h\"\naddress = \"h\"\n"))
	f.Add([]byte("[account]\nuser = \"1\"\n[[server]]\nname = \"h\"\naddress = \"[::1]:5060\"\nfeatures = []\n[failover]\nkeepalive_interval = \"1h\"\n"))
	f.Add([]byte("[[server]]\n[[server]]\n[failover\n"))
	f.Add([]byte("\x00\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.toml", data)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a config.Error: %v", err, err)
			}
			if ce.Line < 0 {
				t.Fatalf("negative line: %v", err)
			}
			return
		}
		out, err := Marshal(cfg, true)
		if err != nil {
			t.Fatalf("a parsed configuration does not write: %v", err)
		}
		back, err := Parse("again.toml", out)
		if err != nil {
			t.Fatalf("what was written does not read again: %v\n%s", err, out)
		}
		cfg.Warnings, back.Warnings = nil, nil
		if !reflect.DeepEqual(cfg, back) {
			t.Fatalf("round trip changed it:\n%+v\n%+v", cfg, back)
		}
	})
}
