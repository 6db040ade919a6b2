// Package soundtest holds the tests of the sound a person hears: the phone on PulseAudio (a private daemon,
// null sinks for its speaker, microphone and ringer) in calls with baresip through Kamailio, the tones
// recorded from the sinks' monitors and measured half-second by half-second (lab/pulse.go,
// lab/tonecheck.go). They live in a package of their own so that `go test ./...` runs them beside the
// other packages, and without the race detector (the Makefile's OTHER_PKGS), whose slowdown is not the
// machine's normal load. The package has no code besides this comment.
package soundtest
