package registryoracle

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/jsonschema"

	"github.com/tagseal/tagseal/serde"
)

// The downgrade scenario: a security team registers a tagged schema with an
// ENCRYPT rule; a producer keeps the default AutoRegisterSchemas and
// serializes a Go struct whose derived schema has no tags (and a record
// name of its own). Confluent Go registers it and writes the PII in clear;
// tagseal carries the subject's contract over to the derived schema and
// encrypts, or refuses with ErrEncryptionDowngrade.

type Person struct {
	ID    int32  `avro:"id" json:"id"`
	Name  string `avro:"name" json:"name"`
	Email string `avro:"email" json:"email"`
}

const (
	personName  = "Grace Hopper of the downgrade test"
	personEmail = "grace@downgrade.example"
)

func person() *Person { return &Person{ID: 1, Name: personName, Email: personEmail} }

// contractFormats are the registered, tagged schemas: email tagged inline,
// name through metadata.tags.
var contractFormats = []struct {
	name, schemaType, schema, nameTag string
}{
	{"avro", "AVRO", `{"type":"record","name":"Person","namespace":"com.acme","fields":[
		{"name":"id","type":"int"},{"name":"name","type":"string"},
		{"name":"email","type":"string","confluent:tags":["PII"]}]}`, "com.acme.Person.name"},
	{"json", "JSON", `{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"},
		"email":{"type":"string","confluent:tags":["PII"]}}}`, "$.name"},
}

func registerContract(t *testing.T, subject, schemaType, schema, nameTag, kek string) int {
	t.Helper()
	id, err := client.Register(subject, schemaregistry.SchemaInfo{SchemaType: schemaType, Schema: schema,
		Metadata: &schemaregistry.Metadata{Tags: map[string][]string{nameTag: {"PII"}}},
		RuleSet:  &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{encryptRule("pii", kek, "PII")}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func autoRegisterSerializer(t *testing.T, schemaType string, allow bool) *serde.Serializer {
	t.Helper()
	conf := serde.NewSerializerConfig() // AutoRegisterSchemas: true, as Confluent's default
	conf.RuleConfig = ruleConfig
	conf.SchemaType = schemaType
	conf.AllowEncryptionDowngrade = allow
	s, err := serde.NewSerializer(client, cserde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func confluentAutoRegister(t *testing.T, format string) (cserde.Serializer, func(topic string, b []byte) (*Person, error)) {
	t.Helper()
	switch format {
	case "avro":
		sc := avrov2.NewSerializerConfig()
		sc.RuleConfig = ruleConfig
		ser, err := avrov2.NewSerializer(client, cserde.ValueSerde, sc)
		if err != nil {
			t.Fatal(err)
		}
		dc := avrov2.NewDeserializerConfig()
		dc.RuleConfig = ruleConfig
		de, err := avrov2.NewDeserializer(client, cserde.ValueSerde, dc)
		if err != nil {
			t.Fatal(err)
		}
		return ser, func(topic string, b []byte) (*Person, error) {
			var p Person
			return &p, de.DeserializeInto(topic, b, &p)
		}
	default:
		sc := jsonschema.NewSerializerConfig()
		sc.RuleConfig = ruleConfig
		ser, err := jsonschema.NewSerializer(client, cserde.ValueSerde, sc)
		if err != nil {
			t.Fatal(err)
		}
		dc := jsonschema.NewDeserializerConfig()
		dc.RuleConfig = ruleConfig
		de, err := jsonschema.NewDeserializer(client, cserde.ValueSerde, dc)
		if err != nil {
			t.Fatal(err)
		}
		return ser, func(topic string, b []byte) (*Person, error) {
			var p Person
			return &p, de.DeserializeInto(topic, b, &p)
		}
	}
}

func TestAutoRegisterKeepsTheContract(t *testing.T) {
	for _, f := range contractFormats {
		t.Run(f.name, func(t *testing.T) {
			topic := "people-auto-" + f.name
			registerContract(t, topic+"-value", f.schemaType, f.schema, f.nameTag, "kek-auto-"+f.name)
			b, err := autoRegisterSerializer(t, f.schemaType, false).Serialize(topic, person())
			if err != nil {
				t.Fatalf("tagseal auto-register: %v", err)
			}
			if bytes.Contains(b, []byte(personEmail)) || bytes.Contains(b, []byte(personName)) {
				t.Fatal("tagseal wrote a tagged field in clear after auto-registering")
			}
			// Confluent's client caches "latest" for ever: ask by version.
			latest, err := client.GetSchemaMetadata(topic+"-value", 2)
			if err != nil {
				t.Fatal(err)
			}
			if latest.Version != 2 || latest.RuleSet == nil || !strings.Contains(latest.Schema, "confluent:tags") {
				t.Fatalf("registered version %d, rules %v, schema %s: want version 2 with the contract", latest.Version, latest.RuleSet != nil, latest.Schema)
			}
			_, read := confluentAutoRegister(t, f.name)
			got, err := read(topic, b)
			if err != nil {
				t.Fatalf("confluent read: %v", err)
			}
			if *got != *person() {
				t.Fatalf("confluent read %+v", got)
			}
		})
	}
}

// TestConfluentAutoRegisterWritesPlaintext documents the trap tagseal's
// guard closes: in the same scenario Confluent Go writes the PII in clear.
// If it starts encrypting, README's claim about it is stale.
func TestConfluentAutoRegisterWritesPlaintext(t *testing.T) {
	for _, f := range contractFormats {
		t.Run(f.name, func(t *testing.T) {
			topic := "people-confluent-" + f.name
			registerContract(t, topic+"-value", f.schemaType, f.schema, f.nameTag, "kek-confluent-"+f.name)
			ser, _ := confluentAutoRegister(t, f.name)
			b, err := ser.Serialize(topic, person())
			if err != nil {
				t.Fatalf("confluent auto-register: %v", err)
			}
			if !bytes.Contains(b, []byte(personEmail)) {
				t.Fatal("Confluent Go now encrypts after auto-registering an untagged schema: update README's downgrade section")
			}
			// tagseal, asked to behave like Confluent, does the same.
			b, err = autoRegisterSerializer(t, f.schemaType, true).Serialize(topic, person())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, []byte(personEmail)) {
				t.Fatal("AllowEncryptionDowngrade did not restore Confluent's behaviour")
			}
		})
	}
}

// versions registers v1 (untagged, no rules, with metadata app=old) and
// v2 (tagged, ENCRYPT rule, app=new) under subject.
func versions(t *testing.T, subject, kek string) (v1, v2 int) {
	t.Helper()
	var err error
	v1, err = client.Register(subject, schemaregistry.SchemaInfo{
		Schema:   `{"type":"record","name":"Person","namespace":"com.acme","fields":[{"name":"id","type":"int"},{"name":"name","type":"string"},{"name":"email","type":"string"}]}`,
		Metadata: &schemaregistry.Metadata{Properties: map[string]string{"app": "old"}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	v2 = registerContract(t, subject, "AVRO", contractFormats[0].schema, contractFormats[0].nameTag, kek)
	if _, err := client.Register(subject, schemaregistry.SchemaInfo{Schema: contractFormats[0].schema,
		Metadata: &schemaregistry.Metadata{Tags: map[string][]string{contractFormats[0].nameTag: {"PII"}}, Properties: map[string]string{"app": "new"}},
		RuleSet:  &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{encryptRule("pii", kek, "PII")}}}, false); err != nil {
		t.Fatal(err)
	}
	return v1, v2
}

func TestGuardRefusesOlderUntaggedVersions(t *testing.T) {
	subject := "people-older-value"
	v1, _ := versions(t, subject, "kek-older")
	cases := map[string]func(c *serde.SerializerConfig){
		"UseSchemaID":           func(c *serde.SerializerConfig) { c.UseSchemaID = v1 },
		"UseLatestWithMetadata": func(c *serde.SerializerConfig) { c.UseLatestWithMetadata = map[string]string{"app": "old"} },
	}
	for name, configure := range cases {
		t.Run(name, func(t *testing.T) {
			conf := serde.NewSerializerConfig()
			conf.AutoRegisterSchemas = false
			conf.RuleConfig = ruleConfig
			configure(conf)
			s, err := serde.NewSerializer(client, cserde.ValueSerde, conf)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.Serialize("people-older", person())
			if !errors.Is(err, serde.ErrEncryptionDowngrade) {
				t.Fatalf("got %x, %v; want ErrEncryptionDowngrade", b, err)
			}
			var de *serde.DowngradeError
			if !errors.As(err, &de) || de.Subject != subject || de.WriterID != v1 || len(de.Rules) != 1 ||
				strings.Join(de.Fields, ",") != "email,name" {
				t.Fatalf("downgrade error %+v", de)
			}
			if strings.Contains(err.Error(), personEmail) || strings.Contains(err.Error(), personName) {
				t.Fatal("the error holds a value")
			}
			conf.AllowEncryptionDowngrade = true
			if s, err = serde.NewSerializer(client, cserde.ValueSerde, conf); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Serialize("people-older", person()); err != nil {
				t.Fatalf("with AllowEncryptionDowngrade: %v", err)
			}
		})
	}
}

// A writer that lacks a field entirely has not downgraded it; fields both
// versions have stay encrypted.
func TestGuardAllowsRemovedFields(t *testing.T) {
	subject := "people-removed-value"
	kek := "kek-removed"
	short := `{"type":"record","name":"Person","namespace":"com.acme","fields":[
		{"name":"id","type":"int"},{"name":"email","type":"string","confluent:tags":["PII"]}]}`
	rules := &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{encryptRule("pii", kek, "PII")}}
	v1, err := client.Register(subject, schemaregistry.SchemaInfo{Schema: short, RuleSet: rules}, false)
	if err != nil {
		t.Fatal(err)
	}
	registerContract(t, subject, "AVRO", contractFormats[0].schema, contractFormats[0].nameTag, kek)
	conf := serde.NewSerializerConfig()
	conf.AutoRegisterSchemas, conf.UseSchemaID, conf.RuleConfig = false, v1, ruleConfig
	s, err := serde.NewSerializer(client, cserde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	type short1 struct {
		ID    int32  `avro:"id"`
		Email string `avro:"email"`
	}
	b, err := s.Serialize("people-removed", &short1{ID: 1, Email: personEmail})
	if err != nil {
		t.Fatalf("a writer without the name field was refused: %v", err)
	}
	if bytes.Contains(b, []byte(personEmail)) {
		t.Fatal("email in clear")
	}
}

// After warm-up the guard makes no registry call per record.
func TestGuardCachesTheLatestVersion(t *testing.T) {
	topic := "people-cached"
	registerContract(t, topic+"-value", "AVRO", contractFormats[0].schema, contractFormats[0].nameTag, "kek-cached")
	s := autoRegisterSerializer(t, "AVRO", false)
	if _, err := s.Serialize(topic, person()); err != nil {
		t.Fatal(err)
	}
	before := len(memory.Calls())
	for i := 0; i < 50; i++ {
		if _, err := s.Serialize(topic, person()); err != nil {
			t.Fatal(err)
		}
	}
	if calls := memory.Calls()[before:]; len(calls) > 0 {
		t.Fatalf("warm serializer made registry calls: %v", calls)
	}
}
