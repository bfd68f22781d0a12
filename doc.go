// Package tagseal encrypts the fields of Kafka records that a Schema
// Registry schema tags as sensitive, in the format of Confluent's
// client-side field-level encryption (CSFLE), in pure Go: no cgo, no
// librdkafka, so it serves franz-go, sarama and segmentio/kafka-go
// producers, static CGO_ENABLED=0 builds and cross builds alike.
//
// Security engineers tag schema fields (Avro "confluent:tags", JSON Schema
// "confluent:tags", Protobuf (confluent.field_meta).tags, or metadata.tags
// path patterns) and attach an ENCRYPT rule naming a key-encryption key
// (KEK) in a KMS. A [Serializer] resolves the schema, encodes the value and
// replaces every tagged string or bytes value with its ciphertext under a
// cached data-encryption key (DEK) that the KEK wraps and the DEK Registry
// stores; a [Deserializer] reverses it for consumers whose KMS access can
// unwrap the DEK. A tag the planner cannot place is a plan-time error, and
// a producer may not drop its subject's encryption contract
// ([ErrUnplaceableTag], [ErrEncryptionDowngrade]): a tagged value is never
// written in clear unless its rule's write action says NONE.
//
// The registry comes from package registry: registry.New for a running
// Schema Registry, registry.NewMemory for an embedded one. Package serde is
// the drop-in for confluent-kafka-go's serde interfaces over this engine.
//
// The bytes are specified in testvectors/SPEC.md and pinned by the test
// vectors in testvectors/v1.
package tagseal
