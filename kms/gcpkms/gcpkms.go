// Package gcpkms is the KMS driver for Google Cloud KMS. Importing it
// registers the "gcp-kms://" key URI scheme:
//
//	import _ "github.com/tagseal/tagseal/kms/gcpkms"
//
// The key id is the crypto key's resource name
// (gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K), and the
// wrapped DEK is Cloud KMS's ciphertext, through tink-go-gcpkms exactly as
// in Confluent's gcp driver.
//
// Rule config keys, as Confluent names them: account.type (default
// service_account), client.id, client.email, private.key.id, private.key —
// all four of the latter for an explicit service account, else Application
// Default Credentials. tagseal adds endpoint, for emulators and tests;
// with an endpoint and no service account, requests are unauthenticated.
package gcpkms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gcp "github.com/tink-crypto/tink-go-gcpkms/v2/integration/gcpkms"
	"github.com/tink-crypto/tink-go/v2/tink"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/tagseal/tagseal/kms"
)

// Prefix is the key URI scheme of Cloud KMS keys.
const Prefix = "gcp-kms://"

// Rule config keys.
const (
	ConfigAccountType  = "account.type"
	ConfigClientID     = "client.id"
	ConfigClientEmail  = "client.email"
	ConfigPrivateKeyID = "private.key.id"
	ConfigPrivateKey   = "private.key"
	ConfigEndpoint     = "endpoint"
)

func init() { kms.Register(driver{}) }

type driver struct{}

func (driver) Prefix() string { return Prefix }

func (driver) ConfigKeys() []string {
	return []string{ConfigAccountType, ConfigClientID, ConfigClientEmail, ConfigPrivateKeyID, ConfigPrivateKey, ConfigEndpoint}
}

func (driver) NewAEAD(keyURI string, conf map[string]string) (tink.AEAD, error) {
	if !strings.HasPrefix(strings.ToLower(keyURI), Prefix) || !strings.HasPrefix(keyURI[len(Prefix):], "projects/") {
		return nil, fmt.Errorf("%w: %q is not a gcp-kms crypto key URI", kms.ErrConfig, keyURI)
	}
	var opts []option.ClientOption
	id, email, keyID, key := conf[ConfigClientID], conf[ConfigClientEmail], conf[ConfigPrivateKeyID], conf[ConfigPrivateKey]
	explicit := id != "" && email != "" && keyID != "" && key != ""
	if explicit {
		account := conf[ConfigAccountType]
		if account == "" {
			account = "service_account"
		}
		creds, err := json.Marshal(map[string]string{
			"type": account, "client_id": id, "client_email": email, "private_key_id": keyID, "private_key": key,
		})
		if err != nil {
			return nil, err
		}
		opts = append(opts, option.WithCredentialsJSON(creds))
	}
	if endpoint := conf[ConfigEndpoint]; endpoint != "" {
		opts = append(opts, option.WithEndpoint(endpoint))
		if !explicit {
			opts = append(opts, option.WithoutAuthentication(), option.WithHTTPClient(http.DefaultClient))
		}
	}
	client, err := gcp.NewClientWithOptions(context.Background(), Prefix, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: gcp kms client: %v", kms.ErrConfig, err)
	}
	a, err := client.GetAEAD(keyURI)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", kms.ErrConfig, err)
	}
	return classified{a}, nil
}

// classified maps Cloud KMS answers: a destroyed or disabled key version
// (FAILED_PRECONDITION) or a missing key (NOT_FOUND) shreds; server errors
// mean the KMS is unavailable.
type classified struct{ tink.AEAD }

func (c classified) Encrypt(pt, ad []byte) ([]byte, error) {
	ct, err := c.AEAD.Encrypt(pt, ad)
	return ct, classify(err)
}

func (c classified) Decrypt(ct, ad []byte) ([]byte, error) {
	pt, err := c.AEAD.Decrypt(ct, ad)
	return pt, classify(err)
}

func classify(err error) error {
	var ge *googleapi.Error
	if err == nil || !errors.As(err, &ge) {
		return err
	}
	status := rpcStatus(ge)
	switch {
	case ge.Code == http.StatusNotFound, status == "NOT_FOUND", status == "FAILED_PRECONDITION":
		return fmt.Errorf("%w: %v", kms.ErrKeyShredded, err)
	case ge.Code >= 500, ge.Code == http.StatusTooManyRequests, status == "UNAVAILABLE", status == "INTERNAL", status == "DEADLINE_EXCEEDED":
		return fmt.Errorf("%w: %v", kms.ErrUnavailable, err)
	}
	return err
}

// rpcStatus is the canonical google.rpc code name of an HTTP error answer
// (the "error.status" field of its JSON body), "" when it has none. Cloud
// KMS answers a destroyed or disabled key version with FAILED_PRECONDITION.
func rpcStatus(ge *googleapi.Error) string {
	var body struct {
		Error struct {
			Status string `json:"status"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(ge.Body), &body) != nil {
		return ""
	}
	return body.Error.Status
}
