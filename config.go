package tagseal

import (
	"time"

	"github.com/tagseal/tagseal/internal/keyring"
	"github.com/tagseal/tagseal/registry"
)

// Type says whether a serde handles record keys or values: it decides the
// subject ("<topic>-key" or "<topic>-value" under the topic strategy) and
// the schema-id header name.
type Type int

const (
	// Value selects the record value subject; the zero Type.
	Value Type = iota
	// Key selects the record key subject.
	Key
)

// String returns "value" or "key".
func (t Type) String() string {
	if t == Key {
		return "key"
	}
	return "value"
}

// Header is a Kafka record header, as franz-go's kgo.RecordHeader and
// every other client carry it.
type Header struct {
	Key   string
	Value []byte
}

// Header names that carry a schema GUID instead of the payload prefix.
const (
	ValueSchemaIDHeader = "__value_schema_id"
	KeySchemaIDHeader   = "__key_schema_id"
)

// SubjectNameStrategy names the subject of a record's schema. schema is the
// schema being written or read (empty when only the topic is known, as on
// the read path before the writer schema is fetched); recordName returns
// its record name (Avro full name, JSON Schema title, first Protobuf
// message), compiling it once.
type SubjectNameStrategy func(topic string, t Type, schema registry.Schema, recordName func() (string, error)) (string, error)

// TopicNameStrategy names subjects "<topic>-value" / "<topic>-key": the
// default, and Confluent's.
func TopicNameStrategy(topic string, t Type, _ registry.Schema, _ func() (string, error)) (string, error) {
	return topic + "-" + t.String(), nil
}

// RecordNameStrategy names subjects by the schema's record name.
func RecordNameStrategy(_ string, _ Type, _ registry.Schema, recordName func() (string, error)) (string, error) {
	return recordName()
}

// TopicRecordNameStrategy names subjects "<topic>-<record name>".
func TopicRecordNameStrategy(topic string, _ Type, _ registry.Schema, recordName func() (string, error)) (string, error) {
	name, err := recordName()
	if err != nil {
		return "", err
	}
	return topic + "-" + name, nil
}

// SerializerConfig configures a Serializer. It is copied when the
// Serializer is built: changing it afterwards changes nothing. The zero
// value looks the schema derived from each Go value up in the registry
// (without registering it) and writes with it; set exactly one of
// UseSchemaID, UseLatestVersion, UseLatestWithMetadata or
// AutoRegisterSchemas to choose otherwise.
type SerializerConfig struct {
	// AutoRegisterSchemas registers the schema derived from the Go value
	// (Avro or JSON Schema, see SchemaType). When the subject's latest
	// version has rules or tags, they are carried over (see
	// AllowEncryptionDowngrade).
	AutoRegisterSchemas bool
	// NormalizeSchemas asks the registry to normalize schemas it looks up
	// or registers.
	NormalizeSchemas bool
	// UseSchemaID writes every record with this schema id (0: unset).
	UseSchemaID int
	// UseLatestVersion writes with the subject's latest version.
	UseLatestVersion bool
	// UseLatestWithMetadata writes with the subject's latest version whose
	// metadata properties hold these pairs.
	UseLatestWithMetadata map[string]string
	// LatestSchemaTTL is how long a latest-version lookup (also the
	// downgrade guard's) is reused. Zero means DefaultLatestSchemaTTL;
	// negative asks the registry on every record.
	LatestSchemaTTL time.Duration
	// SchemaType is the format of schemas derived from Go values:
	// registry.TypeAvro (default) or registry.TypeJSON. Protobuf schemas
	// are registered, not derived.
	SchemaType string
	// SubjectNameStrategy names subjects; nil means TopicNameStrategy.
	SubjectNameStrategy SubjectNameStrategy
	// SchemaIDInHeader writes the schema GUID in the __value_schema_id /
	// __key_schema_id header (SerializeWithHeaders) instead of the 0x00 +
	// id payload prefix.
	SchemaIDInHeader bool
	// Validate checks JSON Schema values against their schema before
	// encrypting them.
	Validate bool
	// AllowEncryptionDowngrade turns the downgrade guard off. By default a
	// serializer refuses (ErrEncryptionDowngrade) to write with a schema
	// that protects less than its subject's latest version, and
	// auto-registration carries the latest version's rules, metadata and
	// field tags over to the derived schema. Confluent's serializers do
	// neither.
	AllowEncryptionDowngrade bool
	Keys
}

// DeserializerConfig configures a Deserializer. It is copied when the
// Deserializer is built. The zero value reads every record with the rules
// of the schema it was written with.
type DeserializerConfig struct {
	// UseLatestVersion reads with the subject's latest version as reader
	// schema (Avro schema resolution), and its rules.
	UseLatestVersion bool
	// UseLatestWithMetadata reads with the subject's latest version whose
	// metadata properties hold these pairs.
	UseLatestWithMetadata map[string]string
	// LatestSchemaTTL is how long a latest-version lookup is reused (zero:
	// DefaultLatestSchemaTTL; negative: every record).
	LatestSchemaTTL time.Duration
	// SubjectNameStrategy names subjects; nil means TopicNameStrategy.
	SubjectNameStrategy SubjectNameStrategy
	// Validate checks JSON Schema documents after decrypting them.
	Validate bool
	// ReadDeletedKeys lets readers use soft-deleted KEKs and DEKs, as
	// Confluent's clients do. By default a soft-deleted key is shredded:
	// reads fail with ErrKeyShredded (or pass ciphertext per the rule).
	ReadDeletedKeys bool
	Keys
}

// Keys configures key handling, in both directions.
type Keys struct {
	// RuleConfig is passed to every rule's KMS: "secret" for local-kms,
	// "token.id" for hcvault, credentials for cloud KMSs. Missing keys fall
	// back to the environment as each KMS documents.
	RuleConfig map[string]string
	// DEKCacheTTL is how long an unwrapped DEK is used before its KEK and
	// DEK are fetched and unwrapped again, which is when a deleted
	// (shredded) key takes effect for a running consumer. Zero means
	// DefaultDEKCacheTTL; negative keeps DEKs for the serde's life. When a
	// refresh fails because the registry or KMS is unreachable, the cached
	// DEK stays in use; when the key was deleted, it is dropped.
	DEKCacheTTL time.Duration
	// DEKRegistry, when set, is where DEKs live; by default the registry
	// given to the constructor (as Confluent Schema Registry serves both).
	DEKRegistry registry.DEKRegistry
	// BindCiphertexts binds every ciphertext to its subject and field path
	// through AEAD associated data, so a ciphertext copied to another field
	// or subject no longer decrypts. Bound records are NOT readable by
	// Confluent clients (or by a tagseal reader without this option).
	BindCiphertexts bool
	// Clock returns the current time; it decides DEK expiry and cache
	// lifetimes. Default time.Now.
	Clock func() time.Time
	// KMSTimeout bounds each KMS call (building a key's client, wrapping
	// a new DEK, unwrapping one) within the record's context. Zero means
	// DefaultKMSTimeout; negative leaves only the record's context.
	KMSTimeout time.Duration
	// Observer, when set, receives KMS and registry calls, DEK cache hits
	// and misses, DEK versions created and encryptions per DEK version:
	// see Observer. Nil costs nothing.
	Observer Observer
}

// DefaultDEKCacheTTL is the DEKCacheTTL used when it is zero.
const DefaultDEKCacheTTL = keyring.DefaultTTL

// DefaultKMSTimeout is the KMSTimeout used when it is zero.
const DefaultKMSTimeout = keyring.DefaultKMSTimeout

// DefaultMaxEncryptions is the usage limit (encryptions per DEK version
// and serializer) of a rotating AES-GCM rule without
// encrypt.dek.max.encryptions: 2^22, so up to 1024 serializers sharing a
// version stay within NIST SP 800-38D's 2^32 random-nonce invocations.
const DefaultMaxEncryptions = keyring.DefaultMaxEncryptions

// DefaultLatestSchemaTTL is the LatestSchemaTTL used when it is zero.
const DefaultLatestSchemaTTL = 30 * time.Second

// Rule parameters tagseal reads (rule params, then the schema's
// metadata.properties), and the DEK algorithms.
const (
	ParamKEKName            = keyring.ParamKEKName
	ParamKMSType            = keyring.ParamKMSType
	ParamKMSKeyID           = keyring.ParamKMSKeyID
	ParamDEKAlgorithm       = keyring.ParamDEKAlgorithm
	ParamDEKExpiryDays      = keyring.ParamDEKExpiryDays
	ParamAlternateKMSKeyIDs = keyring.ParamAlternateKMSKeyIDs
	// ParamDEKMaxEncryptions is tagseal's usage limit: a serializer that
	// has encrypted this many values under one DEK version moves to the
	// next version, as expiry does. Only rotating rules
	// (encrypt.dek.expiry.days > 0) may set it; DefaultMaxEncryptions
	// applies to rotating AES-GCM rules without it.
	ParamDEKMaxEncryptions = keyring.ParamDEKMaxEncryptions

	AES128GCM = keyring.AES128GCM
	AES256GCM = keyring.AES256GCM
	AES256SIV = keyring.AES256SIV
)
