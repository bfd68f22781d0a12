# tagseal — build and test entry points. `make test` is the command CI runs.
GO ?= go
FUZZTIME ?= 30s

.PHONY: test demo vet fuzz bench

## test: install test tools, start the real services (OpenBao), vet, and
## run every test with the race detector; services stop at the end.
test: vet
	scripts/with-services.sh $(GO) test -race -count=1 -timeout 20m ./...

vet:
	$(GO) mod download
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

## demo: run the demo on embedded defaults (in-memory registry, local KMS).
demo:
	$(GO) run ./cmd/tagseal demo

## fuzz: fuzz the Avro rewriter for FUZZTIME.
fuzz:
	$(GO) test ./formats/avro -run '^$$' -fuzz FuzzRewrite -fuzztime $(FUZZTIME)

## bench: tagseal and Confluent's serdes side by side; writes bench/RESULTS.md.
BENCHCOUNT ?= 5
bench:
	$(GO) test ./bench -run '^$$' -bench 'Serde|Floor' -benchmem -count $(BENCHCOUNT) | tee bench/out.txt
	$(GO) test ./bench -run '^$$' -bench 'Parallel' -benchmem -count $(BENCHCOUNT) -cpu 1,2 | tee -a bench/out.txt
	$(GO) run ./bench/report < bench/out.txt > bench/RESULTS.md
	cat bench/RESULTS.md
