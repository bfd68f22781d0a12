// Package hcvault is the KMS driver for HashiCorp Vault and OpenBao transit
// keys. Importing it registers the "hcvault://" key URI scheme:
//
//	import _ "github.com/tagseal/tagseal/kms/hcvault"
//
// A key URI is hcvault://HOST:PORT/transit/keys/NAME (https), or
// hcvault://http://HOST:PORT/transit/keys/NAME for plain http, exactly as
// in Confluent's hcvault driver, and the wrapped DEK is the transit
// ciphertext string ("vault:v1:…") as bytes, so DEKs are shared with
// Confluent clients.
//
// Rule config keys (environment fallbacks in parentheses): token.id
// (VAULT_TOKEN), namespace (VAULT_NAMESPACE), approle.role.id and
// approle.secret.id (VAULT_APPROLE_ROLE_ID, VAULT_APPROLE_SECRET_ID).
//
// The driver's [AEAD] keeps its token alive: renewable tokens are renewed
// in the background (vault/api LifetimeWatcher), AppRole tokens are
// obtained again at their max TTL or when Vault answers 403 (the call is
// then retried once), and a static token that Vault no longer accepts
// fails with [ErrTokenExpired]. It also rewraps DEKs with transit's rewrap
// endpoint ([kms.Rewrapper]).
package hcvault

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/hashicorp/vault/api"
	approle "github.com/hashicorp/vault/api/auth/approle"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tagseal/tagseal/kms"
)

// Prefix is the key URI scheme of Vault transit keys.
const Prefix = "hcvault://"

// Rule config keys, as Confluent names them.
const (
	ConfigToken           = "token.id"
	ConfigNamespace       = "namespace"
	ConfigAppRoleRoleID   = "approle.role.id"
	ConfigAppRoleSecretID = "approle.secret.id"
)

func init() { kms.Register(driver{}) }

type driver struct{}

func (driver) Prefix() string { return Prefix }

func (driver) ConfigKeys() []string {
	return []string{ConfigToken, ConfigNamespace, ConfigAppRoleRoleID, ConfigAppRoleSecretID}
}

func (driver) NewAEAD(keyURI string, config map[string]string) (tink.AEAD, error) {
	address, keyPath, err := ParseKeyURI(keyURI)
	if err != nil {
		return nil, err
	}
	cfg := api.DefaultConfig()
	cfg.Address = address
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: vault client: %v", kms.ErrConfig, err)
	}
	if ns := setting(config, ConfigNamespace, "VAULT_NAMESPACE"); ns != "" {
		client.SetNamespace(ns)
	}
	client.SetToken(setting(config, ConfigToken, "VAULT_TOKEN"))
	var login api.AuthMethod
	roleID := setting(config, ConfigAppRoleRoleID, "VAULT_APPROLE_ROLE_ID")
	secretID := setting(config, ConfigAppRoleSecretID, "VAULT_APPROLE_SECRET_ID")
	if roleID != "" && secretID != "" {
		login, err = approle.NewAppRoleAuth(roleID, &approle.SecretID{FromString: secretID})
		if err != nil {
			return nil, fmt.Errorf("%w: approle: %v", kms.ErrConfig, err)
		}
	}
	return newAEAD(client, keyPath, login)
}

// ParseKeyURI splits a key URI into the Vault address and the key path
// (/transit/keys/NAME, or a custom transit mount). An address without a
// scheme is https, as in Confluent's driver.
func ParseKeyURI(keyURI string) (address, keyPath string, err error) {
	if !strings.HasPrefix(strings.ToLower(keyURI), Prefix) {
		return "", "", fmt.Errorf("%w: %q is not an hcvault URI", kms.ErrUnsupportedKMS, keyURI)
	}
	rest := keyURI[len(Prefix):]
	if !strings.HasPrefix(rest, "http://") && !strings.HasPrefix(rest, "https://") {
		rest = "https://" + rest
	}
	u, err := url.Parse(rest)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("%w: malformed hcvault key URI", kms.ErrConfig)
	}
	parts := strings.Split(u.EscapedPath(), "/")
	if len(parts) < 4 || parts[len(parts)-2] != "keys" {
		return "", "", fmt.Errorf("%w: hcvault key URI path must end in /keys/NAME", kms.ErrConfig)
	}
	return u.Scheme + "://" + u.Host, u.EscapedPath(), nil
}

func setting(config map[string]string, key, env string) string {
	if v := config[key]; v != "" {
		return v
	}
	return os.Getenv(env)
}

func classify(err error) error {
	var re *api.ResponseError
	if err == nil || !errors.As(err, &re) {
		return err
	}
	if re.StatusCode >= 500 {
		return fmt.Errorf("%w: %v", kms.ErrUnavailable, err)
	}
	msg := strings.ToLower(strings.Join(re.Errors, "; "))
	for _, gone := range []string{"too old", "disallowed by policy", "encryption key not found", "policy not found", "key not found", "deletion"} {
		if strings.Contains(msg, gone) {
			return fmt.Errorf("%w: %v", kms.ErrKeyShredded, err)
		}
	}
	return err
}
