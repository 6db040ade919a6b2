#!/bin/sh
# Installs the system packages a make target needs, when they are missing.
#   scripts/deps.sh run    the phone and its lab
#   scripts/deps.sh test   everything the test suite starts (Kamailio, SIPp, baresip, linphonec, Xvfb, ...)
#   scripts/deps.sh windows  the mingw-w64 cross compiler for the Windows build
# On Debian/Ubuntu as root it uses apt-get; elsewhere it prints the exact packages to install and stops.
set -eu

# Building the Fyne window needs a C compiler and the X11/GL headers (BUILD-NOTES.md).
# Opus goes through cgo too: libopus, and libopusfile for the binding's stream reader; so does speexdsp,
# the microphone's echo canceller, noise suppression and automatic gain (audio/dsp).
build="gcc libc6-dev pkg-config libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev libopus-dev libopusfile-dev libspeexdsp-dev"
run="$build kamailio"
# The tests also build the Windows binary (make windows), so it cannot rot.
windows="gcc-mingw-w64-x86-64"
test="$build kamailio kamailio-tls-modules sip-tester baresip-core linphone-cli xvfb xauth xdotool libgl1-mesa-dri dbus iproute2 nftables procps $windows"
test="$test espeak-ng" # the speech of the echo canceller's tests (audio/dsp)
test="$test conntrack" # the NAT tests make the router forget its mappings (lab.NAT.Flush)
test="$test pulseaudio pulseaudio-utils" # the phone on a sound server of its own (internal/soundtest, lab/pulse.go)

case "${1:-}" in
run) want=$run ;;
test) want=$test ;;
windows) want=$windows ;;
*) echo "usage: $0 run|test|windows" >&2; exit 2 ;;
esac

missing=""
if command -v dpkg-query >/dev/null 2>&1; then
	for p in $want; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
else
	missing=$want
fi

if [ -n "$missing" ]; then
	if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
		echo "installing:$missing"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		# shellcheck disable=SC2086
		apt-get install -y -qq --no-install-recommends $missing >/dev/null
	elif command -v apt-get >/dev/null 2>&1; then
		echo "missing packages; install them as root:" >&2
		echo "  sudo apt-get install -y --no-install-recommends$missing" >&2
		exit 1
	else
		cat >&2 <<MSG
This machine has no apt-get. Install the equivalents of:$missing
  Fedora:  sudo dnf install gcc opus-devel opusfile-devel speexdsp-devel libXcursor-devel libXrandr-devel libXinerama-devel libXi-devel libXxf86vm-devel mesa-libGL-devel kamailio kamailio-tls sipp baresip xorg-x11-server-Xvfb dbus-daemon iproute nftables
  Arch:    sudo pacman -S gcc opus opusfile speexdsp libxcursor libxrandr libxinerama libxi libxxf86vm mesa kamailio sipp baresip xorg-server-xvfb dbus iproute2 nftables
  macOS:   xcode-select --install; brew install opus opusfile speexdsp pkg-config   (the lab's Kamailio and SIPp:
           brew install kamailio sipp)
  Windows: install Go and a MinGW-w64 gcc (e.g. from MSYS2) for the window, and MSYS2's speexdsp for the
           echo canceller (or build with -tags nospeexdsp); the lab runs on Linux only.
MSG
		exit 1
	fi
fi

if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
	echo "Go is not installed: install Go 1.26 or newer from https://go.dev/dl/ (or any Go >= 1.21, which fetches the toolchain go.mod names)" >&2
	exit 1
fi
