package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"

	"github.com/tagseal/tagseal/serde"
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
	client, err := schemaregistry.NewClient(schemaregistry.NewConfig("mock://tagseal-demo"))
	if err != nil {
		return err
	}
	rule := schemaregistry.Rule{
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
	id, err := client.Register(topic+"-value", schemaregistry.SchemaInfo{
		Schema: demoSchema, SchemaType: "AVRO",
		RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{rule}},
	}, false)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "1. Registered %s-value (schema id %d): name, email and ssn tagged PII,\n   ENCRYPT rule with KEK %q in local-kms.\n\n", topic, id, "demo-kek")

	sconf := serde.NewSerializerConfig()
	sconf.AutoRegisterSchemas = false
	sconf.UseLatestVersion = true
	sconf.RuleConfig = map[string]string{"secret": secret}
	ser, err := serde.NewSerializer(client, cserde.ValueSerde, sconf)
	if err != nil {
		return err
	}
	defer ser.Close()
	fmt.Fprintln(w, "2. Produced records, as the broker stores them:")
	payloads := make([][]byte, len(demoCustomers))
	for i, c := range demoCustomers {
		if payloads[i], err = ser.Serialize(topic, c); err != nil {
			return err
		}
		fmt.Fprintf(w, "   %s\n", strconv.QuoteToASCII(string(payloads[i])))
	}

	fmt.Fprintln(w, "\n3. Consumer holding the KMS secret:")
	if err := consume(w, client, topic, secret, payloads); err != nil {
		return err
	}
	other, err := randomSecret()
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\n4. Consumer without the secret (rule says onFailure NONE for reads):")
	return consume(w, client, topic, other, payloads)
}

func consume(w io.Writer, client schemaregistry.Client, topic, secret string, payloads [][]byte) error {
	dconf := serde.NewDeserializerConfig()
	dconf.RuleConfig = map[string]string{"secret": secret}
	de, err := serde.NewDeserializer(client, cserde.ValueSerde, dconf)
	if err != nil {
		return err
	}
	defer de.Close()
	for _, p := range payloads {
		var c Customer
		if err := de.DeserializeInto(topic, p, &c); err != nil {
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
