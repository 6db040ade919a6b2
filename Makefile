# Stayline. The two commands a newcomer needs, each installing what it lacks first:
#   make run    the phone (against the project's own lab if you have no configuration yet)
#   make test   every test, unit and integration (real Kamailio, SIPp, baresip on loopback)

export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin
# Fyne reads the locale; without one it logs an error at every start.
export LANG ?= C.UTF-8
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# Packages with window or sound-card code run without the race detector; every other package (a new one
# too, without editing this file) runs under it.
OTHER_PKGS := ./audio/... ./app/... ./assets/... .
# The real sound path (a private PulseAudio daemon) runs alone, after the rest: its test is that nothing
# clicks under a desktop's load, not under the whole suite's.
SOUND_PKGS := ./internal/soundtest/...
RACE_PKGS = $$($(GO) list ./... | grep -v -x -e stayline -e 'stayline/app.*' -e 'stayline/audio.*' -e 'stayline/assets.*' \
	-e 'stayline/internal/soundtest')

.PHONY: all build run test vet fmt-check deps-run deps-test lab-up lab-down lab-status lab-kill-home \
	lab-start-home lab-kill-alternate lab-start-alternate package package-windows windows windows-start windows-wait bench fleet fuzz clean

all: build

build: $(BIN)/stayline $(BIN)/stayline-lab

$(BIN)/stayline: FORCE
	$(GO) build -ldflags '$(LDFLAGS)' -o $@ .

$(BIN)/stayline-lab: FORCE
	$(GO) build -o $@ ./cmd/stayline-lab

FORCE:

deps-run:
	@scripts/deps.sh run

deps-test:
	@scripts/deps.sh test

# The window (under a desktop); RUN_FLAGS=-headless for the terminal front end.
RUN_FLAGS ?= $(if $(DISPLAY)$(WAYLAND_DISPLAY),,-headless)
run: deps-run build
	$(BIN)/stayline-lab run -- $(BIN)/stayline $(RUN_FLAGS)

# The packages under the race detector and the others run at the same time: both spend most of their
# time waiting on timers and on the lab, and one after the other they took 90 s more (CI's 15 minutes).
# The others' output is printed once both are done.
OTHER_LOG := $(BIN)/other-tests.log
test: deps-test windows-start vet fmt-check
	@mkdir -p $(BIN); rm -f $(OTHER_LOG).rc; \
	( STAYLINE_REQUIRE_LAB=1 $(GO) test -count=1 -timeout 12m $(OTHER_PKGS) > $(OTHER_LOG) 2>&1; echo $$? > $(OTHER_LOG).rc ) & \
	echo "STAYLINE_REQUIRE_LAB=1 $(GO) test -race -count=1 -timeout 12m (every package but $(OTHER_PKGS) $(SOUND_PKGS))"; \
	STAYLINE_REQUIRE_LAB=1 $(GO) test -race -count=1 -timeout 12m $(RACE_PKGS); race=$$?; \
	wait; echo "STAYLINE_REQUIRE_LAB=1 $(GO) test -count=1 -timeout 12m $(OTHER_PKGS) (alongside)"; cat $(OTHER_LOG); \
	other=$$(cat $(OTHER_LOG).rc 2>/dev/null || echo 1); [ $$race -eq 0 ] && [ $$other -eq 0 ]
	STAYLINE_REQUIRE_LAB=1 $(GO) test -count=1 -timeout 12m $(SOUND_PKGS)
	STAYLINE_LIVE_ECHO=1 $(GO) test -count=1 -timeout 5m -run '^TestEchoLive$$' ./audio/
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZ_QUICK)
	@$(MAKE) --no-print-directory windows-wait

# The Windows build (so it cannot rot) runs from the start of make test in the background at the lowest
# priority: with a cold cache its cgo step is one core's work for about 5 minutes, which it takes from
# the time the tests spend waiting on timers instead of adding it to the end. windows-wait reports it.
WINDOWS_STATUS := $(BIN)/windows-build.status
windows-start: deps-windows
	@mkdir -p $(BIN) && rm -f $(WINDOWS_STATUS)
	@( nice -n 19 $(MAKE) --no-print-directory windows > $(BIN)/windows-build.log 2>&1; echo $$? > $(WINDOWS_STATUS) ) &
	@echo "windows: building bin/stayline.exe in the background (log: $(BIN)/windows-build.log)"

windows-wait:
	@while [ ! -f $(WINDOWS_STATUS) ]; do sleep 1; done
	@st=$$(cat $(WINDOWS_STATUS)); if [ "$$st" != 0 ]; then tail -30 $(BIN)/windows-build.log; echo "windows build failed"; exit 1; fi
	@tail -1 $(BIN)/windows-build.log

# Stayline against baresip on the lab (README.md, "Performance"): `name value` lines (medians of BENCH_RUNS runs),
# then a table with the spread, the target and the verdict. Not part of make test (it takes ~5 minutes).
BENCH_RUNS ?= 5
bench: deps-test $(BIN)/stayline $(BIN)/stayline-bench
	$(BIN)/stayline-bench -stayline $(BIN)/stayline -runs $(BENCH_RUNS)

$(BIN)/stayline-bench: FORCE
	$(GO) build -o $@ ./cmd/stayline-bench

# A fleet of N real phones in one process against the lab, home killed and restarted, with the alternate
# and the simultaneous policy (README.md, "Performance" style figures, charts in docs/). Not part of make test.
N ?= 1000
RATE ?= 300
fleet: deps-test $(BIN)/stayline-fleet
	@mkdir -p docs
	$(BIN)/stayline-fleet -n $(N) -rate $(RATE) -chart docs/fleet

$(BIN)/stayline-fleet: FORCE
	$(GO) build -o $@ ./cmd/stayline-fleet

# Every fuzz target (its seed corpus lives in PKG/testdata/fuzz/TARGET). make test runs each briefly;
# make fuzz FUZZTIME=10m runs them longer. make test counts executions instead of seconds: with a duration,
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline exceeded" at the deadline and no
# crashing input (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 2m
FUZZ_QUICK ?= 50000x
FUZZ_TARGETS := config:FuzzParse headless:FuzzParse phone:FuzzParseSDP phone:FuzzSmallParsers \
	phone:FuzzRTPReceive audio:FuzzDecoders provision:FuzzSettings
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
		out=$$($(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 3s ./$$pkg/ 2>&1); st=$$?; \
		echo "$$out" | tail -3; [ $$st -eq 0 ] || { echo "$$out"; exit 1; }; \
	done

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l . 2>&1); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# The lab on its own, for watching a failover by hand (see README.md).
lab-up: $(BIN)/stayline-lab
	$(BIN)/stayline-lab up
lab-down: $(BIN)/stayline-lab
	$(BIN)/stayline-lab down
lab-status: $(BIN)/stayline-lab
	$(BIN)/stayline-lab status
lab-kill-home: $(BIN)/stayline-lab
	$(BIN)/stayline-lab kill home
lab-start-home: $(BIN)/stayline-lab
	$(BIN)/stayline-lab start home
lab-kill-alternate: $(BIN)/stayline-lab
	$(BIN)/stayline-lab kill alternate
lab-start-alternate: $(BIN)/stayline-lab
	$(BIN)/stayline-lab start alternate

# A Linux package (tar.xz with the binary, icon and .desktop file) from FyneApp.toml. The binary is built
# here (fyne package would rebuild it from source with its own flags: slower) and handed to the packager.
FYNE_TOOL := fyne.io/tools/cmd/fyne@v1.7.4
package: deps-run
	$(GO) install $(FYNE_TOOL)
	$(GO) build -ldflags '-s -w $(LDFLAGS)' -o $(BIN)/release/stayline .
	cd $(BIN)/release && $$($(GO) env GOPATH)/bin/fyne package -os linux --exe stayline --icon $(CURDIR)/assets/icon.png \
		--name Stayline --app-id net.stayline.phone --app-version 0.1.0 --src $(CURDIR)
	@# fyne adds %F for the link types of [CanOpen]; a .desktop may hold one field code, and links need %u.
	rm -rf $(BIN)/release/unpacked && mkdir -p $(BIN)/release/unpacked
	tar -xJf $(BIN)/release/Stayline.tar.xz -C $(BIN)/release/unpacked
	sed -i 's/^Exec=stayline %F %u$$/Exec=stayline %u/' $(BIN)/release/unpacked/stayline/usr/local/share/applications/net.stayline.phone.desktop
	grep -qx 'Exec=stayline %u' $(BIN)/release/unpacked/stayline/usr/local/share/applications/net.stayline.phone.desktop
	tar -cJf $(BIN)/release/Stayline.tar.xz -C $(BIN)/release/unpacked stayline && rm -rf $(BIN)/release/unpacked
	@ls -l $(BIN)/release/*.tar.xz

# Windows, cross-compiled with mingw-w64 (Debian's gcc-mingw-w64-x86-64). Opus and speexdsp are left out
# (-tags noopus,nospeexdsp: Debian has neither for mingw), so Windows offers G.711 and G.722, and its
# microphone has no echo canceller of the phone's own (README.md, "Calls and audio").
WINDOWS_ENV := CGO_ENABLED=1 GOOS=windows GOARCH=amd64 CC=x86_64-w64-mingw32-gcc
windows: deps-windows
	$(WINDOWS_ENV) CGO_CFLAGS="-O2 -g -w" $(GO) build -tags noopus,nospeexdsp -ldflags '$(LDFLAGS) -H windowsgui' -o $(BIN)/stayline.exe .
	@echo "built $(BIN)/stayline.exe"

deps-windows:
	@scripts/deps.sh windows

# The Windows program with its icon, version and manifest embedded (fyne package writes them as a .syso
# and builds again), and a .reg file that makes it the handler of sip:, sips:, tel: and callto: links.
# fyne package bumps Build in FyneApp.toml; the file is kept as it was.
package-windows: deps-windows
	$(GO) install $(FYNE_TOOL)
	rm -rf $(BIN)/release/windows && mkdir -p $(BIN)/release/windows
	cp FyneApp.toml $(BIN)/release/FyneApp.toml.keep
	$(WINDOWS_ENV) $$($(GO) env GOPATH)/bin/fyne package -os windows --tags noopus,nospeexdsp --release \
		--name Stayline --app-id net.stayline.phone --icon $(CURDIR)/assets/icon.png; \
		st=$$?; cp $(BIN)/release/FyneApp.toml.keep FyneApp.toml; rm -f fyne.syso; exit $$st
	mv Stayline.exe $(BIN)/release/windows/Stayline.exe
	cp assets/windows/stayline-links.reg README.md $(BIN)/release/windows/
	@ls -l $(BIN)/release/windows

clean:
	rm -rf $(BIN)
