package headless

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"stayline/failover"
)

// Run starts the manager if it is not running, serves commands from in and writes events to out until
// quit, the end of in, or ctx's end; then it shuts the manager down and returns once the last stage
// event is written.
func Run(ctx context.Context, m *failover.Manager, in io.Reader, out io.Writer) error {
	w := &writer{enc: json.NewEncoder(out)}
	sub := m.Subscribe()
	m.Start() // after subscribing, so the first events are printed too (Start is idempotent)
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		for ev := range sub.C {
			w.write(ev)
		}
	}()

	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 4096), maxLine*4)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		readErr <- sc.Err()
	}()

	var err error
loop:
	for {
		select {
		case line := <-lines:
			if quit := handle(m, w, line); quit {
				break loop
			}
		case e := <-readErr:
			if e != nil {
				w.error("reading commands: " + e.Error())
			}
			break loop // end of input is quit
		case <-ctx.Done():
			break loop
		case <-m.Done():
			break loop
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), failover.ShutdownTimeout)
	defer cancel()
	if e := m.Shutdown(sctx); e != nil {
		slog.Warn("shutdown", "error", e)
		err = e
	}
	select {
	case <-printed:
	case <-time.After(failover.ShutdownTimeout):
		sub.Close()
	}
	return err
}

// handle runs one command line; it reports whether the line was quit.
func handle(m *failover.Manager, w *writer, line string) bool {
	cmd, err := Parse(line)
	if err != nil {
		w.error(err.Error())
		return false
	}
	switch cmd.Name {
	case "":
		return false
	case "quit":
		return true
	case "status":
		st := m.Status()
		w.write(&st)
		return false
	}
	err = m.Request(failover.Action(cmd.Name), cmd.Arg)
	var refusal *failover.Refusal
	if err != nil && !errors.As(err, &refusal) { // refusals arrive as events already
		w.error(err.Error())
	}
	return false
}

// writer serialises JSON lines from the event pump and from command answers.
type writer struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (w *writer) write(v any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.enc.Encode(v); err != nil {
		slog.Warn("write event", "error", err)
	}
}

func (w *writer) error(reason string) {
	ev := &failover.ErrorEvent{Reason: reason}
	ev.Header = failover.Header{Time: failover.Timestamp(time.Now()), Event: "error"}
	w.write(ev)
}
