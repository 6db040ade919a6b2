package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"
)

func TestMarshalRoundTrips(t *testing.T) {
	cfg, err := Load("testdata/design.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Servers = append(cfg.Servers, Server{Name: "bare", Address: "10.0.0.9", Transport: TransportTCP, Features: []Feature{}},
		Server{Name: "full", Address: "10.0.0.10", Transport: TransportTLS})
	data, err := Marshal(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("saved.toml", data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	back.Warnings, cfg.Warnings = nil, nil
	if !reflect.DeepEqual(back, cfg) {
		t.Fatalf("round trip changed the configuration:\n%+v\n%+v\n%s", back, cfg, data)
	}
	if !back.Servers[3].Offers(FeatureHold) || back.Servers[2].Offers(FeatureHold) {
		t.Fatal("features absent (all) and [] (none) were not kept apart")
	}
}

func TestSaveUsesTheKeyringAndWritesAtomically(t *testing.T) {
	keyring.MockInit()
	path := filepath.Join(t.TempDir(), "stayline", "phone.toml")
	cfg, _ := Load("testdata/design.toml")
	warning, err := Save(path, cfg)
	if err != nil || warning != "" {
		t.Fatalf("save: %v (warning %q)", err, warning)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "secret") {
		t.Fatal("the password went into the file although the keyring took it")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	loaded, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.FillPassword(); err != nil || loaded.Account.Password != "secret" {
		t.Fatalf("password from the keyring: %q, %v", loaded.Account.Password, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left beside the configuration: %v", entries)
	}
}

func TestSaveWithoutKeyringKeepsThePasswordInTheFileAndWarns(t *testing.T) {
	keyring.MockInitWithError(os.ErrPermission)
	path := filepath.Join(t.TempDir(), "phone.toml")
	cfg, _ := Load("testdata/design.toml")
	warning, err := Save(path, cfg)
	if err != nil || !strings.Contains(warning, "No system keyring is available, so the password is stored in") ||
		strings.Contains(warning, os.ErrPermission.Error()) {
		t.Fatalf("save: %v, warning %q (in words, the keyring's error left to the log)", err, warning)
	}
	loaded, err := Load(path)
	if err != nil || loaded.Account.Password != "secret" {
		t.Fatalf("reload: %v, password %q", err, loaded.Account.Password)
	}
}

func TestSaveRefusesAnInvalidConfigurationAndKeepsTheOldFile(t *testing.T) {
	keyring.MockInit()
	path := filepath.Join(t.TempDir(), "phone.toml")
	old := []byte("# old\n")
	os.WriteFile(path, old, 0o600)
	cfg, _ := Load("testdata/design.toml")
	cfg.Failover.KeepaliveTimeout = cfg.Failover.KeepaliveInterval
	if _, err := Save(path, cfg); err == nil || !strings.Contains(err.Error(), "keepalive_timeout") {
		t.Fatalf("saved an invalid configuration: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != string(old) {
		t.Fatal("the old file was touched")
	}
}

func TestInstanceIDIsMadeOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "phone.toml")
	first, err := InstanceID(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first, "urn:uuid:") || len(first) != len("urn:uuid:")+36 {
		t.Fatalf("instance id %q is not a urn:uuid", first)
	}
	again, err := InstanceID(cfgPath)
	if err != nil || again != first {
		t.Fatalf("second read = %q, %v; want %q", again, err, first)
	}
	os.WriteFile(filepath.Join(dir, instanceFile), []byte("garbage"), 0o600)
	fresh, err := InstanceID(cfgPath)
	if err != nil || fresh == first || !strings.HasPrefix(fresh, "urn:uuid:") {
		t.Fatalf("damaged file gave %q, %v; want a new urn:uuid", fresh, err)
	}
}
