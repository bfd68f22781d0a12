package serde_test

import (
	"errors"
	"testing"

	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"

	"github.com/tagseal/tagseal/serde"
)

// The downgrade guard over mock://, which (unlike real registries) does
// not carry rules over to a new version: auto-registration must carry the
// contract itself. compat/registryoracle runs the same scenario over an
// HTTP registry with real semantics, against Confluent Go.
func TestAutoRegisterKeepsContractOnMock(t *testing.T) {
	c := newClient(t)
	registerSchema(t, c, "mockauto-value", customerSchema, rule(t, "local-kms", nil))
	conf := serde.NewSerializerConfig() // AutoRegisterSchemas on
	conf.RuleConfig = map[string]string{"secret": testSecret}
	s, err := serde.NewSerializer(c, cserde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Serialize("mockauto", ada)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecrets(t, "auto-registered record", b)
	var got Customer
	if err := newDeserializer(t, c, testSecret, serde.Options{}).DeserializeInto("mockauto", b, &got); err != nil {
		t.Fatal(err)
	}
	if got != *ada {
		t.Fatalf("read %+v", got)
	}
}

func TestUseSchemaIDOlderVersionRefusedOnMock(t *testing.T) {
	c := newClient(t)
	old := registerSchema(t, c, "mockold-value", `{"type":"record","name":"Customer","namespace":"com.acme","fields":[
 {"name":"id","type":"int"},{"name":"name","type":"string"},{"name":"email","type":"string"},{"name":"age","type":"int"}]}`)
	registerSchema(t, c, "mockold-value", customerSchema, rule(t, "local-kms", nil))
	conf := serde.NewSerializerConfig()
	conf.AutoRegisterSchemas, conf.UseSchemaID = false, old
	conf.RuleConfig = map[string]string{"secret": testSecret}
	s, err := serde.NewSerializer(c, cserde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Serialize("mockold", ada)
	var de *serde.DowngradeError
	if !errors.Is(err, serde.ErrEncryptionDowngrade) || !errors.As(err, &de) || len(de.Fields) != 2 {
		t.Fatalf("got %v (%+v), want a downgrade of name and email", err, de)
	}
}
