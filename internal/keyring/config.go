package keyring

import (
	"errors"
	"time"

	"github.com/tagseal/tagseal/kms"
)

// Config configures a Keyring.
type Config struct {
	// RuleConfig is passed to every KMS ("secret", "token.id", …).
	RuleConfig map[string]string
	// TTL is how long an unwrapped DEK is used before its KEK and DEK are
	// fetched and unwrapped again (zero: DefaultTTL; negative: for ever).
	TTL time.Duration
	// ReadDeleted lets reads use soft-deleted KEKs and DEKs.
	ReadDeleted bool
	// Clock is the time source (default time.Now): DEK expiry, cache TTLs.
	Clock func() time.Time
	// KMSTimeout bounds every KMS call (building a KEK's AEAD, wrapping,
	// unwrapping); zero means DefaultKMSTimeout, negative no deadline of
	// the keyring's own (the caller's context still applies).
	KMSTimeout time.Duration
	// Hooks report what the keyring does; nil hooks cost nothing.
	Hooks Hooks
}

// Hooks are the keyring's observation points. Every field is optional; a
// nil field is never called. They must be safe for concurrent use and
// quick: some run on the record path.
type Hooks struct {
	// KMSCall reports one KMS call: op is "wrap", "unwrap" or "aead" (building
	// the AEAD for a key URI), kmsType the KEK's KMS type, kek its name.
	KMSCall func(op, kmsType, kek string, d time.Duration, err error)
	// DEKCache reports a DEK lookup answered from memory (hit) or not.
	DEKCache func(kek, subject, algorithm string, write, hit bool)
	// DEKCreated reports a DEK version this keyring registered; reason is
	// "first", "expired" or "usage-limit".
	DEKCreated func(kek, subject, algorithm string, version int, reason string)
	// Encryptions reports n more encryptions under a DEK version, in
	// batches of EncryptionBatch and when a version is retired.
	Encryptions func(kek, subject, algorithm string, version int, n int64)
}

// EncryptionBatch is how many encryptions Hooks.Encryptions reports at
// once (the remainder comes when the version is retired).
const EncryptionBatch = 1024

// DefaultKMSTimeout bounds a KMS call when Config.KMSTimeout is zero.
const DefaultKMSTimeout = 10 * time.Second

// DefaultMaxEncryptions is the usage limit of a rotating AES-GCM rule that
// sets no encrypt.dek.max.encryptions: 2^22 encryptions per DEK version
// and producer, so a fleet of up to 1024 producers that each spend it
// stays within NIST SP 800-38D's 2^32 random-nonce invocations per key
// (testvectors/SPEC.md, "DEK usage limit").
const DefaultMaxEncryptions = 1 << 22

// DefaultTTL is the DEK cache TTL when Config.TTL is zero.
const DefaultTTL = 10 * time.Minute

// Rule parameters the keyring reads, and the DEK algorithms.
const (
	ParamKEKName            = "encrypt.kek.name"
	ParamKMSType            = "encrypt.kms.type"
	ParamKMSKeyID           = "encrypt.kms.key.id"
	ParamDEKAlgorithm       = "encrypt.dek.algorithm"
	ParamDEKExpiryDays      = "encrypt.dek.expiry.days"
	ParamAlternateKMSKeyIDs = "encrypt.alternate.kms.key.ids"
	// ParamDEKMaxEncryptions is tagseal's usage limit: a serializer that
	// has encrypted this many values under one DEK version creates (or
	// takes) the next version. Only rotating rules can have one.
	ParamDEKMaxEncryptions = "encrypt.dek.max.encryptions"

	AES128GCM = "AES128_GCM"
	AES256GCM = "AES256_GCM"
	AES256SIV = "AES256_SIV"
)

// Sentinel errors; the root package re-exports them.
var (
	// ErrInvalidRule: an ENCRYPT rule's parameters are missing or invalid.
	ErrInvalidRule = errors.New("tagseal: invalid encryption rule")
	// ErrUsageLimitNeedsRotation: a rule sets encrypt.dek.max.encryptions
	// without encrypt.dek.expiry.days > 0. Its ciphertexts carry no DEK
	// version, so readers could never find a second version. Errors with
	// it also match ErrInvalidRule.
	ErrUsageLimitNeedsRotation = errors.New("encrypt.dek.max.encryptions needs encrypt.dek.expiry.days > 0")
	// ErrDEKExhausted: a DEK version reached its usage limit and no next
	// version could be had (the DEK Registry or KMS failed): the value is
	// not encrypted under the spent version.
	ErrDEKExhausted = errors.New("tagseal: DEK usage limit reached")
	// ErrKEKNotFound: the rule's KEK is not in the DEK Registry (and cannot be
	// created: reads never create one).
	ErrKEKNotFound = errors.New("tagseal: KEK not found")
	// ErrDEKNotFound: the DEK (or the DEK version named in the ciphertext)
	// is not in the DEK Registry.
	ErrDEKNotFound = errors.New("tagseal: DEK not found")
	// ErrKMSUnavailable: the KMS could not be reached or configured.
	ErrKMSUnavailable = kms.ErrUnavailable
	// ErrKeyShredded: the KMS key protecting the DEK, or the DEK itself, was
	// deleted: the data is unreadable by design.
	ErrKeyShredded = kms.ErrKeyShredded
	// ErrDEKUnwrapFailed: the KMS refused to unwrap the DEK.
	ErrDEKUnwrapFailed = errors.New("tagseal: DEK unwrap failed")
	// ErrInvalidCiphertext: a tagged value is not well-formed ciphertext.
	ErrInvalidCiphertext = errors.New("tagseal: invalid ciphertext")
	// ErrDecryptionFailed: authentication of a ciphertext failed.
	ErrDecryptionFailed = errors.New("tagseal: decryption failed")
	// ErrRegistry: the DEK registry answered with an unexpected error.
	ErrRegistry = errors.New("tagseal: registry error")
)
