package failover

import "time"

// backoff is RFC 5626 §4.5's wait before retrying a server: min(max, base·2^failures), times a random
// factor from 50 to 100 % (r in [0,1) picks it) so that a fleet of phones does not retry in step.
func backoff(base, max time.Duration, failures int, r float64) time.Duration {
	d := max
	if failures < 32 {
		if b := base << uint(failures); b > 0 && b < max {
			d = b
		}
	}
	return time.Duration(float64(d) * (0.5 + 0.5*r))
}
