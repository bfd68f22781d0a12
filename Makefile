# tagseal — build and test entry points. `make test` is the command CI runs.
GO ?= go
FUZZTIME ?= 20s

.PHONY: test demo vet purego fuzz bench bench-proxy interop vectors

## test: install test tools, start the real services (OpenBao, moto), vet,
## run every test with the race detector (services stop at the end), then
## run the conformance harness against every testee (make interop), then
## run each fuzz target for FUZZTIME.
test: vet purego
	scripts/with-services.sh $(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) interop
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME)

## purego: the core needs no cgo. Builds the pure packages and the CLI with
## CGO_ENABLED=0 (also for macOS and Windows), checks that their dependency
## graph holds no confluent-kafka-go package, and runs their tests without cgo.
PURE = . ./registry/... ./tags ./formats/... ./internal/keyring ./proxy ./cmd/tagseal ./testvectors/...
purego:
	CGO_ENABLED=0 $(GO) build $(PURE) ./kms/... ./examples/franz ./examples/prometheus
	@if CGO_ENABLED=0 $(GO) list -deps . ./registry ./proxy ./cmd/tagseal | grep confluent-kafka-go; then echo "purego: the core depends on confluent-kafka-go"; exit 1; fi
	GOOS=darwin GOARCH=arm64 CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/tagseal
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/tagseal
	CGO_ENABLED=0 $(GO) test -count=1 $(PURE)

## interop: the conformance harness over testvectors/v1 against every testee
## (scripts/conformance.sh: tagseal, Confluent Go, Python, JS and Rust, the
## Java port), one summary line per testee.
interop:
	GO=$(GO) scripts/conformance.sh

## vectors: regenerate testvectors/v1 (deterministic; commit the result).
vectors:
	$(GO) run ./cmd/tagseal vectors generate

vet:
	$(GO) mod download
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

## demo: run the demo on embedded defaults (in-memory registry, local KMS).
demo:
	$(GO) run ./cmd/tagseal demo

## fuzz: run every fuzz target for FUZZTIME (scripts/fuzz.sh).
fuzz:
	GO=$(GO) scripts/fuzz.sh $(FUZZTIME)

## bench: tagseal and Confluent's serdes side by side; writes bench/RESULTS.md.
BENCHCOUNT ?= 5
bench:
	$(GO) test ./bench -run '^$$' -bench 'Serde|Floor|Guard' -benchmem -count $(BENCHCOUNT) | tee bench/out.txt
	$(GO) test ./bench -run '^$$' -bench 'Parallel' -benchmem -count $(BENCHCOUNT) -cpu 1,2 | tee -a bench/out.txt
	$(GO) run ./bench/report < bench/out.txt > bench/RESULTS.md
	cat bench/PROXY.md >> bench/RESULTS.md
	cat bench/RESULTS.md

## bench-proxy: records/s with the real broker, direct vs through tagseal
## proxy (no rules, three encrypted fields); raw output in bench/proxy-out.txt,
## the table lives in bench/PROXY.md (appended to RESULTS.md by make bench).
bench-proxy:
	scripts/with-services.sh $(GO) test ./bench -run '^$$' -bench ProxyThroughput -benchtime 3x -count 3 | tee bench/proxy-out.txt
