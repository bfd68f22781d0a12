// Package e2e holds end-to-end tests against a real Apache Kafka broker
// (one KRaft node that `make test` starts on 127.0.0.1): tagseal as the
// value and key serializer of confluent-kafka-go and franz-go clients. The
// package has no non-test code.
package e2e
