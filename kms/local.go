package kms

import (
	"fmt"
	"os"
	"strings"

	"github.com/tink-crypto/tink-go/v2/aead/subtle"
	tinksubtle "github.com/tink-crypto/tink-go/v2/subtle"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// LocalPrefix is the key URI prefix of the local KMS.
const LocalPrefix = "local-kms://"

// LocalSecretConfig is the rule-config key holding the local KMS secret;
// the LOCAL_SECRET environment variable is the fallback.
const LocalSecretConfig = "secret"

func init() { Register(localDriver{}) }

// localDriver derives the KEK from a shared secret exactly as Confluent's
// local-kms does: HKDF-SHA256(secret, no salt, no info) → 16 bytes, used as
// an AES128-GCM key. It is meant for development and tests.
type localDriver struct{}

func (localDriver) Prefix() string       { return LocalPrefix }
func (localDriver) ConfigKeys() []string { return []string{LocalSecretConfig} }

func (localDriver) NewAEAD(keyURI string, config map[string]string) (tink.AEAD, error) {
	if !strings.HasPrefix(strings.ToLower(keyURI), LocalPrefix) {
		return nil, fmt.Errorf("%w: %q is not a local-kms URI", ErrUnsupportedKMS, keyURI)
	}
	secret := config[LocalSecretConfig]
	if secret == "" {
		secret = os.Getenv("LOCAL_SECRET")
	}
	if secret == "" {
		return nil, fmt.Errorf("%w: local-kms needs rule config %q or LOCAL_SECRET", ErrConfig, LocalSecretConfig)
	}
	return NewLocalAEAD(secret)
}

// NewLocalAEAD returns the local-kms KEK AEAD for secret.
func NewLocalAEAD(secret string) (tink.AEAD, error) {
	key, err := tinksubtle.ComputeHKDF("SHA256", []byte(secret), nil, nil, 16)
	if err != nil {
		return nil, err
	}
	return subtle.NewAESGCM(key)
}
