# poktroll: the chain (poktrolld) and its RelayMiner.
GO       ?= go
BIN      := bin
GOBIN    := $(CURDIR)/$(BIN)
export PATH := $(GOBIN):$(PATH)
# Sign and verify with the libsecp256k1 C library the Cosmos SDK bundles
# (cgo): ~4x faster verification of relay signatures than the pure-Go curve.
# Set TAGS= for a pure-Go build.
TAGS     ?= libsecp256k1_sdk
GOFLAGS_TAGS := -tags '$(TAGS)'

.PHONY: all build install test test-short bench soak proto-gen proto-lint proto-check localnet localnet-check faults clean

all: build

## build: compile poktrolld into bin/
build:
	$(GO) build $(GOFLAGS_TAGS) -o $(BIN)/poktrolld ./cmd/poktrolld

## install: install poktrolld into GOPATH/bin
install:
	$(GO) install $(GOFLAGS_TAGS) ./cmd/poktrolld

## test: gofmt and go vet, then every test with the race detector (what CI
## runs). vet's unreachable check is off: the generated api/ (pulsar) code
## is full of it, and go 1.26.8 reports it through importing packages too.
test:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "not gofmt-ed (run gofmt -w):"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(GOFLAGS_TAGS) -unreachable=false ./...
	$(GO) test $(GOFLAGS_TAGS) -race -count=1 -timeout 30m ./...

## test-short: unit tests only, no in-process network
test-short:
	$(GO) test $(GOFLAGS_TAGS) -race -count=1 -short ./...

## bench: RelayMiner throughput and latency vs the backend hit directly,
## WebSocket messages through AppGate and RelayMiner vs the backend's socket
## directly (1 and 100 sockets, and paced at 1,000/s), and the claim trie of
## a 100,000-relay session: seal (build) and proof times, and a fleet's
## takeover: a fresh replica replaying a 100,000-relay session and claiming
## it (figures in README)
bench:
	$(GO) test $(GOFLAGS_TAGS) -run '^$$' -bench 'BenchmarkRelay$$' -benchtime 20000x ./x/relayer/relayminer/
	$(GO) test $(GOFLAGS_TAGS) -run '^$$' -bench 'BenchmarkRelayAt1000rps' -benchtime 1x ./x/relayer/relayminer/
	$(GO) test $(GOFLAGS_TAGS) -run '^$$' -bench 'BenchmarkSocket$$' -benchtime 20000x ./x/relayer/relayminer/
	$(GO) test $(GOFLAGS_TAGS) -run '^$$' -bench 'BenchmarkSocketAt1000mps' -benchtime 1x ./x/relayer/relayminer/
	$(GO) test $(GOFLAGS_TAGS) -run '^$$' -bench 'BenchmarkClaimTrie100k' -benchtime 1x ./x/relayer/relayminer/session/
	$(GO) test $(GOFLAGS_TAGS) -run '^$$' -bench 'BenchmarkTakeover' -benchtime 1x ./x/relayer/relayminer/fleet/

## soak: a soak benchmark, not part of test: 1,000,000 signed relays over 4
## sessions through the real relay path (HTTP, proxy, miner, sessions,
## leveldb), claimed and proven as they go, the RelayMiner in a child process
## of its own; prints throughput, the RelayMiner's RSS, heap and allocation
## rate (and the load process's RSS apart) and store size, fails on a refused
## relay or a claim missing one. More: make soak SOAK_FLAGS='-relays 5000000
## -sessions 10 -miner-memlimit 160MiB' (go run ./scripts/soak -h)
SOAK_FLAGS ?=
soak:
	$(GO) run $(GOFLAGS_TAGS) ./scripts/soak $(SOAK_FLAGS)

## proto-gen: regenerate x/relayer/types/*.pb.go and api/ from proto/ (offline)
proto-gen:
	./scripts/proto-gen.sh

## proto-lint: buf lint over proto/
proto-lint:
	cd tools && GOBIN=$(GOBIN) $(GO) install github.com/bufbuild/buf/cmd/buf
	$(BIN)/buf lint

## proto-check: fail if the committed generated code differs from proto/
proto-check: proto-gen
	git diff --exit-code -- x/relayer/types api

## localnet: a one-node chain in ./localnet with a staked application and
## supplier, a RelayMiner, an AppGate and relays through it, claims, proofs
## and settlements as they happen; runs until Ctrl-C, which stops every
## process it started (go run ./scripts/localnet; needs only Go and make)
localnet: build
	$(GO) run ./scripts/localnet

## localnet-check: the localnet flow unattended; exits 0 only when the first
## relays settle for exactly the expected amount within 5 minutes of the
## build (what CI runs after the tests)
localnet-check: build
	$(GO) run ./scripts/localnet --check

## faults: fault benchmark (not part of test, several minutes): a fresh
## one-node chain, RelayMiner and AppGate as processes, relays through the
## AppGate at 100/s while the RelayMiner is killed -9 at random lifecycle
## points (20x) and the node restarted (5x); reports relays answered,
## claimed and settled per session and fails if any answered relay did not
## settle or the supplier was slashed. Flags: FAULTS_FLAGS="-seed 42
## -duration 300s -rate 200 -relayminer-kills 30 -node-restarts 5
## -report-only" (go run ./scripts/faults -h lists them)
FAULTS_FLAGS ?=
faults: build
	$(GO) run ./scripts/faults -bin $(BIN)/poktrolld $(FAULTS_FLAGS)

clean:
	rm -rf $(BIN) .gen
