// Package figures formats the measured values make bench and make fleet print as `name value` lines.
package figures

import "fmt"

// Format writes v as a figure: whole numbers plainly, large ones without decimals, others with two
// (three below 1), so the lines stay short and the small ones keep their meaning.
func Format(v float64) string {
	switch {
	case v == float64(int64(v)):
		return fmt.Sprintf("%d", int64(v))
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1 || v <= -1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}
