package serde

import "github.com/tagseal/tagseal"

// The engine's sentinel errors, re-exported so code written against this
// package keeps testing errors with errors.Is(err, serde.ErrX). Every error
// the Serializer and Deserializer return wraps one of them; field-level
// errors also carry the field path in a *FieldError, never the value.
var (
	ErrShortPayload            = tagseal.ErrShortPayload
	ErrUnknownMagicByte        = tagseal.ErrUnknownMagicByte
	ErrSchemaNotFound          = tagseal.ErrSchemaNotFound
	ErrUnsupportedFormat       = tagseal.ErrUnsupportedFormat
	ErrInvalidSchema           = tagseal.ErrInvalidSchema
	ErrUnsupportedTaggedType   = tagseal.ErrUnsupportedTaggedType
	ErrUnplaceableTag          = tagseal.ErrUnplaceableTag
	ErrMalformedPayload        = tagseal.ErrMalformedPayload
	ErrEncode                  = tagseal.ErrEncode
	ErrDecode                  = tagseal.ErrDecode
	ErrValidation              = tagseal.ErrValidation
	ErrEncryptionDowngrade     = tagseal.ErrEncryptionDowngrade
	ErrInvalidRule             = tagseal.ErrInvalidRule
	ErrUsageLimitNeedsRotation = tagseal.ErrUsageLimitNeedsRotation
	ErrDEKExhausted            = tagseal.ErrDEKExhausted
	ErrKEKNotFound             = tagseal.ErrKEKNotFound
	ErrDEKNotFound             = tagseal.ErrDEKNotFound
	ErrKMSUnavailable          = tagseal.ErrKMSUnavailable
	ErrKeyShredded             = tagseal.ErrKeyShredded
	ErrDEKUnwrapFailed         = tagseal.ErrDEKUnwrapFailed
	ErrInvalidCiphertext       = tagseal.ErrInvalidCiphertext
	ErrDecryptionFailed        = tagseal.ErrDecryptionFailed
	ErrRegistry                = tagseal.ErrRegistry
	ErrNoSchemaGUID            = tagseal.ErrNoSchemaGUID
)

// Types of the engine, re-exported.
type (
	// FieldError reports a failure on one tagged field, by path.
	FieldError = tagseal.FieldError
	// PlanError is a plan-time refusal: a tag the planner cannot place.
	PlanError = tagseal.PlanError
	// DowngradeError is a write refused by the downgrade guard.
	DowngradeError = tagseal.DowngradeError
	// Inspection describes a serialized record without decrypting it.
	Inspection = tagseal.Inspection
	// Sealed is one encrypted value found by Inspect.
	Sealed = tagseal.Sealed
	// Finding is one problem Lint found.
	Finding = tagseal.Finding
)

// Schema types, rule parameters, DEK algorithms and defaults, re-exported.
const (
	TypeAvro       = tagseal.TypeAvro
	TypeJSONSchema = tagseal.TypeJSONSchema
	TypeProtobuf   = tagseal.TypeProtobuf

	ParamKEKName            = tagseal.ParamKEKName
	ParamKMSType            = tagseal.ParamKMSType
	ParamKMSKeyID           = tagseal.ParamKMSKeyID
	ParamDEKAlgorithm       = tagseal.ParamDEKAlgorithm
	ParamDEKExpiryDays      = tagseal.ParamDEKExpiryDays
	ParamAlternateKMSKeyIDs = tagseal.ParamAlternateKMSKeyIDs
	ParamDEKMaxEncryptions  = tagseal.ParamDEKMaxEncryptions

	AES128GCM = tagseal.AES128GCM
	AES256GCM = tagseal.AES256GCM
	AES256SIV = tagseal.AES256SIV

	DefaultDEKCacheTTL     = tagseal.DefaultDEKCacheTTL
	DefaultLatestSchemaTTL = tagseal.DefaultLatestSchemaTTL
	DefaultKMSTimeout      = tagseal.DefaultKMSTimeout
	DefaultMaxEncryptions  = tagseal.DefaultMaxEncryptions
)
