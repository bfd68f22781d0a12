package tagseal_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/registry"
)

// A producer and a consumer over an embedded registry, in pure Go (no
// cgo): the email field is tagged PII, so it leaves the producer encrypted
// and is decrypted on read by a consumer holding the local-KMS secret.
func ExampleNewSerializer() {
	ctx := context.Background()
	reg := registry.NewMemory() // or registry.New("http://registry:8081")
	_, err := reg.Register(ctx, "users-value", registry.Schema{
		SchemaType: registry.TypeAvro,
		Schema: `{"type":"record","name":"User","fields":[
			{"name":"name","type":"string"},
			{"name":"email","type":"string","confluent:tags":["PII"]}]}`,
		RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{{
			Name: "encrypt-pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT",
			Tags: []string{"PII"},
			Params: map[string]string{
				tagseal.ParamKEKName:  "example-kek",
				tagseal.ParamKMSType:  "local-kms",
				tagseal.ParamKMSKeyID: "example-key",
			},
		}}},
	}, false)
	if err != nil {
		panic(err)
	}
	keys := tagseal.Keys{RuleConfig: map[string]string{"secret": "example-secret"}}
	ser, err := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true, Keys: keys})
	if err != nil {
		panic(err)
	}
	type User struct {
		Name  string `avro:"name"`
		Email string `avro:"email"`
	}
	payload, err := ser.Serialize(ctx, "users", &User{Name: "ada", Email: "ada@example.com"})
	if err != nil {
		panic(err)
	}
	fmt.Println("email in payload:", strings.Contains(string(payload), "ada@example.com"))

	de, err := tagseal.NewDeserializer(reg, tagseal.Value, tagseal.DeserializerConfig{Keys: keys})
	if err != nil {
		panic(err)
	}
	var u User
	if err := de.DeserializeInto(ctx, "users", payload, &u); err != nil {
		panic(err)
	}
	fmt.Println("read back:", u.Name, u.Email)

	// A consumer without the secret cannot read the tagged field.
	blind, _ := tagseal.NewDeserializer(reg, tagseal.Value, tagseal.DeserializerConfig{
		Keys: tagseal.Keys{RuleConfig: map[string]string{"secret": "wrong"}}})
	err = blind.DeserializeInto(ctx, "users", payload, &u)
	fmt.Println("without the secret:", errors.Is(err, tagseal.ErrDEKUnwrapFailed))
	// Output:
	// email in payload: false
	// read back: ada ada@example.com
	// without the secret: true
}
