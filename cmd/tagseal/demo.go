package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/formats/protobuf"
	"github.com/tagseal/tagseal/registry"
	"github.com/tagseal/tagseal/tags"
)

// Customer is the demo record.
type Customer struct {
	ID    int32  `avro:"id"`
	Name  string `avro:"name"`
	Email string `avro:"email"`
	SSN   string `avro:"ssn"`
	Tier  string `avro:"tier"`
}

const demoSchema = `{"type":"record","name":"Customer","namespace":"com.acme","fields":[
  {"name":"id","type":"int"},
  {"name":"name","type":"string","confluent:tags":["PII"]},
  {"name":"email","type":"string","confluent:tags":["PII"]},
  {"name":"ssn","type":"string","confluent:tags":["PII"]},
  {"name":"tier","type":"string"}]}`

var demoCustomers = []*Customer{
	{ID: 1, Name: "Ada Lovelace", Email: "ada@example.com", SSN: "078-05-1120", Tier: "gold"},
	{ID: 2, Name: "Alan Turing", Email: "alan@example.org", SSN: "219-09-9999", Tier: "silver"},
	{ID: 3, Name: "Grace Hopper", Email: "grace@example.net", SSN: "457-55-5462", Tier: "gold"},
}

// runDemo walks through produce and consume on an in-memory registry and a
// local KMS whose secret is generated for this run.
func runDemo(w io.Writer) error {
	const topic = "customers"
	secret, err := randomSecret()
	if err != nil {
		return err
	}
	ctx := context.Background()
	client := registry.NewMemory()
	rule := registry.Rule{
		Name: "encrypt-pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT",
		Tags: []string{"PII"},
		Params: map[string]string{
			"encrypt.kek.name":   "demo-kek",
			"encrypt.kms.type":   "local-kms",
			"encrypt.kms.key.id": "demo-key",
		},
		// Producers fail closed; consumers without the key see ciphertext.
		OnFailure: "ERROR,NONE",
	}
	registered, err := client.Register(ctx, topic+"-value", registry.Schema{
		Schema: demoSchema, SchemaType: "AVRO",
		RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{rule}},
	}, false)
	if err != nil {
		return err
	}
	id := registered.ID
	fmt.Fprintf(w, "1. Registered %s-value (schema id %d): name, email and ssn tagged PII,\n   ENCRYPT rule with KEK %q in local-kms.\n\n", topic, id, "demo-kek")

	ser, err := tagseal.NewSerializer(client, tagseal.Value, tagseal.SerializerConfig{
		UseLatestVersion: true, Keys: tagseal.Keys{RuleConfig: map[string]string{"secret": secret}}})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "2. Produced records, as the broker stores them:")
	payloads := make([][]byte, len(demoCustomers))
	for i, c := range demoCustomers {
		if payloads[i], err = ser.Serialize(ctx, topic, c); err != nil {
			return err
		}
		fmt.Fprintf(w, "   %s\n", strconv.QuoteToASCII(string(payloads[i])))
	}

	fmt.Fprintln(w, "\n3. Consumer holding the KMS secret:")
	if err := consume(ctx, w, client, topic, secret, payloads); err != nil {
		return err
	}
	other, err := randomSecret()
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\n4. Consumer without the secret (rule says onFailure NONE for reads):")
	if err := consume(ctx, w, client, topic, other, payloads); err != nil {
		return err
	}
	return otherFormats(ctx, w, client, rule, secret, other)
}

// otherFormats repeats the round trip for one JSON Schema record and one
// Protobuf record through the same Serializer type.
func otherFormats(ctx context.Context, w io.Writer, client *registry.Memory, rule registry.Rule, secret, other string) error {
	jsonSchema := `{"type":"object","title":"Customer","properties":{
	  "id":{"type":"integer"},
	  "email":{"type":"string","confluent:tags":["PII"]},
	  "tier":{"type":"string"}}}`
	protoSchema := `syntax = "proto3";
package demo;
import "confluent/meta.proto";
message Customer {
  int32 id = 1;
  string email = 2 [(confluent.field_meta).tags = "PII"];
  string tier = 3;
}`
	c := demoCustomers[0]
	pplan, err := protobuf.Compile(protoSchema, nil, &tags.RuleSet{})
	if err != nil {
		return err
	}
	md := pplan.File().Messages().Get(0)
	pmsg := dynamicpb.NewMessage(md)
	pmsg.Set(md.Fields().ByName("id"), protoreflect.ValueOfInt32(c.ID))
	pmsg.Set(md.Fields().ByName("email"), protoreflect.ValueOfString(c.Email))
	pmsg.Set(md.Fields().ByName("tier"), protoreflect.ValueOfString(c.Tier))
	formats := []struct {
		step, typ, topic, schema string
		value                    any
	}{
		{"5", "JSON", "customers-json", jsonSchema, map[string]any{"id": c.ID, "email": c.Email, "tier": c.Tier}},
		{"6", "PROTOBUF", "customers-proto", protoSchema, pmsg},
	}
	for _, f := range formats {
		if _, err := client.Register(ctx, f.topic+"-value", registry.Schema{Schema: f.schema, SchemaType: f.typ,
			RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{rule}}}, false); err != nil {
			return err
		}
		ser, err := tagseal.NewSerializer(client, tagseal.Value, tagseal.SerializerConfig{
			UseLatestVersion: true, Keys: tagseal.Keys{RuleConfig: map[string]string{"secret": secret}}})
		if err != nil {
			return err
		}
		payload, err := ser.Serialize(ctx, f.topic, f.value)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\n%s. %s record (email tagged PII), as stored:\n   %s\n", f.step, f.typ, strconv.QuoteToASCII(string(payload)))
		for _, reader := range []struct{ who, secret string }{{"with the secret", secret}, {"without it", other}} {
			de, err := tagseal.NewDeserializer(client, tagseal.Value, tagseal.DeserializerConfig{
				Keys: tagseal.Keys{RuleConfig: map[string]string{"secret": reader.secret}}})
			if err != nil {
				return err
			}
			v, err := de.Deserialize(ctx, f.topic, payload)
			if err != nil {
				return err
			}
			if m, ok := v.(proto.Message); ok {
				v = prototext.MarshalOptions{}.Format(m)
			}
			fmt.Fprintf(w, "   read %-15s %v\n", reader.who+":", v)
		}
	}
	return nil
}

func consume(ctx context.Context, w io.Writer, client *registry.Memory, topic, secret string, payloads [][]byte) error {
	de, err := tagseal.NewDeserializer(client, tagseal.Value, tagseal.DeserializerConfig{
		Keys: tagseal.Keys{RuleConfig: map[string]string{"secret": secret}}})
	if err != nil {
		return err
	}
	for _, p := range payloads {
		var c Customer
		if err := de.DeserializeInto(ctx, topic, p, &c); err != nil {
			return err
		}
		fmt.Fprintf(w, "   id=%d tier=%-6s name=%q email=%q ssn=%q\n", c.ID, c.Tier, c.Name, c.Email, c.SSN)
	}
	return nil
}

func randomSecret() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
