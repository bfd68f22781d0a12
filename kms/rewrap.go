package kms

import (
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// Rewrapper is implemented by key-wrapping AEADs whose KMS can re-encrypt
// a wrapped DEK under the key's newest version without releasing the DEK
// to the caller (Vault transit's rewrap endpoint). Rewrap returns the new
// wrapped DEK; the DEK inside is unchanged.
type Rewrapper interface {
	Rewrap(edek []byte) ([]byte, error)
}

// ErrRewrap is wrapped by [Rewrap] when a wrapped DEK cannot be rewrapped:
// the KMS refused to unwrap it, or to wrap it again.
var ErrRewrap = errors.New("kms: rewrap failed")

// Rewrap re-encrypts edek, a DEK wrapped by a, under the newest version of
// a's KMS key, keeping the DEK itself: with the KMS's own rewrap when a is a
// [Rewrapper] (the DEK never leaves the KMS), otherwise by decrypting and
// encrypting again with a (AWS, GCP and Azure encrypt with a key's primary
// version, so this moves the DEK to it). Associated data is empty, as for
// every DEK. Errors wrap ErrRewrap and keep the driver's classification
// ([ErrKeyShredded], [ErrUnavailable]) for errors.Is.
func Rewrap(a tink.AEAD, edek []byte) ([]byte, error) {
	if r, ok := a.(Rewrapper); ok {
		out, err := r.Rewrap(edek)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRewrap, err)
		}
		return out, nil
	}
	raw, err := a.Decrypt(edek, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: unwrap: %w", ErrRewrap, err)
	}
	out, err := a.Encrypt(raw, nil)
	clear(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: wrap: %w", ErrRewrap, err)
	}
	return out, nil
}
