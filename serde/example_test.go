package serde_test

import (
	"fmt"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"

	"github.com/tagseal/tagseal/serde"
)

// A producer and a consumer sharing a local-KMS secret. The email field is
// tagged PII, so it is encrypted in the payload and decrypted on read.
func ExampleNewSerializer() {
	client, _ := schemaregistry.NewClient(schemaregistry.NewConfig("mock://example"))
	_, err := client.Register("users-value", schemaregistry.SchemaInfo{
		SchemaType: "AVRO",
		Schema: `{"type":"record","name":"User","fields":[
			{"name":"name","type":"string"},
			{"name":"email","type":"string","confluent:tags":["PII"]}]}`,
		RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{{
			Name: "encrypt-pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT",
			Tags: []string{"PII"},
			Params: map[string]string{
				"encrypt.kek.name":   "example-kek",
				"encrypt.kms.type":   "local-kms",
				"encrypt.kms.key.id": "example-key",
			},
		}}},
	}, false)
	if err != nil {
		panic(err)
	}

	conf := serde.NewSerializerConfig()
	conf.AutoRegisterSchemas = false
	conf.UseLatestVersion = true
	conf.RuleConfig = map[string]string{"secret": "example-secret"}
	ser, err := serde.NewSerializer(client, cserde.ValueSerde, conf)
	if err != nil {
		panic(err)
	}
	type User struct {
		Name  string `avro:"name"`
		Email string `avro:"email"`
	}
	payload, err := ser.Serialize("users", &User{Name: "ada", Email: "ada@example.com"})
	if err != nil {
		panic(err)
	}
	fmt.Println("email in payload:", strings.Contains(string(payload), "ada@example.com"))

	dconf := serde.NewDeserializerConfig()
	dconf.RuleConfig = map[string]string{"secret": "example-secret"}
	de, err := serde.NewDeserializer(client, cserde.ValueSerde, dconf)
	if err != nil {
		panic(err)
	}
	var u User
	if err := de.DeserializeInto("users", payload, &u); err != nil {
		panic(err)
	}
	fmt.Println("email read back:", u.Email)
	// Output:
	// email in payload: false
	// email read back: ada@example.com
}
