package headless

import (
	"strings"
	"testing"
	"unicode"
)

// FuzzParse: a line is a command with a known name and a clean argument, nothing, or an error.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"dial 1002", "dtmf 12#", "hangup", "  # comment", "quit", "DIAL sip:a@b", "dial 1 2", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, err := Parse(line)
		if err != nil {
			return
		}
		if cmd.Name == "" {
			if cmd.Arg != "" {
				t.Fatalf("no command but an argument %q", cmd.Arg)
			}
			return
		}
		if _, ok := commands[cmd.Name]; !ok {
			t.Fatalf("unknown command %q accepted", cmd.Name)
		}
		if strings.IndexFunc(cmd.Arg, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			t.Fatalf("argument %q has spaces or control characters", cmd.Arg)
		}
	})
}
