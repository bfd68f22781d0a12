package tagseal

import (
	"errors"
	"fmt"

	"github.com/tagseal/tagseal/internal/fmterr"
	"github.com/tagseal/tagseal/internal/keyring"
)

// Sentinel errors. Every error the Serializer and Deserializer return wraps
// one of these (test with errors.Is); field-level errors also carry the
// field path in a *FieldError, never the field's value.
var (
	// ErrShortPayload: the payload is shorter than its wire frame.
	ErrShortPayload = errors.New("tagseal: payload shorter than its frame")
	// ErrUnknownMagicByte: the first byte is neither 0x00 (id) nor 0x01 (GUID).
	ErrUnknownMagicByte = errors.New("tagseal: unknown magic byte")
	// ErrSchemaNotFound: the registry has no schema for the subject or id.
	ErrSchemaNotFound = errors.New("tagseal: schema not found")
	// ErrUnsupportedFormat: the schema type has no format package.
	ErrUnsupportedFormat = errors.New("tagseal: unsupported schema type")
	// ErrInvalidSchema: the registered schema (or a reference) cannot be compiled.
	ErrInvalidSchema = fmterr.ErrSchema
	// ErrUnsupportedTaggedType: a tagged field's type cannot carry ciphertext.
	ErrUnsupportedTaggedType = fmterr.ErrUnsupportedTaggedType
	// ErrUnplaceableTag: a tag sits where tagseal cannot encrypt what it
	// tags (an unsupported JSON Schema keyword, a Protobuf map key, …); the
	// schema is refused rather than its values written in clear.
	ErrUnplaceableTag = fmterr.ErrUnplaceableTag
	// ErrMalformedPayload: the bytes after the frame are not valid for the schema.
	ErrMalformedPayload = fmterr.ErrMalformed
	// ErrEncode: the value to serialize does not match the schema.
	ErrEncode = fmterr.ErrEncode
	// ErrDecode: decrypted bytes cannot be decoded into the target.
	ErrDecode = fmterr.ErrDecode
	// ErrValidation: a JSON document fails its schema (Options.Validate).
	ErrValidation = fmterr.ErrValidation
	// ErrEncryptionDowngrade: the schema a serializer would write with
	// protects less than the subject's latest version (an ENCRYPT rule
	// missing or disabled, a tagged field no longer encrypted). The error is
	// a *DowngradeError naming the subject, both versions and the fields.
	ErrEncryptionDowngrade = errors.New("tagseal: encryption downgrade")
	// ErrInvalidRule: an ENCRYPT rule's parameters are missing or invalid.
	ErrInvalidRule = keyring.ErrInvalidRule
	// ErrUsageLimitNeedsRotation: a rule sets encrypt.dek.max.encryptions
	// without encrypt.dek.expiry.days > 0 (its ciphertexts carry no DEK
	// version, so a second version could never be read). It comes with
	// ErrInvalidRule.
	ErrUsageLimitNeedsRotation = keyring.ErrUsageLimitNeedsRotation
	// ErrDEKExhausted: a DEK version reached its usage limit and the next
	// version could not be had (registry or KMS failure); the value was
	// not encrypted under the spent version.
	ErrDEKExhausted = keyring.ErrDEKExhausted
	// ErrKEKNotFound: the rule's KEK is not in the DEK Registry (and cannot be
	// created: reads never create one).
	ErrKEKNotFound = keyring.ErrKEKNotFound
	// ErrDEKNotFound: the DEK (or the DEK version named in the ciphertext)
	// is not in the DEK Registry.
	ErrDEKNotFound = keyring.ErrDEKNotFound
	// ErrKMSUnavailable: the KMS could not be reached or configured.
	ErrKMSUnavailable = keyring.ErrKMSUnavailable
	// ErrKeyShredded: the KMS key (or key version) protecting the DEK was
	// deleted or disabled, or the DEK itself was deleted from the DEK
	// Registry: the data is unreadable by design.
	ErrKeyShredded = keyring.ErrKeyShredded
	// ErrDEKUnwrapFailed: the KMS refused to unwrap the DEK (wrong KEK,
	// wrong secret, or no permission).
	ErrDEKUnwrapFailed = keyring.ErrDEKUnwrapFailed
	// ErrInvalidCiphertext: a tagged value is not well-formed ciphertext
	// (bad base64, missing version prefix, too short).
	ErrInvalidCiphertext = keyring.ErrInvalidCiphertext
	// ErrDecryptionFailed: authentication of a ciphertext failed (tampered,
	// or encrypted under another key).
	ErrDecryptionFailed = keyring.ErrDecryptionFailed
	// ErrNoSchemaGUID: SchemaIDInHeader is set, and the registry gives the
	// schema to write with no GUID (registries before Confluent Platform 8
	// have none), so the record header cannot name it.
	ErrNoSchemaGUID = errors.New("tagseal: the registry gives the schema no GUID")
	// ErrRegistry: the schema or DEK registry answered with an unexpected error.
	ErrRegistry = keyring.ErrRegistry
)

// PlanError is the plan-time refusal of a schema: the path and keyword
// holding a tag that cannot be encrypted there. It wraps
// ErrUnsupportedTaggedType or ErrUnplaceableTag; use errors.As to read it.
type PlanError = fmterr.PlanError

// FieldError reports a failure on one tagged field. Path is the field's full
// name (record full name and field name); the value is never included.
type FieldError struct {
	Path string
	Rule string
	Err  error
}

func (e *FieldError) Error() string {
	if e.Rule != "" {
		return fmt.Sprintf("tagseal: field %s (rule %q): %v", e.Path, e.Rule, e.Err)
	}
	return fmt.Sprintf("tagseal: field %s: %v", e.Path, e.Err)
}

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }
