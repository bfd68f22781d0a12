// Package bench holds side-by-side benchmarks of tagseal and
// confluent-kafka-go's CSFLE serdes over the same records, registry and
// keys. It has no non-test code; run `make bench`.
package bench
