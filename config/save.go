package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/pelletier/go-toml/v2"
	"github.com/zalando/go-keyring"
)

// The file form of a configuration: what Marshal writes. A server's features are written only when the
// server does not offer everything (absent = all; [] = none).
type fileConfig struct {
	Account  fileAccount  `toml:"account"`
	Servers  []fileServer `toml:"server"`
	Failover Failover     `toml:"failover"`
	SIP      SIP          `toml:"sip"`
	Calls    Calls        `toml:"calls"`
	Audio    Audio        `toml:"audio"`
	NAT      NAT          `toml:"nat,omitempty"`
}

type fileAccount struct {
	User        string `toml:"user"`
	Password    string `toml:"password,omitempty"`
	Domain      string `toml:"domain,omitempty"`
	DisplayName string `toml:"display_name,omitempty"`
}

type fileServer struct {
	Name      string     `toml:"name"`
	Address   string     `toml:"address"`
	Transport Transport  `toml:"transport,omitempty"` // absent: discovery chooses (TransportAuto)
	Features  *[]Feature `toml:"features,omitempty"`
}

// Marshal writes cfg as TOML that Parse reads back to the same configuration. withPassword says whether
// the password goes into the text (it does not when the keyring holds it).
func Marshal(cfg *Config, withPassword bool) ([]byte, error) {
	f := fileConfig{
		Account:  fileAccount{User: cfg.Account.User, Domain: cfg.Account.Domain, DisplayName: cfg.Account.DisplayName},
		Failover: cfg.Failover, SIP: cfg.SIP, Calls: cfg.Calls, Audio: cfg.Audio,
		NAT: cfg.NAT,
	}
	if withPassword {
		f.Account.Password = cfg.Account.Password
	}
	for _, s := range cfg.Servers {
		fs := fileServer{Name: s.Name, Address: s.Address, Transport: s.Transport}
		if s.TransportAuto && s.Discoverable() {
			fs.Transport = ""
		}
		if s.Features != nil {
			feats := append([]Feature{}, s.Features...)
			fs.Features = &feats
		}
		f.Servers = append(f.Servers, fs)
	}
	var b bytes.Buffer
	b.WriteString("# Stayline configuration (see README.md, Configuration). Written by the settings; edits by hand are kept if valid.\n")
	enc := toml.NewEncoder(&b)
	enc.SetIndentTables(false)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("write configuration: %w", err)
	}
	return b.Bytes(), nil
}

// WriteFileAtomic replaces path with data so that a crash leaves either the old file or the new one,
// never half of either: a temporary file beside it, synced, then renamed over it (mode 0600: it may hold
// a password).
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename it no longer exists
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil { // make the rename itself durable
		d.Sync()
		d.Close()
	}
	return nil
}

// RemoveLeftovers deletes the temporary files that WriteFileAtomic calls for path left behind when the
// process was killed mid-write. Call it at start, before anything writes path.
func RemoveLeftovers(path string) error {
	left, err := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range left {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// keyringService names Stayline's entries in the OS keyring; the key is the address of record.
const keyringService = "stayline"

// Save checks cfg (as Parse would read it), then writes it to path atomically. The password goes to the
// OS keyring when there is one; otherwise into the file, and the returned warning says so.
func Save(path string, cfg *Config) (warning string, err error) {
	inFile := false
	if cfg.Account.Password != "" {
		if kerr := keyring.Set(keyringService, cfg.AOR(), cfg.Account.Password); kerr != nil {
			inFile = true
			slog.Info("no system keyring", "error", kerr) // the details are for the log, not the user
			warning = fmt.Sprintf("No system keyring is available, so the password is stored in %s, readable only by you.", path)
		}
	} else {
		keyring.Delete(keyringService, cfg.AOR())
	}
	data, err := Marshal(cfg, inFile)
	if err != nil {
		return "", err
	}
	check := data
	if !inFile {
		check, _ = Marshal(cfg, true) // checked with its password, like the phone will run it
	}
	if _, err := Parse(filepath.Base(path), check); err != nil {
		return "", err
	}
	if err := WriteFileAtomic(path, data); err != nil {
		return "", fmt.Errorf("save configuration: %w", err)
	}
	return warning, nil
}

// FillPassword takes the password from the OS keyring when the file has none.
func (c *Config) FillPassword() error {
	if c.Account.Password != "" {
		return nil
	}
	pw, err := keyring.Get(keyringService, c.AOR())
	if errors.Is(err, keyring.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the password from the keyring: %w", err)
	}
	c.Account.Password = pw
	return nil
}
