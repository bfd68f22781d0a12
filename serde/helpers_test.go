package serde_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tagseal/tagseal/kms"
	"github.com/tagseal/tagseal/serde"
)

const testSecret = "serde-test-secret"

type Customer struct {
	ID    int32  `avro:"id"`
	Name  string `avro:"name"`
	Email string `avro:"email"`
	Age   int32  `avro:"age"`
}

const customerSchema = `{"type":"record","name":"Customer","namespace":"com.acme","fields":[
 {"name":"id","type":"int"},
 {"name":"name","type":"string","confluent:tags":["PII"]},
 {"name":"email","type":"string","confluent:tags":["PII"]},
 {"name":"age","type":"int"}]}`

var ada = &Customer{ID: 7, Name: "Ada Lovelace", Email: "ada@example.com", Age: 36}

// secrets are the plaintexts of ada's tagged fields.
var secrets = []string{"Ada Lovelace", "ada@example.com"}

func newClient(t *testing.T) schemaregistry.Client {
	t.Helper()
	c, err := schemaregistry.NewClient(schemaregistry.NewConfig("mock://" + safeName(t)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// kekName is unique per test: the mock DEK registry is process-wide.
// A repeated run (-count) gets new names, so every run starts cold.
func kekName(t *testing.T) string {
	name, _ := kekNames.LoadOrStore(t, fmt.Sprintf("kek-%s-%d", safeName(t), kekRun.Add(1)))
	return name.(string)
}

var (
	kekNames sync.Map // *testing.T → KEK name
	kekRun   atomic.Int64
)

// safeName turns a test name into something a URL host and KEK name accept.
func safeName(t *testing.T) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, t.Name())
}

func rule(t *testing.T, kmsType string, extra map[string]string) schemaregistry.Rule {
	params := map[string]string{
		serde.ParamKEKName:  kekName(t),
		serde.ParamKMSType:  kmsType,
		serde.ParamKMSKeyID: "test-key",
	}
	for k, v := range extra {
		params[k] = v
	}
	return schemaregistry.Rule{Name: "encrypt-pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT",
		Tags: []string{"PII"}, Params: params}
}

func registerSchema(t *testing.T, c schemaregistry.Client, subject, schema string, rules ...schemaregistry.Rule) int {
	t.Helper()
	info := schemaregistry.SchemaInfo{Schema: schema, SchemaType: "AVRO"}
	if len(rules) > 0 {
		info.RuleSet = &schemaregistry.RuleSet{DomainRules: rules}
	}
	id, err := c.Register(subject, info, false)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newSerializer(t *testing.T, c schemaregistry.Client, opts serde.Options) *serde.Serializer {
	t.Helper()
	conf := serde.NewSerializerConfig()
	conf.AutoRegisterSchemas = false
	conf.UseLatestVersion = true
	conf.RuleConfig = map[string]string{"secret": testSecret}
	conf.Options = opts
	s, err := serde.NewSerializer(c, cserde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newDeserializer(t *testing.T, c schemaregistry.Client, secret string, opts serde.Options) *serde.Deserializer {
	t.Helper()
	conf := serde.NewDeserializerConfig()
	conf.RuleConfig = map[string]string{"secret": secret}
	conf.Options = opts
	d, err := serde.NewDeserializer(c, cserde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func assertNoSecrets(t *testing.T, what string, b []byte) {
	t.Helper()
	for _, s := range secrets {
		if bytes.Contains(b, []byte(s)) {
			t.Fatalf("%s contains the plaintext of a tagged field", what)
		}
	}
}

// countingKMS is a KMS driver over the local KMS that counts wrap and unwrap
// calls and can be switched off to simulate an outage.
type countingKMS struct {
	wraps, unwraps atomic.Int64
	down           atomic.Bool
}

func (c *countingKMS) Prefix() string       { return "counting-kms://" }
func (c *countingKMS) ConfigKeys() []string { return []string{"secret"} }
func (c *countingKMS) NewAEAD(keyURI string, config map[string]string) (tink.AEAD, error) {
	inner, err := kms.NewLocalAEAD(config["secret"])
	if err != nil {
		return nil, err
	}
	return &countingAEAD{kms: c, inner: inner}, nil
}

type countingAEAD struct {
	kms   *countingKMS
	inner tink.AEAD
}

var errKMSDown = &kmsDownError{}

type kmsDownError struct{}

func (*kmsDownError) Error() string   { return "counting-kms: service unavailable" }
func (*kmsDownError) Timeout() bool   { return true }
func (*kmsDownError) Temporary() bool { return true }

func (a *countingAEAD) Encrypt(pt, ad []byte) ([]byte, error) {
	a.kms.wraps.Add(1)
	if a.kms.down.Load() {
		return nil, errKMSDown
	}
	return a.inner.Encrypt(pt, ad)
}

func (a *countingAEAD) Decrypt(ct, ad []byte) ([]byte, error) {
	a.kms.unwraps.Add(1)
	if a.kms.down.Load() {
		return nil, errKMSDown
	}
	return a.inner.Decrypt(ct, ad)
}

var counting = &countingKMS{}

func init() { kms.Register(counting) }

// failoverKMS serves key ids through the local KMS, except "broken", which
// always fails: it proves alternate key ids are tried in order.
type failoverKMS struct{}

func (failoverKMS) Prefix() string       { return "failover-kms://" }
func (failoverKMS) ConfigKeys() []string { return []string{"secret"} }
func (failoverKMS) NewAEAD(keyURI string, config map[string]string) (tink.AEAD, error) {
	if strings.HasSuffix(keyURI, "/broken") || strings.HasSuffix(keyURI, "://broken") {
		return nil, fmt.Errorf("failover-kms: key %s is unreachable", keyURI)
	}
	return kms.NewLocalAEAD(config["secret"])
}

func init() { kms.Register(failoverKMS{}) }
