package phone

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// ErrAuth marks a request the server refused for its credentials (403, or 401/407 again after answering the
// challenge). Retrying with the same password cannot help.
var ErrAuth = errors.New("authentication failed")

// StatusError is a final response that is not a success.
type StatusError struct {
	Method string
	Code   int
	Reason string
	// RetryAfter is the Retry-After header's value, 0 if absent.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s answered %d %s", e.Method, e.Code, e.Reason)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// ServiceUnavailable reports whether err is a 503 answer, and its Retry-After.
func ServiceUnavailable(err error) (time.Duration, bool) {
	var se *StatusError
	if errors.As(err, &se) && se.Code == sip.StatusServiceUnavailable {
		return se.RetryAfter, true
	}
	return 0, false
}

func statusError(method sip.RequestMethod, res *sip.Response) *StatusError {
	e := &StatusError{Method: string(method), Code: res.StatusCode, Reason: res.Reason}
	if h := res.GetHeader("Retry-After"); h != nil {
		// Retry-After: 120 (comment);duration=60 — the seconds come first.
		v := strings.TrimSpace(h.Value())
		if i := strings.IndexAny(v, " ;("); i >= 0 {
			v = v[:i]
		}
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n < 1<<20 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}
