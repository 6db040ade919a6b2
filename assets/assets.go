// Package assets holds Stayline's icons, embedded in the binary. (The phone's sounds are generated: see
// audio/tones.go.)
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

// The failover marker of the status line, one per stage away from home.
var (
	//go:embed stage-transition.svg
	StageTransitionSVG []byte
	//go:embed stage-alternate.svg
	StageAlternateSVG []byte
	//go:embed stage-failback.svg
	StageFailbackSVG []byte
	//go:embed stage-noservice.svg
	StageNoServiceSVG []byte
	//go:embed stage-loggedoff.svg
	StageLoggedOffSVG []byte
)

// The message-waiting lamp.
var (
	//go:embed lamp-on.svg
	LampOnSVG []byte
	//go:embed lamp-off.svg
	LampOffSVG []byte
)
