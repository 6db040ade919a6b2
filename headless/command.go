// Package headless is Stayline's front end without a window (README.md, "Headless control"): commands on standard input,
// one a line; events on standard output, one JSON object a line. It drives the same failover Manager the
// window does.
package headless

import (
	"fmt"
	"strings"
	"unicode"
)

// Command is one parsed input line.
type Command struct {
	Name string // dial, answer, hangup, hold, resume, dtmf, transfer, conference, logoff, login, failback, status, quit
	Arg  string // the target, call id or digits; "" when none
}

type argRule int

const (
	argNone argRule = iota
	argOptional
	argRequired
)

var commands = map[string]argRule{
	"dial": argRequired, "answer": argOptional, "hangup": argOptional, "hold": argOptional,
	"resume": argOptional, "dtmf": argRequired, "transfer": argRequired, "conference": argNone,
	"logoff": argNone, "login": argNone, "failback": argNone, "status": argNone, "quit": argNone,
}

// maxLine bounds an input line; anything longer is refused rather than parsed.
const maxLine = 1024

// Parse reads one command line. Blank lines and lines starting with # are not commands: Parse returns a
// zero Command and no error for them.
func Parse(line string) (Command, error) {
	if len(line) > maxLine {
		return Command{}, fmt.Errorf("line too long (%d bytes, at most %d)", len(line), maxLine)
	}
	for _, r := range line {
		if r != '\t' && unicode.IsControl(r) {
			return Command{}, fmt.Errorf("the line contains a control character")
		}
	}
	fields := strings.Fields(line)
	if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
		return Command{}, nil
	}
	name := strings.ToLower(fields[0])
	rule, ok := commands[name]
	if !ok {
		return Command{}, fmt.Errorf("unknown command %q (commands: dial, answer, hangup, hold, resume, dtmf, "+
			"transfer, conference, logoff, login, failback, status, quit)", fields[0])
	}
	args := fields[1:]
	switch {
	case len(args) > 1:
		return Command{}, fmt.Errorf("%s takes at most one argument", name)
	case rule == argNone && len(args) == 1:
		return Command{}, fmt.Errorf("%s takes no argument", name)
	case rule == argRequired && len(args) == 0:
		return Command{}, fmt.Errorf("%s needs an argument", name)
	}
	cmd := Command{Name: name}
	if len(args) == 1 {
		cmd.Arg = args[0]
	}
	if name == "dtmf" {
		for _, r := range cmd.Arg {
			if !strings.ContainsRune("0123456789*#ABCDabcd", r) {
				return Command{}, fmt.Errorf("dtmf: %q is not a DTMF digit (0-9, *, #, A-D)", r)
			}
		}
	}
	return cmd, nil
}
