package tagseal_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/registry"
)

// A relay (such as the Kafka proxy) seals a record that a client without
// field encryption wrote, and opens it again for a reader allowed to.
func ExampleSerializer_SealPayload() {
	ctx := context.Background()
	reg := registry.NewMemory()
	schema := `{"type":"record","name":"User","fields":[
		{"name":"name","type":"string"},
		{"name":"email","type":"string","confluent:tags":["PII"]}]}`
	// The same schema text without rules, as the plain client's subject,
	// and with an ENCRYPT rule under the topic's subject: one id.
	if _, err := reg.Register(ctx, "plain-value", registry.Schema{Schema: schema}, false); err != nil {
		panic(err)
	}
	if _, err := reg.Register(ctx, "users-value", registry.Schema{Schema: schema,
		RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{{
			Name: "pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"},
			Params: map[string]string{tagseal.ParamKEKName: "kek-pii", tagseal.ParamKMSType: "local-kms", tagseal.ParamKMSKeyID: "k"},
		}}}}, false); err != nil {
		panic(err)
	}
	type User struct {
		Name  string `avro:"name"`
		Email string `avro:"email"`
	}
	plainClient, _ := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true})
	plain, _ := plainClient.Serialize(ctx, "plain", &User{Name: "ada", Email: "ada@example.com"})

	keys := tagseal.Keys{RuleConfig: map[string]string{"secret": "example-secret"}}
	relay, _ := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{Keys: keys})
	sealed, err := relay.SealPayload(ctx, "users", nil, plain)
	if err != nil {
		panic(err)
	}
	fmt.Println("email in sealed record:", bytes.Contains(sealed, []byte("ada@example.com")))
	again, _ := relay.SealPayload(ctx, "users", nil, sealed)
	fmt.Println("sealed twice:", !bytes.Equal(again, sealed))

	reader, _ := tagseal.NewDeserializer(reg, tagseal.Value, tagseal.DeserializerConfig{Keys: keys})
	opened, _ := reader.OpenPayload(ctx, "users", nil, sealed, func(kek string) bool { return kek == "kek-pii" })
	fmt.Println("opened is the plain record:", bytes.Equal(opened, plain))
	// Output:
	// email in sealed record: false
	// sealed twice: false
	// opened is the plain record: true
}
