// Package gooracle holds the in-process oracle tests: tagseal against
// confluent-kafka-go's own CSFLE serdes (avrov2 + rules/encryption +
// localkms) over one shared mock:// Schema Registry and DEK Registry. The
// package has no non-test code.
package gooracle
