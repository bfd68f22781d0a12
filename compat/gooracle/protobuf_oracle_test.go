package gooracle

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/protobuf"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	pbformat "github.com/tagseal/tagseal/formats/protobuf"
	"github.com/tagseal/tagseal/serde"
	"github.com/tagseal/tagseal/tags"
)

const protoHeader = `syntax = "proto3";
package oracle;
import "confluent/meta.proto";
`

const protoCustomer = protoHeader + `
message Customer {
  int32 id = 1;
  string name = 2 [(confluent.field_meta).tags = "PII"];
  string email = 3 [(confluent.field_meta) = { tags: ["PII"] }];
  int32 age = 4;
}
`

// protoCase is one schema and how to build its message.
type protoCase struct {
	name      string
	schema    string
	refs      map[string]string // import path → .proto text
	metadata  *schemaregistry.Metadata
	rules     []schemaregistry.Rule
	message   string // full name of the message to send
	fill      func(m *dynamicpb.Message)
	secrets   []string
	identical bool
	// confluent, for cases beyond Confluent, is what confluent-kafka-go
	// does: "leaks" (a tagged value in plaintext) or "cannot serialize".
	confluent string
}

func set(m *dynamicpb.Message, field string, v any) {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(field))
	m.Set(fd, protoreflect.ValueOf(v))
}

func protoCases() []protoCase {
	pii := func(extra map[string]string) []schemaregistry.Rule {
		return []schemaregistry.Rule{encryptRule("pii", "", []string{"PII"}, extra)}
	}
	customer := func(m *dynamicpb.Message) {
		set(m, "id", int32(7))
		set(m, "name", "Ada Lovelace")
		set(m, "email", "ada@example.com")
		set(m, "age", int32(36))
	}
	customerSecrets := []string{"Ada Lovelace", "ada@example.com"}
	return []protoCase{
		{name: "flat", schema: protoCustomer, rules: pii(nil), message: "oracle.Customer", fill: customer, secrets: customerSecrets},
		{name: "second-message-index", schema: protoHeader + `
message Other { string x = 1; }
message Customer {
  int32 id = 1;
  string name = 2 [(confluent.field_meta).tags = "PII"];
  string email = 3 [(confluent.field_meta).tags = "PII"];
  int32 age = 4;
}`, rules: pii(nil), message: "oracle.Customer", fill: customer, secrets: customerSecrets},
		{name: "nested-message-index", schema: protoHeader + `
message Outer {
  message Customer {
    int32 id = 1;
    string name = 2 [(confluent.field_meta).tags = "PII"];
    string email = 3 [(confluent.field_meta).tags = "PII"];
    int32 age = 4;
  }
}`, rules: pii(nil), message: "oracle.Outer.Customer", fill: customer, secrets: customerSecrets},
		{name: "repeated-string", schema: protoHeader + `
message Notes { repeated string notes = 1 [(confluent.field_meta).tags = "PII"]; int64 id = 2; }`,
			rules: pii(nil), message: "oracle.Notes", fill: func(m *dynamicpb.Message) {
				fd := m.Descriptor().Fields().ByName("notes")
				l := m.Mutable(fd).List()
				l.Append(protoreflect.ValueOfString("gift for Bob Smith"))
				l.Append(protoreflect.ValueOfString("call 555-0100"))
				set(m, "id", int64(9))
			}, secrets: []string{"gift for Bob Smith", "call 555-0100"}},
		{name: "oneof", schema: protoHeader + `
message Contact {
  oneof via {
    string email = 1 [(confluent.field_meta).tags = "PII"];
    string phone = 2 [(confluent.field_meta).tags = "PII"];
    int64 account = 3;
  }
}`, rules: pii(nil), message: "oracle.Contact", fill: func(m *dynamicpb.Message) { set(m, "phone", "+1-202-555-0143") },
			secrets: []string{"+1-202-555-0143"}},
		{name: "metadata-tags-only", schema: protoHeader + `
message Account { string user = 1; string ssn = 2; }`,
			metadata: &schemaregistry.Metadata{Tags: map[string][]string{"oracle.Account.ssn": {"PII"}}},
			rules:    pii(nil), message: "oracle.Account", fill: func(m *dynamicpb.Message) {
				set(m, "user", "visible-user")
				set(m, "ssn", "078-05-1120")
			}, secrets: []string{"078-05-1120"}},
		{name: "bytes-field", schema: protoHeader + `
message Blob { string name = 1; bytes data = 2 [(confluent.field_meta).tags = "PII"]; }`,
			rules: pii(nil), message: "oracle.Blob", fill: func(m *dynamicpb.Message) {
				set(m, "name", "scan")
				set(m, "data", []byte("fingerprint-template-0xCAFE"))
			}, secrets: []string{"fingerprint-template-0xCAFE"}},
		{name: "import-reference", schema: protoHeader + `
import "common.proto";
message Order {
  string buyer = 1 [(confluent.field_meta).tags = "PII"];
  common.Money total = 2;
}`, refs: map[string]string{"common.proto": `syntax = "proto3"; package common; message Money { string currency = 1; int64 units = 2; }`},
			rules: pii(nil), message: "oracle.Order", fill: func(m *dynamicpb.Message) {
				set(m, "buyer", "Alan Turing")
				fd := m.Descriptor().Fields().ByName("total")
				money := m.Mutable(fd).Message()
				money.Set(fd.Message().Fields().ByName("currency"), protoreflect.ValueOfString("GBP"))
				money.Set(fd.Message().Fields().ByName("units"), protoreflect.ValueOfInt64(12))
			}, secrets: []string{"Alan Turing"}},
		{name: "two-rules-two-keks", schema: protoHeader + `
message Dual {
  string email = 1 [(confluent.field_meta).tags = "PII"];
  string salary = 2 [(confluent.field_meta).tags = "SENSITIVE"];
}`, rules: []schemaregistry.Rule{encryptRule("pii", "", []string{"PII"}, nil),
			encryptRule("sensitive", "", []string{"SENSITIVE"}, map[string]string{"encrypt.kek.name": "SECOND"})},
			message: "oracle.Dual", fill: func(m *dynamicpb.Message) {
				set(m, "email", "eve@example.net")
				set(m, "salary", "123456.78")
			}, secrets: []string{"eve@example.net", "123456.78"}},
		{name: "dek-rotation", schema: protoCustomer, rules: pii(map[string]string{"encrypt.dek.expiry.days": "1"}),
			message: "oracle.Customer", fill: customer, secrets: customerSecrets},
		{name: "aes128-gcm", schema: protoCustomer, rules: pii(map[string]string{"encrypt.dek.algorithm": "AES128_GCM"}),
			message: "oracle.Customer", fill: customer, secrets: customerSecrets},
		{name: "aes256-siv", schema: protoCustomer, rules: pii(map[string]string{"encrypt.dek.algorithm": "AES256_SIV"}),
			message: "oracle.Customer", fill: customer, secrets: customerSecrets, identical: true},
		{name: "empty-tagged-string", schema: protoCustomer, rules: pii(nil), message: "oracle.Customer",
			fill: func(m *dynamicpb.Message) { set(m, "id", int32(1)); set(m, "name", "Only Name") }, secrets: []string{"Only Name"}},
	}
}

// registerProto registers the case's imports and schema and returns a
// fresh message of the type to send, built from tagseal's own compile.
func registerProto(t *testing.T, topic string, c *protoCase) *dynamicpb.Message {
	t.Helper()
	var refs []schemaregistry.Reference
	var prefs []pbformat.Reference
	for name, text := range c.refs {
		register(t, topic+"-"+name, schemaregistry.SchemaInfo{SchemaType: "PROTOBUF", Schema: text})
		refs = append(refs, schemaregistry.Reference{Name: name, Subject: topic + "-" + name, Version: 1})
		prefs = append(prefs, pbformat.Reference{Name: name, Schema: text})
	}
	register(t, topic+"-value", schemaregistry.SchemaInfo{SchemaType: "PROTOBUF", Schema: c.schema, References: refs,
		Metadata: c.metadata, RuleSet: &schemaregistry.RuleSet{DomainRules: c.rules}})
	plan, err := pbformat.Compile(c.schema, prefs, &tags.RuleSet{})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := plan.IndexesOf(protoreflect.FullName(c.message))
	if err != nil {
		t.Fatal(err)
	}
	md, err := plan.MessageAt(idx)
	if err != nil {
		t.Fatal(err)
	}
	return dynamicpb.NewMessage(md)
}

func protoConfluentPair(t *testing.T, md protoreflect.MessageDescriptor) (*protobuf.Serializer, *protobuf.Deserializer) {
	t.Helper()
	sc := protobuf.NewSerializerConfig()
	sc.AutoRegisterSchemas = false
	sc.UseLatestVersion = true
	sc.RuleConfig = ruleConfig
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
	// Confluent's DeserializeInto leaves the caller's message encrypted (its
	// transform works on a clone it returns), so read with Deserialize.
	de.MessageFactory = func(string, string) (any, error) { return dynamicpb.NewMessage(md), nil }
	return ser, de
}

func TestProtobufOracle(t *testing.T) {
	for _, c := range protoCases() {
		t.Run(c.name, func(t *testing.T) {
			topic := "proto-oracle-" + c.name
			kek := "proto-kek-" + c.name
			for i := range c.rules {
				if c.rules[i].Params["encrypt.kek.name"] == "SECOND" {
					c.rules[i].Params["encrypt.kek.name"] = kek + "-second"
				} else {
					c.rules[i].Params["encrypt.kek.name"] = kek
				}
			}
			msg := registerProto(t, topic, &c)
			c.fill(msg)
			tser, tde := tagsealPair(t, serde.Options{})
			cser, cde := protoConfluentPair(t, msg.Descriptor())

			t.Run("tagseal-to-confluent", func(t *testing.T) {
				payload, err := tser.Serialize(topic, msg)
				if err != nil {
					t.Fatalf("tagseal serialize: %v", err)
				}
				assertNoPlaintext(t, payload, c.secrets)
				got, err := cde.Deserialize(topic, payload)
				if err != nil {
					t.Fatalf("confluent deserialize: %v", err)
				}
				if !proto.Equal(got.(proto.Message), msg) {
					t.Fatalf("confluent read %v, want %v", got, msg)
				}
			})
			t.Run("confluent-to-tagseal", func(t *testing.T) {
				payload, err := cser.Serialize(topic, proto.Clone(msg))
				if err != nil {
					t.Fatalf("confluent serialize: %v", err)
				}
				assertNoPlaintext(t, payload, c.secrets)
				got := dynamicpb.NewMessage(msg.Descriptor())
				if err := tde.DeserializeInto(topic, payload, got); err != nil {
					t.Fatalf("tagseal deserialize: %v", err)
				}
				if !proto.Equal(got, msg) {
					t.Fatalf("tagseal read %v, want %v", got, msg)
				}
				if c.identical {
					ours, err := tser.Serialize(topic, msg)
					if err != nil {
						t.Fatal(err)
					}
					// dynamicpb marshals fields in map order, so compare the
					// frames and the sets of encoded fields.
					if !bytes.Equal(ours[:6], payload[:6]) || !reflect.DeepEqual(wireFields(t, ours[6:]), wireFields(t, payload[6:])) {
						t.Fatalf("deterministic payloads differ:\n tagseal   %x\n confluent %x", ours, payload)
					}
				}
			})
		})
	}
}

// Tagged fields inside nested messages (also imported ones) and tagged map
// values: Confluent Go's Protobuf walk does not descend into them and
// leaves them in plaintext; tagseal encrypts them.
func TestProtobufBeyondConfluent(t *testing.T) {
	cases := []protoCase{
		{name: "nested", schema: protoHeader + `
message Address { string street = 1 [(confluent.field_meta).tags = "PII"]; string city = 2; }
message Person {
  string name = 1 [(confluent.field_meta).tags = "PII"];
  Address home = 2;
  repeated Address others = 3;
}`, message: "oracle.Person", fill: func(m *dynamicpb.Message) {
			set(m, "name", "Grace Hopper")
			fd := m.Descriptor().Fields().ByName("home")
			home := m.Mutable(fd).Message()
			home.Set(fd.Message().Fields().ByName("street"), protoreflect.ValueOfString("1 Navy Way"))
			ofd := m.Descriptor().Fields().ByName("others")
			other := dynamicpb.NewMessage(fd.Message())
			other.Set(fd.Message().Fields().ByName("street"), protoreflect.ValueOfString("2 Pentagon"))
			m.Mutable(ofd).List().Append(protoreflect.ValueOfMessage(other))
		}, secrets: []string{"Grace Hopper", "1 Navy Way", "2 Pentagon"}, confluent: "cannot serialize"},
		{name: "nested-singular", schema: protoHeader + `
message Address { string street = 1 [(confluent.field_meta).tags = "PII"]; string city = 2; }
message Person { Address home = 1; }`, message: "oracle.Person", fill: func(m *dynamicpb.Message) {
			fd := m.Descriptor().Fields().ByName("home")
			home := m.Mutable(fd).Message()
			home.Set(fd.Message().Fields().ByName("street"), protoreflect.ValueOfString("1 Navy Way"))
		}, secrets: []string{"1 Navy Way"}, confluent: "leaks"},
		{name: "map-values", schema: protoHeader + `
message Attrs { map<string, string> attrs = 1 [(confluent.field_meta).tags = "PII"]; }`,
			message: "oracle.Attrs", fill: func(m *dynamicpb.Message) {
				fd := m.Descriptor().Fields().ByName("attrs")
				m.Mutable(fd).Map().Set(protoreflect.ValueOfString("passport").MapKey(), protoreflect.ValueOfString("X1234567"))
			}, secrets: []string{"X1234567"}, confluent: "leaks"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			topic := "proto-beyond-" + c.name
			c.rules = []schemaregistry.Rule{encryptRule("pii", "proto-kek-beyond-"+c.name, []string{"PII"}, nil)}
			msg := registerProto(t, topic, &c)
			c.fill(msg)
			ser, de := tagsealPair(t, serde.Options{})
			payload, err := ser.Serialize(topic, msg)
			if err != nil {
				t.Fatal(err)
			}
			assertNoPlaintext(t, payload, c.secrets)
			got := dynamicpb.NewMessage(msg.Descriptor())
			if err := de.DeserializeInto(topic, payload, got); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, msg) {
				t.Fatalf("got %v, want %v", got, msg)
			}
			// The Confluent behaviour README.md documents (confluent-kafka-go
			// v2.15 does not encrypt these): it leaves a tagged value in
			// plaintext or cannot serialize. If it starts encrypting them
			// all, the "beyond Confluent" claim is stale and this fails.
			cser, _ := protoConfluentPair(t, msg.Descriptor())
			cp, err := confluentSerializeRecovering(cser, topic, proto.Clone(msg))
			switch {
			case err != nil:
				if c.confluent != "cannot serialize" {
					t.Fatalf("confluent-kafka-go now fails on this schema (%v); README.md says it %s: update the claim", err, c.confluent)
				}
			default:
				leaked := 0
				for _, s := range c.secrets {
					if bytes.Contains(cp, []byte(s)) {
						leaked++
					}
				}
				if c.confluent != "leaks" || leaked == 0 {
					t.Fatalf("confluent-kafka-go serialized this schema leaving %d of %d tagged values in plaintext; README.md says it %s: the claim is stale",
						leaked, len(c.secrets), c.confluent)
				}
			}
		})
	}
}

// wireFields returns a message's top-level fields, sorted, as strings.
func wireFields(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatal("bad tag")
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			t.Fatal("bad value")
		}
		out = append(out, string(b[:n+m]))
		b = b[n+m:]
	}
	sort.Strings(out)
	return out
}

// confluentSerializeRecovering runs Confluent's serializer, turning its
// panics (it panics on repeated message fields under a rule) into errors.
func confluentSerializeRecovering(s cserde.Serializer, topic string, msg any) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return s.Serialize(topic, msg)
}
