package registryoracle

import (
	"bytes"
	"context"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/registry"
)

// The pure-Go API (package tagseal, over registry.New's HTTP client)
// against Confluent Go's CSFLE serdes, both ways, for Avro, JSON Schema and
// Protobuf, over registry.Memory served on HTTP: no mock://, no adapter.
func TestPureGoAgainstConfluentGo(t *testing.T) {
	ctx := context.Background()
	pureReg, err := registry.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	keys := tagseal.Keys{RuleConfig: ruleConfig}
	ser, err := tagseal.NewSerializer(pureReg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	de, err := tagseal.NewDeserializer(pureReg, tagseal.Value, tagseal.DeserializerConfig{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	pureRead := func(t *testing.T, topic string, b []byte, like any) any {
		t.Helper()
		var out any = &scopeCustomer{}
		if m, ok := like.(proto.Message); ok {
			out = dynamicpb.NewMessage(m.ProtoReflect().Descriptor())
		}
		if err := de.DeserializeInto(ctx, topic, b, out); err != nil {
			t.Fatalf("pure read %s: %v", topic, err)
		}
		return out
	}
	for _, f := range scopeFormats() {
		t.Run(f.name, func(t *testing.T) {
			topic := "purego-" + f.name
			if _, err := client.Register(topic+"-value", schemaregistry.SchemaInfo{SchemaType: f.schemaType, Schema: f.schema,
				RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{encryptRule("pii", "purego-kek-"+f.name, "PII")}}}, false); err != nil {
				t.Fatal(err)
			}
			value := f.value(t)
			ours, err := ser.Serialize(ctx, topic, value)
			if err != nil {
				t.Fatalf("pure serialize: %v", err)
			}
			if bytes.Contains(ours, []byte(scopeSecret)) {
				t.Fatal("the pure API wrote the tagged value in clear")
			}
			cser, cread := f.confluent(t, client, value)
			got, err := cread(ours, topic)
			if err != nil {
				t.Fatalf("Confluent Go read the pure API's record: %v", err)
			}
			if !f.equal(got, value) {
				t.Fatalf("Confluent Go read %v, want %v", got, value)
			}
			theirs, err := cser.Serialize(topic, f.value(t)) // Confluent encrypts its input in place
			if err != nil {
				t.Fatalf("confluent serialize: %v", err)
			}
			if bytes.Contains(theirs, []byte(scopeSecret)) {
				t.Fatal("Confluent Go wrote the tagged value in clear")
			}
			if got := pureRead(t, topic, theirs, value); !f.equal(got, value) {
				t.Fatalf("the pure API read Confluent's record as %v", got)
			}
		})
	}
}
