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
}

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

	AES128GCM = "AES128_GCM"
	AES256GCM = "AES256_GCM"
	AES256SIV = "AES256_SIV"
)

// Sentinel errors; the root package re-exports them.
var (
	// ErrInvalidRule: an ENCRYPT rule's parameters are missing or invalid.
	ErrInvalidRule = errors.New("tagseal: invalid encryption rule")
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
