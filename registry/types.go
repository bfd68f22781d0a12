package registry

// Schema types as the Schema Registry names them in the "schemaType" field.
// The registry treats an empty schemaType as Avro and answers Avro schemas
// without one, so code that compares types should go through
// [Schema.Type] rather than the raw field.
const (
	// TypeAvro is an Apache Avro schema, the registry's default type.
	TypeAvro = "AVRO"
	// TypeJSON is a JSON Schema.
	TypeJSON = "JSON"
	// TypeProtobuf is a Protocol Buffers (.proto) schema.
	TypeProtobuf = "PROTOBUF"
)

// Reference names another registered schema that a schema imports: Name
// is how the referring schema spells it (an Avro full name, a JSON Schema
// $ref URL, a .proto import path), Subject and Version locate it in the
// registry.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// Rule is one data-contract rule. For client-side field-level encryption
// the rule that matters has Kind "TRANSFORM", Type "ENCRYPT", Mode
// "WRITEREAD", the field Tags it protects, and Params naming the KEK
// ("encrypt.kek.name"), the KMS ("encrypt.kms.type", "encrypt.kms.key.id")
// and optionally the DEK algorithm and rotation period. OnSuccess and
// OnFailure name actions (NONE, ERROR, DLQ; two comma-separated for
// WRITEREAD and UPDOWN rules: write side first). A Disabled rule is kept
// in the contract but not run.
type Rule struct {
	Name      string            `json:"name,omitempty"`
	Doc       string            `json:"doc,omitempty"`
	Kind      string            `json:"kind,omitempty"`
	Mode      string            `json:"mode,omitempty"`
	Type      string            `json:"type,omitempty"`
	Tags      []string          `json:"tags,omitempty"`
	Params    map[string]string `json:"params,omitempty"`
	Expr      string            `json:"expr,omitempty"`
	OnSuccess string            `json:"onSuccess,omitempty"`
	OnFailure string            `json:"onFailure,omitempty"`
	Disabled  bool              `json:"disabled,omitempty"`
}

// RuleSet groups a schema version's rules by phase: MigrationRules run
// when reading data written with another version, DomainRules (where
// field-level encryption rules live) on every record, EncodingRules on
// the serialized payload (whole-payload encryption). EnableAt, when set,
// is the time from which the set applies, as the registry spells it.
type RuleSet struct {
	MigrationRules []Rule `json:"migrationRules,omitempty"`
	DomainRules    []Rule `json:"domainRules,omitempty"`
	EncodingRules  []Rule `json:"encodingRules,omitempty"`
	EnableAt       string `json:"enableAt,omitempty"`
}

// Metadata is a schema version's data-contract metadata: Tags maps a
// field path to the tags placed on it from outside the schema text,
// Properties holds free-form key/value pairs (the ones
// [SchemaRegistry.LatestWithMetadata] matches on, such as an application
// version), and Sensitive lists property names whose values are secret.
type Metadata struct {
	Tags       map[string][]string `json:"tags,omitempty"`
	Properties map[string]string   `json:"properties,omitempty"`
	Sensitive  []string            `json:"sensitive,omitempty"`
}

// Schema is a schema as the registry stores and serves it: the text, its
// type (empty means Avro), the schemas it references, and — belonging to
// one subject version rather than to the text — the data contract's
// Metadata and RuleSet. A nil Metadata or RuleSet means "none given";
// when registering, the registry then carries the previous version's
// over.
type Schema struct {
	Schema     string      `json:"schema,omitempty"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Metadata   *Metadata   `json:"metadata,omitempty"`
	RuleSet    *RuleSet    `json:"ruleSet,omitempty"`
}

// Type returns the schema's type with the registry's default applied:
// [TypeAvro] when SchemaType is empty, else SchemaType.
func (s Schema) Type() string {
	if s.SchemaType == "" {
		return TypeAvro
	}
	return s.SchemaType
}

// SubjectSchema is one version of a subject: the [Schema] (its fields are
// flattened into the same JSON object, as the registry sends them), the
// Subject and Version, the numeric ID that names the schema content in
// the wire format's 5-byte prefix, and the GUID that names it in record
// headers (Confluent Platform 8 and later; empty from older registries).
type SubjectSchema struct {
	Schema
	Subject string `json:"subject,omitempty"`
	Version int    `json:"version,omitempty"`
	ID      int    `json:"id,omitempty"`
	GUID    string `json:"guid,omitempty"`
}

// KEK is a key-encryption key as the DEK Registry records it: a Name that
// encryption rules refer to, the KMS that holds the key (KmsType such as
// "aws-kms", "azure-kms", "gcp-kms", "hcvault", "local-kms"; KmsKeyID its
// identifier there; KmsProps extra KMS settings), a Doc string, and Shared,
// which lets the registry itself use the KMS to generate DEKs. Ts is the
// registry's last-change time in Unix milliseconds; Deleted marks a
// soft-deleted key.
type KEK struct {
	Name     string            `json:"name,omitempty"`
	KmsType  string            `json:"kmsType,omitempty"`
	KmsKeyID string            `json:"kmsKeyId,omitempty"`
	KmsProps map[string]string `json:"kmsProps,omitempty"`
	Doc      string            `json:"doc,omitempty"`
	Shared   bool              `json:"shared,omitempty"`
	Ts       int64             `json:"ts,omitempty"`
	Deleted  bool              `json:"deleted,omitempty"`
}

// DEK is a data-encryption key version as the DEK Registry records it:
// the KEK that wraps it (KekName), the Subject it encrypts, its Version
// (versions count up as the key rotates), the Algorithm (AES256_GCM when
// empty; also AES128_GCM, AES256_SIV), and EncryptedKeyMaterial, the key
// wrapped by the KEK and base64-encoded. KeyMaterial (base64 raw key) is
// only ever filled by a registry that holds a shared KEK. Ts and Deleted
// are as for [KEK].
type DEK struct {
	KekName              string `json:"kekName,omitempty"`
	Subject              string `json:"subject,omitempty"`
	Version              int    `json:"version,omitempty"`
	Algorithm            string `json:"algorithm,omitempty"`
	EncryptedKeyMaterial string `json:"encryptedKeyMaterial,omitempty"`
	KeyMaterial          string `json:"keyMaterial,omitempty"`
	Ts                   int64  `json:"ts,omitempty"`
	Deleted              bool   `json:"deleted,omitempty"`
}

// DefaultAlgorithm is the DEK algorithm the DEK Registry assumes when a
// request names none.
const DefaultAlgorithm = "AES256_GCM"

// createKEKRequest is the body of POST /dek-registry/v1/keks.
type createKEKRequest struct {
	Name     string            `json:"name,omitempty"`
	KmsType  string            `json:"kmsType,omitempty"`
	KmsKeyID string            `json:"kmsKeyId,omitempty"`
	KmsProps map[string]string `json:"kmsProps,omitempty"`
	Doc      string            `json:"doc,omitempty"`
	Shared   bool              `json:"shared,omitempty"`
	Deleted  bool              `json:"deleted,omitempty"`
}

// createDEKRequest is the body of POST /dek-registry/v1/keks/{kek}/deks[/{subject}].
type createDEKRequest struct {
	Subject              string `json:"subject,omitempty"`
	Version              int    `json:"version,omitempty"`
	Algorithm            string `json:"algorithm,omitempty"`
	EncryptedKeyMaterial string `json:"encryptedKeyMaterial,omitempty"`
	Deleted              bool   `json:"deleted,omitempty"`
}
