# mfabridge. `make run` starts the demo; `make test` installs what the tests
# need (Debian packages) and runs them.

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GOLANGCI_LINT_VERSION := v2.15.0
NFPM_VERSION := v2.45.2
GOARCH ?= $(shell $(GO) env GOARCH)
# Package version: 0.1.0 plus the commit, sortable by dpkg and rpm.
PKG_VERSION ?= 0.1.0~git$(shell git rev-list --count HEAD 2>/dev/null || echo 0).$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

.PHONY: all build run test test-deps lint package bench soak clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/mfabridge ./cmd/mfabridge

# The demo: RADIUS on 127.0.0.1:1812 (secret testing123) in front of an
# emulated tenant. Stop it with Ctrl-C.
run: build
	./bin/mfabridge demo

test-deps:
	./scripts/test-deps.sh

test: test-deps
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: run gofmt -w on the files above'; exit 1; }
	$(GO) vet ./...
	$(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION) run ./...

# .deb and .rpm in dist/ (nfpm, run as a Go module: nothing to install).
package: build
	mkdir -p dist
	VERSION=$(PKG_VERSION) GOARCH=$(GOARCH) $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION) package -f packaging/nfpm.yaml -p deb -t dist/
	VERSION=$(PKG_VERSION) GOARCH=$(GOARCH) $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION) package -f packaging/nfpm.yaml -p rpm -t dist/

# Measures mfabridge against FreeRADIUS (Debian package freeradius) on this
# machine and writes docs/benchmarks.md and its latency plot. A few minutes.
bench:
	@command -v freeradius >/dev/null 2>&1 && [ -e /usr/lib/freeradius/rlm_rest.so ] || ./scripts/test-deps.sh --bench
	$(GO) run ./cmd/mfabridge-bench -out docs/benchmarks.md

# The same with the ten-minute soak the targets ask for.
soak:
	$(GO) run ./cmd/mfabridge-bench -out docs/benchmarks.md -soak 10m

clean:
	rm -rf bin dist
