// Package assets holds Stayline's icons and sounds, embedded in the binary.
package assets

import _ "embed"

// IconPNG is the application icon, 512×512 (rendered from icon.svg with rsvg-convert).
//
//go:embed icon.png
var IconPNG []byte

// IconSVG is the application icon's source.
//
//go:embed icon.svg
var IconSVG []byte
