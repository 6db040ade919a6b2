# Stayline. The two commands a newcomer needs, each installing what it lacks first:
#   make run    the phone (against the project's own lab if you have no configuration yet)
#   make test   every test, unit and integration (real Kamailio, SIPp, baresip on loopback)

export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# Packages that hold no window code run under the race detector.
RACE_PKGS := ./config/... ./failover/... ./phone/... ./headless/... ./lab/... ./internal/... ./cmd/...
OTHER_PKGS := ./audio/... ./app/... ./assets/... .

.PHONY: all build run test vet fmt-check deps-run deps-test lab-up lab-down lab-status lab-kill-home \
	lab-start-home lab-kill-alternate lab-start-alternate clean

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

run: deps-run build
	$(BIN)/stayline-lab run -- $(BIN)/stayline -headless

test: deps-test vet fmt-check
	STAYLINE_REQUIRE_LAB=1 $(GO) test -race -count=1 -timeout 12m $(RACE_PKGS)
	STAYLINE_REQUIRE_LAB=1 $(GO) test -count=1 -timeout 12m $(OTHER_PKGS)

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

clean:
	rm -rf $(BIN)
