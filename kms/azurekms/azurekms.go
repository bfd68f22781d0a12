// Package azurekms is the KMS driver for Azure Key Vault keys. Importing it
// registers the "azure-kms://" key URI scheme:
//
//	import _ "github.com/tagseal/tagseal/kms/azurekms"
//
// The key id is the key's URL (azure-kms://https://VAULT.vault.azure.net/
// keys/NAME[/VERSION]); DEKs are wrapped with RSA-OAEP-256 and the wrapped
// DEK is Key Vault's result bytes, exactly as in Confluent's azure driver.
//
// Rule config keys, as Confluent names them: tenant.id, client.id and
// client.secret for a service principal; without them the SDK's
// DefaultAzureCredential chain applies. Programs that need another
// credential (managed identity, workload identity) or transport call
// Register with Options.
package azurekms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tagseal/tagseal/kms"
)

// Prefix is the key URI scheme of Azure Key Vault keys.
const Prefix = "azure-kms://"

// Rule config keys.
const (
	ConfigTenantID     = "tenant.id"
	ConfigClientID     = "client.id"
	ConfigClientSecret = "client.secret"
)

// Algorithm is the key-wrapping algorithm, as in Confluent's driver.
const Algorithm = azkeys.EncryptionAlgorithmRSAOAEP256

// Options customise the driver.
type Options struct {
	// Credential replaces the rule-config / default credential chain.
	Credential azcore.TokenCredential
	// Transport replaces the HTTP transport (proxies, custom TLS roots).
	Transport policy.Transporter
	// DisableChallengeResourceVerification lets the client talk to a vault
	// whose domain is not a Key Vault domain (emulators, test doubles).
	DisableChallengeResourceVerification bool
}

func init() { Register(Options{}) }

// Register (re)registers the azure-kms driver with opts.
func Register(opts Options) { kms.Register(driver{opts}) }

type driver struct{ opts Options }

func (driver) Prefix() string { return Prefix }

func (driver) ConfigKeys() []string {
	return []string{ConfigTenantID, ConfigClientID, ConfigClientSecret}
}

// ParseKeyURI splits a key URI into the vault URL, key name and version.
func ParseKeyURI(keyURI string) (vaultURL, name, version string, err error) {
	if !strings.HasPrefix(strings.ToLower(keyURI), Prefix) {
		return "", "", "", fmt.Errorf("%w: %q is not an azure-kms URI", kms.ErrUnsupportedKMS, keyURI)
	}
	u, err := url.Parse(keyURI[len(Prefix):])
	if err != nil || u.Host == "" {
		return "", "", "", fmt.Errorf("%w: malformed azure-kms key URI", kms.ErrConfig)
	}
	parts := strings.Split(u.Path, "/")
	if (len(parts) != 3 && len(parts) != 4) || parts[0] != "" || parts[1] != "keys" || parts[2] == "" {
		return "", "", "", fmt.Errorf("%w: azure-kms key URI path must be /keys/NAME[/VERSION]", kms.ErrConfig)
	}
	if len(parts) == 4 {
		version = parts[3]
	}
	return u.Scheme + "://" + u.Host, parts[2], version, nil
}

func (d driver) NewAEAD(keyURI string, conf map[string]string) (tink.AEAD, error) {
	vaultURL, name, version, err := ParseKeyURI(keyURI)
	if err != nil {
		return nil, err
	}
	cred := d.opts.Credential
	if cred == nil {
		tenant, id, secret := conf[ConfigTenantID], conf[ConfigClientID], conf[ConfigClientSecret]
		if tenant != "" && id != "" && secret != "" {
			cred, err = azidentity.NewClientSecretCredential(tenant, id, secret, nil)
		} else {
			cred, err = azidentity.NewDefaultAzureCredential(nil)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: azure credential: %v", kms.ErrConfig, err)
		}
	}
	opts := &azkeys.ClientOptions{DisableChallengeResourceVerification: d.opts.DisableChallengeResourceVerification}
	opts.Transport = d.opts.Transport
	client, err := azkeys.NewClient(vaultURL, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: azure key vault client: %v", kms.ErrConfig, err)
	}
	return &aead{client: client, name: name, version: version}, nil
}

type aead struct {
	client        *azkeys.Client
	name, version string
}

var _ kms.ContextAEAD = (*aead)(nil)

func (a *aead) Encrypt(plaintext, ad []byte) ([]byte, error) {
	return a.EncryptContext(context.Background(), plaintext, ad)
}

func (a *aead) Decrypt(ciphertext, ad []byte) ([]byte, error) {
	return a.DecryptContext(context.Background(), ciphertext, ad)
}

// EncryptContext wraps plaintext under ctx (kms.ContextAEAD).
func (a *aead) EncryptContext(ctx context.Context, plaintext, _ []byte) ([]byte, error) {
	alg := Algorithm
	resp, err := a.client.Encrypt(ctx, a.name, a.version, azkeys.KeyOperationParameters{Algorithm: &alg, Value: plaintext}, nil)
	if err != nil {
		return nil, classify(err)
	}
	return resp.Result, nil
}

// DecryptContext unwraps ciphertext under ctx (kms.ContextAEAD).
func (a *aead) DecryptContext(ctx context.Context, ciphertext, _ []byte) ([]byte, error) {
	alg := Algorithm
	resp, err := a.client.Decrypt(ctx, a.name, a.version, azkeys.KeyOperationParameters{Algorithm: &alg, Value: ciphertext}, nil)
	if err != nil {
		return nil, classify(err)
	}
	return resp.Result, nil
}

// classify maps Key Vault answers: a deleted key (404) or a disabled one
// (403 Forbidden with code "Forbidden"/"KeyDisabled") shreds; 5xx means
// the KMS is unavailable.
func classify(err error) error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return err
	}
	switch {
	case re.StatusCode == http.StatusNotFound, re.ErrorCode == "KeyDisabled", re.ErrorCode == "KeyNotFound":
		return fmt.Errorf("%w: %v", kms.ErrKeyShredded, err)
	case re.StatusCode >= 500:
		return fmt.Errorf("%w: %v", kms.ErrUnavailable, err)
	}
	return err
}
