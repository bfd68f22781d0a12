package serde

import (
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/deks"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"

	"github.com/tagseal/tagseal"
)

// SerializerConfig configures a Serializer. It embeds Confluent's config, so
// AutoRegisterSchemas, UseSchemaID, UseLatestVersion, UseLatestWithMetadata,
// NormalizeSchemas, RuleConfig and SubjectNameStrategyType mean what they
// mean there.
type SerializerConfig struct {
	cserde.SerializerConfig
	Options
}

// DeserializerConfig configures a Deserializer; it embeds Confluent's config.
type DeserializerConfig struct {
	cserde.DeserializerConfig
	Options
}

// Options are tagseal's additions, shared by both directions. The zero value
// is ready to use.
type Options struct {
	// SubjectNameStrategy, when set, overrides SubjectNameStrategyType.
	SubjectNameStrategy cserde.SubjectNameStrategyFunc
	// SchemaIDSerializer frames the schema id (serializer only). Default:
	// Confluent's PrefixSchemaIDSerializer; cserde.HeaderSchemaIDSerializer
	// puts the GUID in a header instead.
	SchemaIDSerializer cserde.SchemaIDSerializerFunc
	// DEKCacheTTL is how long an unwrapped DEK is used before its KEK and
	// DEK are fetched and unwrapped again — which is when a deleted
	// (shredded) key takes effect for a running consumer. Zero means
	// DefaultDEKCacheTTL; negative keeps DEKs for the life of the serde.
	// When a refresh fails because the registry or KMS is unreachable, the
	// cached DEK stays in use; when the key was deleted, it is dropped.
	DEKCacheTTL time.Duration
	// ReadDeletedKeys lets readers use soft-deleted KEKs and DEKs, as
	// Confluent's clients do. By default a soft-deleted key is shredded:
	// reads fail with ErrKeyShredded (or pass ciphertext per the rule).
	ReadDeletedKeys bool
	// DEKRegistryURL, when set, is where the DEK Registry lives; by default
	// it is the Schema Registry's URL (as in Confluent Schema Registry).
	DEKRegistryURL string
	// Clock returns the current time; it decides DEK expiry. Default time.Now.
	Clock func() time.Time
	// LatestSchemaTTL is how long the serializer reuses a UseLatestVersion or
	// UseLatestWithMetadata lookup before asking the registry again. Zero
	// means DefaultLatestSchemaTTL; negative asks on every record.
	// Resolutions that cannot change (UseSchemaID, a schema's id) are kept
	// for the serializer's life.
	LatestSchemaTTL time.Duration
	// SchemaType is the format of schemas derived from Go values for
	// auto-registration: TypeAvro (default) or TypeJSONSchema.
	SchemaType string
	// DEKClient is the DEK Registry client. Default: confluent-kafka-go's
	// deks client for the schema registry client's configuration (for a
	// mock:// URL, its process-wide in-memory mock).
	DEKClient deks.Client
	// BindCiphertexts binds every ciphertext to its subject and field path
	// through AEAD associated data, so a ciphertext copied to another field
	// or subject no longer decrypts. Confluent's format uses no associated
	// data: bound records are NOT readable by Confluent clients (or by a
	// tagseal reader without this option). Off by default.
	BindCiphertexts bool
	// AllowEncryptionDowngrade turns off the serializer's downgrade guard.
	// By default a serializer refuses (ErrEncryptionDowngrade) to write with
	// a schema that protects less than its subject's latest version, and
	// auto-registration carries the latest version's rules, metadata and
	// field tags over to the derived schema. Confluent's serializers do
	// neither: an untagged derived schema is registered and its fields are
	// written in clear. Set this only to get that behaviour back.
	AllowEncryptionDowngrade bool
	// Validate checks JSON Schema payloads against their schema: plaintext
	// before encryption on write, after decryption on read (Confluent's
	// EnableValidation).
	Validate bool
	// KMSTimeout bounds each KMS call (zero: DefaultKMSTimeout; negative:
	// no deadline of tagseal's own). Confluent's clients have no contexts,
	// so this is the only deadline a KMS call gets.
	KMSTimeout time.Duration
	// Observer receives KMS and registry calls, DEK cache lookups, DEK
	// versions created and encryptions per DEK version (see
	// tagseal.Observer). Nil costs nothing.
	Observer tagseal.Observer
}

// NewSerializerConfig returns Confluent's serializer defaults
// (AutoRegisterSchemas on, UseSchemaID -1).
func NewSerializerConfig() *SerializerConfig {
	return &SerializerConfig{SerializerConfig: *cserde.NewSerializerConfig()}
}

// NewDeserializerConfig returns Confluent's deserializer defaults.
func NewDeserializerConfig() *DeserializerConfig {
	return &DeserializerConfig{DeserializerConfig: *cserde.NewDeserializerConfig()}
}
