// Package registryoracle holds oracle tests that need what a real Schema
// Registry does and Confluent's mock:// client does not: one schema id for
// identical text under every subject, rules and metadata per subject
// version, inheritance of both by a new version. tagseal and
// confluent-kafka-go's CSFLE serdes share one HTTP registry double
// (tagseal's registry.Memory served over HTTP) for the whole test binary, because Confluent's
// encryption executor is process-wide and accepts a single registry. The
// package has no non-test code.
package registryoracle
