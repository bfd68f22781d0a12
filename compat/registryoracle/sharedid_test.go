package registryoracle

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/jsonschema"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/protobuf"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	pbformat "github.com/tagseal/tagseal/formats/protobuf"
	"github.com/tagseal/tagseal/serde"
	"github.com/tagseal/tagseal/tags"
)

// The shared-id scenario: real registries give identical schema text one
// id under every subject, while the rules belong to each subject version.
// One tagseal Serializer and one Deserializer serve a topic whose subject
// has no rules ("orders") and one whose subject encrypts ("customers"),
// in both orders; Confluent Go reads every record tagseal wrote, and
// tagseal reads what Confluent wrote, all over the HTTP registry double
// (registry.Memory over HTTP), not mock://, whose ids are per subject.

const scopeSecret = "scope-secret-of-a-customer"

const protoHeader = `syntax = "proto3";
package scope;
import "confluent/meta.proto";
`

type scopeFormat struct {
	name       string
	schemaType string
	schema     string
	// value returns the record to write (its email is scopeSecret).
	value func(t *testing.T) any
	// confluent returns Confluent's serializer and deserializer for the
	// format over client; read decodes with the deserializer.
	confluent func(t *testing.T, client schemaregistry.Client, v any) (cserde.Serializer, func([]byte, string) (any, error))
	// tagsealRead decodes with tagseal into a fresh value of v's type.
	tagsealRead func(t *testing.T, de *serde.Deserializer, topic string, b []byte, v any) any
	equal       func(a, b any) bool
}

type scopeCustomer struct {
	ID    int32  `avro:"id" json:"id"`
	Email string `avro:"email" json:"email"`
}

func scopeFormats() []scopeFormat {
	plainEqual := func(a, b any) bool { return reflect.DeepEqual(a, b) }
	return []scopeFormat{{
		name: "avro", schemaType: "AVRO",
		schema: `{"type":"record","name":"Customer","namespace":"scope","fields":[
			{"name":"id","type":"int"},{"name":"email","type":"string","confluent:tags":["PII"]}]}`,
		value: func(*testing.T) any { return &scopeCustomer{ID: 7, Email: scopeSecret} },
		confluent: func(t *testing.T, client schemaregistry.Client, _ any) (cserde.Serializer, func([]byte, string) (any, error)) {
			sc := avrov2.NewSerializerConfig()
			sc.AutoRegisterSchemas, sc.UseLatestVersion, sc.RuleConfig = false, true, ruleConfig
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
			return ser, func(b []byte, topic string) (any, error) {
				var c scopeCustomer
				return &c, de.DeserializeInto(topic, b, &c)
			}
		},
		tagsealRead: func(t *testing.T, de *serde.Deserializer, topic string, b []byte, _ any) any {
			var c scopeCustomer
			if err := de.DeserializeInto(topic, b, &c); err != nil {
				t.Fatalf("tagseal read %s: %v", topic, err)
			}
			return &c
		},
		equal: plainEqual,
	}, {
		name: "json", schemaType: "JSON",
		schema: `{"type":"object","title":"Customer","properties":{
			"id":{"type":"integer"},"email":{"type":"string","confluent:tags":["PII"]}}}`,
		value: func(*testing.T) any { return &scopeCustomer{ID: 7, Email: scopeSecret} },
		confluent: func(t *testing.T, client schemaregistry.Client, _ any) (cserde.Serializer, func([]byte, string) (any, error)) {
			sc := jsonschema.NewSerializerConfig()
			sc.AutoRegisterSchemas, sc.UseLatestVersion, sc.RuleConfig = false, true, ruleConfig
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
			return ser, func(b []byte, topic string) (any, error) {
				var c scopeCustomer
				return &c, de.DeserializeInto(topic, b, &c)
			}
		},
		tagsealRead: func(t *testing.T, de *serde.Deserializer, topic string, b []byte, _ any) any {
			var c scopeCustomer
			if err := de.DeserializeInto(topic, b, &c); err != nil {
				t.Fatalf("tagseal read %s: %v", topic, err)
			}
			return &c
		},
		equal: plainEqual,
	}, {
		name: "protobuf", schemaType: "PROTOBUF",
		schema: protoHeader + `
message Customer {
  int32 id = 1;
  string email = 2 [(confluent.field_meta).tags = "PII"];
}
`,
		value: func(t *testing.T) any {
			plan, err := pbformat.Compile(protoHeader+`
message Customer {
  int32 id = 1;
  string email = 2 [(confluent.field_meta).tags = "PII"];
}
`, nil, &tags.RuleSet{})
			if err != nil {
				t.Fatal(err)
			}
			md, err := plan.MessageAt([]int{0})
			if err != nil {
				t.Fatal(err)
			}
			m := dynamicpb.NewMessage(md)
			set(m, "id", int32(7))
			set(m, "email", scopeSecret)
			return m
		},
		confluent: func(t *testing.T, client schemaregistry.Client, v any) (cserde.Serializer, func([]byte, string) (any, error)) {
			md := v.(protoreflect.ProtoMessage).ProtoReflect().Descriptor()
			sc := protobuf.NewSerializerConfig()
			sc.AutoRegisterSchemas, sc.UseLatestVersion, sc.RuleConfig = false, true, ruleConfig
			ser, err := protobuf.NewSerializer(client, cserde.ValueSerde, sc)
			if err != nil {
				t.Fatal(err)
			}
			dc := protobuf.NewDeserializerConfig()
			dc.RuleConfig = ruleConfig
			de, err := protobuf.NewDeserializer(client, cserde.ValueSerde, dc)
			if err != nil {
				t.Fatal(err)
			}
			de.MessageFactory = func(string, string) (any, error) { return dynamicpb.NewMessage(md), nil }
			return ser, func(b []byte, topic string) (any, error) { return de.Deserialize(topic, b) }
		},
		tagsealRead: func(t *testing.T, de *serde.Deserializer, topic string, b []byte, v any) any {
			got := dynamicpb.NewMessage(v.(proto.Message).ProtoReflect().Descriptor())
			if err := de.DeserializeInto(topic, b, got); err != nil {
				t.Fatalf("tagseal read %s: %v", topic, err)
			}
			return got
		},
		equal: func(a, b any) bool { return proto.Equal(a.(proto.Message), b.(proto.Message)) },
	}}
}

func TestSharedSchemaIDAcrossSubjects(t *testing.T) {
	for _, f := range scopeFormats() {
		for _, order := range [][]string{{"orders", "customers"}, {"customers", "orders"}} {
			t.Run(fmt.Sprintf("%s/%s-first", f.name, order[0]), func(t *testing.T) {
				// Topics and KEK are this case's; the registry is the binary's.
				run := f.name + "-" + order[0]
				orders, customers := "orders-"+run, "customers-"+run
				kek := "scope-kek-" + run
				plainID, err := client.Register(orders+"-value", schemaregistry.SchemaInfo{SchemaType: f.schemaType, Schema: f.schema}, false)
				if err != nil {
					t.Fatal(err)
				}
				ruledID, err := client.Register(customers+"-value", schemaregistry.SchemaInfo{SchemaType: f.schemaType, Schema: f.schema,
					RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{encryptRule("pii", kek, "PII")}}}, false)
				if err != nil {
					t.Fatal(err)
				}
				if plainID != ruledID {
					t.Fatalf("the registry double gave ids %d and %d to identical text", plainID, ruledID)
				}
				value := f.value(t)
				ser, de := scopePair(t, client)

				topics := map[string]string{"orders": orders, "customers": customers}
				written := map[string][]byte{}
				for _, which := range order {
					topic := topics[which]
					b, err := ser.Serialize(topic, value)
					if err != nil {
						t.Fatalf("serialize %s: %v", topic, err)
					}
					written[which] = b
				}
				if bytes.Contains(written["customers"], []byte(scopeSecret)) {
					t.Fatal("the customers record holds the tagged value in clear: its subject's rules were not applied")
				}
				if !bytes.Contains(written["orders"], []byte(scopeSecret)) {
					t.Fatal("the orders record was encrypted: another subject's rules were applied")
				}

				// One Deserializer reads each subject with its own rules.
				for _, which := range order {
					topic := topics[which]
					if got := f.tagsealRead(t, de, topic, written[which], value); !f.equal(got, value) {
						t.Fatalf("tagseal read %s as %v, want %v", topic, got, value)
					}
				}

				// Confluent Go reads every record tagseal wrote, and tagseal
				// (its Deserializer warm with both subjects) reads what
				// Confluent wrote under the encrypting subject.
				cser, cread := f.confluent(t, client, value)
				for _, which := range order {
					topic := topics[which]
					got, err := cread(written[which], topic)
					if err != nil {
						t.Fatalf("confluent read %s: %v", topic, err)
					}
					if !f.equal(got, value) {
						t.Fatalf("confluent read %s as %v, want %v", topic, got, value)
					}
				}
				// Confluent encrypts the value it is given in place: hand it a copy.
				theirs, err := cser.Serialize(customers, f.value(t))
				if err != nil {
					t.Fatalf("confluent serialize: %v", err)
				}
				if bytes.Contains(theirs, []byte(scopeSecret)) {
					t.Fatal("Confluent wrote the customers record in clear")
				}
				if got := f.tagsealRead(t, de, customers, theirs, value); !f.equal(got, value) {
					t.Fatalf("tagseal read Confluent's customers record as %v", got)
				}
				assertSubjectQualified(t)
			})
		}
	}
}

func scopePair(t *testing.T, client schemaregistry.Client) (*serde.Serializer, *serde.Deserializer) {
	t.Helper()
	sc := serde.NewSerializerConfig()
	sc.AutoRegisterSchemas, sc.UseLatestVersion, sc.RuleConfig = false, true, ruleConfig
	ser, err := serde.NewSerializer(client, cserde.ValueSerde, sc)
	if err != nil {
		t.Fatal(err)
	}
	dc := serde.NewDeserializerConfig()
	dc.RuleConfig = ruleConfig
	de, err := serde.NewDeserializer(client, cserde.ValueSerde, dc)
	if err != nil {
		t.Fatal(err)
	}
	return ser, de
}

// assertSubjectQualified checks that every by-id schema fetch named its
// subject: an unqualified one would get some subject's rules.
func assertSubjectQualified(t *testing.T) {
	t.Helper()
	for _, c := range memory.Calls() {
		if bytes.HasPrefix([]byte(c), []byte("GET /schemas/ids/")) && !bytes.Contains([]byte(c), []byte("subject=")) {
			t.Errorf("unqualified schema fetch %q", c)
		}
	}
}
