package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Error is one problem in a configuration file, located at its line.
type Error struct {
	File string // the file's path or name; "" for text that came from elsewhere
	Line int    // 1-based; 0 when the problem concerns the whole file
	Key  string // e.g. "failover.keepalive_timeout" or "server[2].address"
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(":")
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads and checks the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(path, data)
}

// Parse checks a configuration held in memory; name is used in error messages.
func Parse(name string, data []byte) (*Config, error) {
	cfg := Default()
	// The file replaces the default lists rather than merging into them.
	cfg.Calls.Emergency = nil
	cfg.Audio.Codecs = nil
	// Decoding first: its syntax errors carry their position.
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, located(name, err)
	}
	lines, err := indexKeys(data)
	if err != nil {
		return nil, located(name, err)
	}
	def := Default()
	if !lines.has("calls.emergency") {
		cfg.Calls.Emergency = def.Calls.Emergency
	}
	if !lines.has("audio.codecs") {
		cfg.Audio.Codecs = def.Audio.Codecs
	}
	for i := range cfg.Servers {
		if cfg.Servers[i].Transport == "" {
			cfg.Servers[i].Transport = TransportUDP
			cfg.Servers[i].TransportAuto = cfg.Servers[i].Discoverable()
		}
		if !lines.has(serverKey(i, "features")) {
			cfg.Servers[i].Features = nil
		} else if cfg.Servers[i].Features == nil {
			cfg.Servers[i].Features = []Feature{}
		}
	}
	if cfg.SIP.TLSCA != "" && !filepath.IsAbs(cfg.SIP.TLSCA) {
		cfg.SIP.TLSCA = filepath.Join(filepath.Dir(name), cfg.SIP.TLSCA)
	}
	if err := cfg.check(); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.File = name
			if ce.Line == 0 {
				ce.Line = lines.line(ce.Key)
			}
		}
		return nil, err
	}
	if cfg.Account.Domain == "" {
		cfg.Account.Domain = cfg.Home().Host()
	}
	if cfg.Account.Password != "" {
		cfg.Warnings = append(cfg.Warnings, fmt.Sprintf(
			"%s:%d: the password is stored in the file; prefer the system keyring", name, lines.line("account.password")))
	}
	if w := cfg.natKeepaliveWarning(); w != "" {
		cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("%s:%d: %s", name, lines.line("failover.keepalive_interval"), w))
	}
	return &cfg, nil
}

// located turns go-toml's errors into Errors with a line.
func located(name string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		first := strict.Errors[0]
		row, _ := first.Position()
		msg := "unknown key"
		if len(strict.Errors) > 1 {
			msg = fmt.Sprintf("unknown key (and %d more unknown keys)", len(strict.Errors)-1)
		}
		return &Error{File: name, Line: row, Key: strings.Join(first.Key(), "."), Msg: msg}
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		return &Error{File: name, Line: row, Key: strings.Join(de.Key(), "."), Msg: de.Error()}
	}
	var pe *unstable.ParserError
	if errors.As(err, &pe) {
		return &Error{File: name, Msg: pe.Error()}
	}
	return &Error{File: name, Msg: err.Error()}
}

// keyLines maps a key path ("failover.keepalive_timeout", "server[1].address") to its line.
type keyLines map[string]int

func (k keyLines) has(key string) bool { _, ok := k[key]; return ok }

// line gives the line of key, or of the closest enclosing table that is in the file.
func (k keyLines) line(key string) int {
	for key != "" {
		if n, ok := k[key]; ok {
			return n
		}
		cut := strings.LastIndexAny(key, ".[")
		if cut < 0 {
			return 0
		}
		key = key[:cut]
	}
	return 0
}

func serverKey(i int, key string) string {
	s := "server[" + strconv.Itoa(i) + "]"
	if key != "" {
		s += "." + key
	}
	return s
}

// indexKeys records the line of every table and key with go-toml's own parser, so checks made after
// decoding can still point at the line they concern.
func indexKeys(data []byte) (keyLines, error) {
	lines := keyLines{}
	arrays := map[string]int{}
	var p unstable.Parser
	p.Reset(data)
	table := ""
	for p.NextExpression() {
		e := p.Expression()
		path := joinKey(e.Key())
		line := p.Shape(e.Raw).Start.Line
		if e.Raw.Length == 0 {
			if kn := e.Key(); kn.Next() {
				line = p.Shape(kn.Node().Raw).Start.Line
			}
		}
		switch e.Kind {
		case unstable.Table:
			table = path
		case unstable.ArrayTable:
			table = path + "[" + strconv.Itoa(arrays[path]) + "]"
			arrays[path]++
		case unstable.KeyValue:
			if table != "" {
				path = table + "." + path
			}
		default:
			continue
		}
		if e.Kind != unstable.KeyValue {
			path = table
		}
		if _, seen := lines[path]; !seen {
			lines[path] = line
		}
	}
	return lines, p.Error()
}

func joinKey(it unstable.Iterator) string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return strings.Join(parts, ".")
}
