# reachmon — see README.md. The two commands a new user needs:
#   make run    build and run the monitor on config/reachmon.toml
#   make test   install what the tests need, then run them all
# and, while editing, the fast loop:
#   make check  lint and the unit tests with -short (no root, no daemons)

GO        ?= go
BIN       := bin/reachmon
CONFIG    ?= config/reachmon.toml
FUZZTIME  ?= 20000x
TESTFLAGS ?=

.PHONY: all build run test test-deps check fuzz lint vulncheck bench clean demo

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/reachmon

run: build
	./$(BIN) run --config $(CONFIG)

test-deps:
	./scripts/install-test-deps.sh

test: test-deps lint
	$(GO) test -race -timeout 45m -count=1 $(TESTFLAGS) ./...
	$(MAKE) fuzz

# The edit loop: lint, then the unit tests with -short and without -race,
# leaving out integration/ (real daemons, root) and bench/ (benchmark
# harnesses). -short skips the slow BGP reconnect and timer tests. Go's test
# cache keeps unchanged packages free; `make check TESTFLAGS=-count=1`
# reruns everything. `make test` stays the full run (and what CI runs).
check: lint
	$(GO) test -short $(TESTFLAGS) $$($(GO) list ./... | grep -v -e '/integration' -e '/bench')

# Every fuzz target, 20000 inputs each (see scripts/fuzz.sh); `make fuzz FUZZTIME=5m` for a longer run.
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff
	./scripts/vulncheck.sh

# govulncheck against vulnerability data from the Go module proxy (see scripts/vulncheck.sh).
vulncheck:
	./scripts/vulncheck.sh

bench: build
	./scripts/install-bench-deps.sh
	./scripts/bench.sh

# The outage lab for a person: needs root; Ctrl-C stops and cleans up.
demo:
	./scripts/demo.sh

clean:
	rm -rf bin var
