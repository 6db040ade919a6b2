// Package provision imports a deskphone settings file (the Avaya 46xxsettings style: one `SET NAME VALUE`
// a line) into a Stayline configuration. Every name is accounted for: applied (to which key), understood
// but not needed (and why), or unknown; nothing is dropped silently. Sources are files or HTTP(S) URLs;
// `GET other.txt` lines are followed relative to the source.
package provision

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"stayline/config"
)

// Setting is one SET line.
type Setting struct {
	Name  string // upper case
	Value string // unquoted
	Where string // "file:line"
}

// Script is what a settings file (and the files it GETs) says, in order.
type Script struct {
	Settings     []Setting
	Conditionals []string // IF/GOTO lines: not evaluated (every SET applies; the last one wins)
}

// maxSize bounds a settings file; maxDepth bounds GET nesting.
const (
	maxSize  = 1 << 20
	maxDepth = 5
)

// Load reads source (a path or an http(s) URL) and the files it GETs.
func Load(ctx context.Context, source string) (*Script, error) {
	s := &Script{}
	if err := s.load(ctx, source, 0, map[string]bool{}); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Script) load(ctx context.Context, source string, depth int, seen map[string]bool) error {
	if depth > maxDepth {
		return fmt.Errorf("%s: GET nested more than %d deep", source, maxDepth)
	}
	if seen[source] {
		return nil // a file GET twice (or in a loop) counts once
	}
	seen[source] = true
	data, err := fetch(ctx, source)
	if err != nil {
		return err
	}
	return s.parse(ctx, source, data, depth, seen)
}

// parse reads one file's lines; GET lines load the files they name.
func (s *Script) parse(ctx context.Context, source string, data []byte, depth int, seen map[string]bool) error {
	name := source
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 64*1024)
	for n := 1; sc.Scan(); n++ {
		where := fmt.Sprintf("%s:%d", name, n)
		line := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue // comments, and the labels GOTO jumps to
		}
		word, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(word) {
		case "SET":
			nameTok, value, _ := strings.Cut(rest, " ")
			if nameTok == "" {
				return fmt.Errorf("%s: SET without a name", where)
			}
			v, err := unquote(strings.TrimSpace(value))
			if err != nil {
				return fmt.Errorf("%s: %s: %w", where, nameTok, err)
			}
			s.Settings = append(s.Settings, Setting{Name: strings.ToUpper(nameTok), Value: v, Where: where})
		case "GET":
			next, err := resolve(source, rest)
			if err != nil {
				return fmt.Errorf("%s: GET %s: %w", where, rest, err)
			}
			if err := s.load(ctx, next, depth+1, seen); err != nil {
				return fmt.Errorf("%s: GET: %w", where, err)
			}
		case "IF", "GOTO":
			s.Conditionals = append(s.Conditionals, where+": "+line)
		default:
			return fmt.Errorf("%s: %q is not a SET, GET, IF or GOTO line", where, truncate(line, 40))
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// unquote takes a value as written: "quoted" (quotes removed) or bare.
func unquote(v string) (string, error) {
	if strings.HasPrefix(v, `"`) {
		if len(v) < 2 || !strings.HasSuffix(v, `"`) {
			return "", errors.New("unterminated quoted value")
		}
		v = v[1 : len(v)-1]
	}
	if strings.ContainsAny(v, "\x00\r\n") {
		return "", errors.New("control characters in the value")
	}
	return v, nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// resolve finds what a GET names, relative to the file it is in.
func resolve(from, name string) (string, error) {
	name = strings.Trim(strings.TrimSpace(name), `"`)
	if name == "" {
		return "", errors.New("no file named")
	}
	if isURL(name) {
		return name, nil
	}
	if isURL(from) {
		base, err := url.Parse(from)
		if err != nil {
			return "", err
		}
		ref, err := url.Parse(name)
		if err != nil {
			return "", err
		}
		return base.ResolveReference(ref).String(), nil
	}
	if filepath.IsAbs(name) {
		return name, nil
	}
	return filepath.Join(filepath.Dir(from), name), nil
}

// fetch reads a file or downloads a URL (at most maxSize, within 15 s).
func fetch(ctx context.Context, source string) ([]byte, error) {
	if !isURL(source) {
		f, err := os.Open(source)
		if err != nil {
			return nil, fmt.Errorf("settings file: %w", err)
		}
		defer f.Close()
		return readLimited(f, source)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, source, nil)
	if err != nil {
		return nil, fmt.Errorf("settings URL: %w", err)
	}
	req.Header.Set("User-Agent", "Stayline provisioning")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download settings: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("download settings %s: %s", source, res.Status)
	}
	return readLimited(res.Body, source)
}

func readLimited(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxSize)
	}
	return data, nil
}

// Report says what became of every name of a script.
type Report struct {
	Applied      []string // "NAME -> key = value (where)"
	Ignored      []string // "NAME: why (where)"
	Unknown      []string // names Stayline does not know, sorted, each with where it was set
	Conditionals []string
}

// Apply changes cfg as the script says. The account's user and password are not in such files; they stay
// as cfg has them. The result is checked as a configuration file would be, its errors naming the line of
// the settings file that caused them.
func Apply(cfg *config.Config, s *Script) (Report, error) {
	r := Report{Conditionals: s.Conditionals}
	a := &applier{cfg: cfg, origin: map[string]string{}}
	// The server list first (its transport default may come later in the file), then the rest in order.
	for _, st := range s.Settings {
		if st.Name == "SIPSIGNAL" {
			if err := a.sipSignal(st); err != nil {
				return r, err
			}
		}
	}
	unknown := map[string][]string{}
	for _, st := range s.Settings {
		m, known := mappings[st.Name]
		if !known {
			unknown[st.Name] = append(unknown[st.Name], st.Where)
			continue
		}
		if m.apply == nil {
			r.Ignored = append(r.Ignored, fmt.Sprintf("%s: %s (%s)", st.Name, m.why, st.Where))
			continue
		}
		key, err := m.apply(a, st.Value)
		if err != nil {
			return r, fmt.Errorf("%s: %s: %w", st.Where, st.Name, err)
		}
		a.origin[key] = st.Where + ": " + st.Name
		r.Applied = append(r.Applied, fmt.Sprintf("%s -> %s = %q (%s)", st.Name, key, st.Value, st.Where))
	}
	for name, where := range unknown {
		r.Unknown = append(r.Unknown, fmt.Sprintf("%s (%s)", name, strings.Join(where, ", ")))
	}
	sort.Strings(r.Unknown)
	if err := a.finish(); err != nil {
		return r, err
	}
	// Checked exactly as the file will be read.
	text, err := config.Marshal(cfg, true)
	if err != nil {
		return r, err
	}
	if _, err := config.Parse("imported", text); err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			if where, ok := a.originOf(ce.Key); ok {
				return r, fmt.Errorf("%s: %s", where, ce.Msg)
			}
		}
		return r, fmt.Errorf("the imported settings do not make a working configuration: %w", err)
	}
	return r, nil
}

// applier holds what several names build together.
type applier struct {
	cfg       *config.Config
	origin    map[string]string // configuration key -> the line that set it
	transport config.Transport  // SIPSIGNAL's default for controllers without ;transport=
	names     []string          // STAYLINE_SERVER_NAMES
	features  map[int][]config.Feature
	codecs    map[string]bool // ENABLE_* codec switches seen
	list      string          // SIP_CONTROLLER_LIST as given
	emergency []string
}

func (a *applier) originOf(key string) (string, bool) {
	for k, v := range a.origin {
		if key == k || strings.HasPrefix(key, k+".") || strings.HasPrefix(key, k+"[") ||
			(strings.HasPrefix(k, "server") && strings.HasPrefix(key, "server")) {
			return v, true
		}
	}
	return "", false
}

func (a *applier) sipSignal(st Setting) error {
	switch strings.TrimSpace(st.Value) {
	case "0":
		a.transport = config.TransportUDP
	case "1":
		a.transport = config.TransportTCP
	case "2":
		a.transport = config.TransportTLS
	default:
		return fmt.Errorf("%s: SIPSIGNAL: %q is not 0 (UDP), 1 (TCP) or 2 (TLS)", st.Where, st.Value)
	}
	return nil
}

// finish builds what takes several names: the servers, their names and features, the codecs.
func (a *applier) finish() error {
	if a.list != "" {
		servers, err := controllers(a.list, a.transport)
		if err != nil {
			return fmt.Errorf("%s: %w", a.origin["server"], err)
		}
		for i := range servers {
			if i < len(a.names) && a.names[i] != "" {
				servers[i].Name = a.names[i]
			}
			if f, ok := a.features[i+1]; ok {
				servers[i].Features = f
			}
		}
		a.cfg.Servers = servers
	}
	if a.codecs != nil {
		var list []string
		for _, c := range []string{"opus", "G722", "PCMU", "PCMA"} { // wideband first, as phones do
			if a.codecs[c] {
				list = append(list, c)
			}
		}
		if len(list) == 0 {
			return fmt.Errorf("%s: every codec is switched off", a.origin["audio.codecs"])
		}
		a.cfg.Audio.Codecs = list
	}
	if a.emergency != nil {
		a.cfg.Calls.Emergency = a.emergency
	}
	return nil
}

// controllers reads SIP_CONTROLLER_LIST: "host[:port][;transport=udp|tcp|tls]", comma separated, home first.
func controllers(list string, def config.Transport) ([]config.Server, error) {
	if def == "" {
		def = config.TransportTLS // the phones' default SIPSIGNAL is 2 (TLS)
	}
	var out []config.Server
	for i, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		addr, params, _ := strings.Cut(item, ";")
		t := def
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(k, "transport") {
				t = config.Transport(strings.ToLower(v))
			}
		}
		if err := t.Valid(); err != nil {
			return nil, fmt.Errorf("SIP_CONTROLLER_LIST entry %d: %w", i+1, err)
		}
		name := "server" + strconv.Itoa(len(out)+1)
		if len(out) == 0 {
			name = "home"
		}
		out = append(out, config.Server{Name: name, Address: strings.TrimSpace(addr), Transport: t})
	}
	if len(out) == 0 {
		return nil, errors.New("SIP_CONTROLLER_LIST names no server")
	}
	return out, nil
}
