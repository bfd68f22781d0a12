package awskms_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssdk "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	cawskms "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/awskms"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"

	"github.com/tagseal/tagseal/kms"
	"github.com/tagseal/tagseal/kms/awskms"
	"github.com/tagseal/tagseal/serde"
)

// moto returns a KMS client for the moto server the README test command
// starts, with test credentials in the environment (as the SDK's default
// chain, and so Confluent's driver, reads them), or skips.
func moto(t *testing.T) (*awssdk.Client, string) {
	t.Helper()
	endpoint := os.Getenv("TAGSEAL_AWS_ENDPOINT")
	if endpoint == "" {
		t.Skip("TAGSEAL_AWS_ENDPOINT not set: run through scripts/with-services.sh (make test) for the moto server")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_ENDPOINT_URL", endpoint)
	c := awssdk.New(awssdk.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	return c, endpoint
}

// newKey creates a key and returns its ARN and bare key id.
func newKey(t *testing.T, c *awssdk.Client) (string, string) {
	t.Helper()
	out, err := c.CreateKey(context.Background(), &awssdk.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	return *out.KeyMetadata.Arn, *out.KeyMetadata.KeyId
}

func TestRegion(t *testing.T) {
	if r, err := awskms.Region("arn:aws:kms:eu-west-3:123:key/abc"); err != nil || r != "eu-west-3" {
		t.Fatalf("%q %v", r, err)
	}
	if _, err := awskms.Region("alias/foo"); !errors.Is(err, kms.ErrConfig) {
		t.Fatal(err)
	}
}

// tagseal's driver and Confluent's unwrap each other's EDEKs (the raw KMS
// ciphertext blob).
func TestMotoInteropAndShredding(t *testing.T) {
	c, endpoint := moto(t)
	arn, id := newKey(t, c)
	uri := "aws-kms://" + arn
	ours, err := kms.NewRegistry().AEAD(uri, map[string]string{awskms.ConfigEndpoint: endpoint,
		awskms.ConfigAccessKeyID: "testing", awskms.ConfigSecretAccessKey: "testing"})
	if err != nil {
		t.Fatal(err)
	}
	client, err := cawskms.NewClient(uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := client.GetAEAD(uri)
	if err != nil {
		t.Fatal(err)
	}
	dek := []byte("serialized tink key proto")
	edek, err := ours.Encrypt(dek, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := theirs.Decrypt(edek, nil); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("confluent unwrap: %q %v", got, err)
	}
	edek2, err := theirs.Encrypt(dek, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ours.Decrypt(edek2, nil); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("tagseal unwrap: %q %v", got, err)
	}
	// moto 5.2.5 does not refuse Decrypt under a disabled or pending-deletion
	// key, so the shredding classification is unit-tested in classify_test.go.
	_ = id
}

type Customer struct {
	ID    int32  `avro:"id"`
	Email string `avro:"email"`
}

// A serde round trip with the KEK in (moto's) AWS KMS.
func TestSerdeWithAWSKMS(t *testing.T) {
	c, _ := moto(t)
	arn, _ := newKey(t, c)
	reg, err := schemaregistry.NewClient(schemaregistry.NewConfig("mock://awskms-serde"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register("aws-value", schemaregistry.SchemaInfo{SchemaType: "AVRO",
		Schema: `{"type":"record","name":"Customer","fields":[{"name":"id","type":"int"},{"name":"email","type":"string","confluent:tags":["PII"]}]}`,
		RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{{Name: "pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT",
			Tags: []string{"PII"}, Params: map[string]string{"encrypt.kek.name": "kek-aws-" + arn[len(arn)-8:], "encrypt.kms.type": "aws-kms", "encrypt.kms.key.id": arn}}}}}, false); err != nil {
		t.Fatal(err)
	}
	sc := serde.NewSerializerConfig()
	sc.AutoRegisterSchemas, sc.UseLatestVersion = false, true
	s, err := serde.NewSerializer(reg, cserde.ValueSerde, sc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Serialize("aws", &Customer{ID: 1, Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "ada@example.com") {
		t.Fatal("plaintext in payload")
	}
	d, err := serde.NewDeserializer(reg, cserde.ValueSerde, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got Customer
	if err := d.DeserializeInto("aws", b, &got); err != nil || got.Email != "ada@example.com" {
		t.Fatalf("%+v %v", got, err)
	}
}
