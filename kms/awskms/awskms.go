// Package awskms is the KMS driver for AWS KMS. Importing it registers the
// "aws-kms://" key URI scheme:
//
//	import _ "github.com/tagseal/tagseal/kms/awskms"
//
// The key id is a key ARN (aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID),
// whose region the client uses, and the wrapped DEK is KMS's raw
// CiphertextBlob, exactly as in Confluent's awskms driver.
//
// Rule config keys, as Confluent names them (environment fallbacks in
// parentheses): access.key.id and secret.access.key, profile, role.arn
// (AWS_ROLE_ARN), role.session.name (AWS_ROLE_SESSION_NAME),
// role.external.id (AWS_ROLE_EXTERNAL_ID). Without them the SDK's default
// chain applies. tagseal adds endpoint (AWS_ENDPOINT_URL_KMS,
// AWS_ENDPOINT_URL) for KMS-compatible services and tests.
package awskms

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tagseal/tagseal/kms"
)

// Prefix is the key URI scheme of AWS KMS keys.
const Prefix = "aws-kms://"

// Rule config keys.
const (
	ConfigAccessKeyID     = "access.key.id"
	ConfigSecretAccessKey = "secret.access.key"
	ConfigProfile         = "profile"
	ConfigRoleARN         = "role.arn"
	ConfigRoleSessionName = "role.session.name"
	ConfigRoleExternalID  = "role.external.id"
	ConfigEndpoint        = "endpoint"
)

func init() { kms.Register(driver{}) }

type driver struct{}

func (driver) Prefix() string { return Prefix }

func (driver) ConfigKeys() []string {
	return []string{ConfigAccessKeyID, ConfigSecretAccessKey, ConfigProfile, ConfigRoleARN,
		ConfigRoleSessionName, ConfigRoleExternalID, ConfigEndpoint}
}

var arnRegion = regexp.MustCompile(`^arn:(aws[a-zA-Z0-9-_]*):kms:([a-z0-9-]+):`)

// Region returns the region of a key ARN.
func Region(keyID string) (string, error) {
	m := arnRegion.FindStringSubmatch(keyID)
	if m == nil {
		return "", fmt.Errorf("%w: AWS KMS key id must be a key ARN with a region", kms.ErrConfig)
	}
	return m[2], nil
}

func setting(conf map[string]string, key string, envs ...string) string {
	if v := conf[key]; v != "" {
		return v
	}
	for _, e := range envs {
		if v := os.Getenv(e); v != "" {
			return v
		}
	}
	return ""
}

func (driver) NewAEAD(keyURI string, conf map[string]string) (tink.AEAD, error) {
	if !strings.HasPrefix(strings.ToLower(keyURI), Prefix) {
		return nil, fmt.Errorf("%w: %q is not an aws-kms URI", kms.ErrUnsupportedKMS, keyURI)
	}
	keyID := keyURI[len(Prefix):]
	region, err := Region(keyID)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if p := conf[ConfigProfile]; p != "" {
		opts = append(opts, config.WithSharedConfigProfile(p))
	}
	if id, secret := conf[ConfigAccessKeyID], conf[ConfigSecretAccessKey]; id != "" && secret != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: aws config: %v", kms.ErrConfig, err)
	}
	endpoint := setting(conf, ConfigEndpoint, "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL")
	if arn := setting(conf, ConfigRoleARN, "AWS_ROLE_ARN"); arn != "" && os.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE") == "" {
		session := setting(conf, ConfigRoleSessionName, "AWS_ROLE_SESSION_NAME")
		if session == "" {
			session = "confluent-encrypt"
		}
		external := setting(conf, ConfigRoleExternalID, "AWS_ROLE_EXTERNAL_ID")
		stsClient := sts.NewFromConfig(cfg, func(o *sts.Options) {
			if endpoint != "" {
				o.BaseEndpoint = aws.String(endpoint)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, arn, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = session
			if external != "" {
				o.ExternalID = aws.String(external)
			}
		}))
	}
	client := awskms.NewFromConfig(cfg, func(o *awskms.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	return &aead{keyID: keyID, client: client}, nil
}

type aead struct {
	keyID  string
	client *awskms.Client
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
	out, err := a.client.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(a.keyID), Plaintext: plaintext})
	if err != nil {
		return nil, classify(err)
	}
	return out.CiphertextBlob, nil
}

// DecryptContext unwraps ciphertext under ctx (kms.ContextAEAD).
func (a *aead) DecryptContext(ctx context.Context, ciphertext, _ []byte) ([]byte, error) {
	out, err := a.client.Decrypt(ctx, &awskms.DecryptInput{KeyId: aws.String(a.keyID), CiphertextBlob: ciphertext})
	if err != nil {
		return nil, classify(err)
	}
	return out.Plaintext, nil
}

// classify marks disabled or deleted keys as shredded and service-side
// failures as unavailability.
func classify(err error) error {
	var disabled *types.DisabledException
	var notFound *types.NotFoundException
	var invalidState *types.KMSInvalidStateException
	var internal *types.KMSInternalException
	var unavailable *types.DependencyTimeoutException
	var api smithy.APIError
	switch {
	case errors.As(err, &disabled), errors.As(err, &notFound), errors.As(err, &invalidState):
		return fmt.Errorf("%w: %v", kms.ErrKeyShredded, err)
	case errors.As(err, &internal), errors.As(err, &unavailable):
		return fmt.Errorf("%w: %v", kms.ErrUnavailable, err)
	case errors.As(err, &api) && api.ErrorFault() == smithy.FaultServer:
		return fmt.Errorf("%w: %v", kms.ErrUnavailable, err)
	}
	return err
}
