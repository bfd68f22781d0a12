# tagseal — build and test entry points. `make test` is the command CI runs.
GO ?= go
FUZZTIME ?= 20s

.PHONY: test demo vet fuzz bench interop vectors

## test: install test tools, start the real services (OpenBao, moto), vet,
## run every test with the race detector (services stop at the end), then
## run the cross-language vector runners (scripts/interop.sh), then run
## each fuzz target for FUZZTIME.
test: vet
	scripts/with-services.sh $(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) interop
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME)

## interop: the cross-language runners over testvectors/v1 (Python, JS, Java).
interop:
	GO=$(GO) scripts/interop.sh

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
	cat bench/RESULTS.md
