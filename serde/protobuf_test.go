package serde_test

import (
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	pbformat "github.com/tagseal/tagseal/formats/protobuf"
	"github.com/tagseal/tagseal/serde"
	"github.com/tagseal/tagseal/tags"
)

const protoSchema = `syntax = "proto3";
package t;
import "confluent/meta.proto";
message First { string a = 1; }
message Customer {
  int32 id = 1;
  string name = 2 [(confluent.field_meta).tags = "PII"];
  string email = 3 [(confluent.field_meta).tags = "PII"];
  int32 age = 4;
  message Inner { string secret = 1 [(confluent.field_meta).tags = "PII"]; }
  Inner inner = 5;
}`

func protoCustomer(t *testing.T) *dynamicpb.Message {
	t.Helper()
	p, err := pbformat.Compile(protoSchema, nil, &tags.RuleSet{})
	if err != nil {
		t.Fatal(err)
	}
	md, _ := p.MessageAt([]int{1})
	m := dynamicpb.NewMessage(md)
	m.Set(md.Fields().ByName("id"), protoreflect.ValueOfInt32(7))
	m.Set(md.Fields().ByName("name"), protoreflect.ValueOfString("Ada Lovelace"))
	m.Set(md.Fields().ByName("email"), protoreflect.ValueOfString("ada@example.com"))
	inner := m.Mutable(md.Fields().ByName("inner")).Message()
	inner.Set(md.Fields().ByName("inner").Message().Fields().ByName("secret"), protoreflect.ValueOfString("Ada Lovelace"))
	return m
}

func registerProto(t *testing.T, c schemaregistry.Client, subject, schema string, rules ...schemaregistry.Rule) {
	t.Helper()
	if _, err := c.Register(subject, schemaregistry.SchemaInfo{Schema: schema, SchemaType: "PROTOBUF",
		RuleSet: &schemaregistry.RuleSet{DomainRules: rules}}, false); err != nil {
		t.Fatal(err)
	}
}

func TestProtobufRoundTrip(t *testing.T) {
	c := newClient(t)
	registerProto(t, c, "p-value", protoSchema, rule(t, "local-kms", nil))
	msg := protoCustomer(t)
	b, err := newSerializer(t, c, serde.Options{}).Serialize("p", msg)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecrets(t, "payload", b)
	if b[5] != 2 || b[6] != 2 {
		t.Fatalf("message indexes [1] must be encoded as 02 02, got % x", b[5:7])
	}
	// Without a target the deserializer builds a dynamic message.
	v, err := newDeserializer(t, c, testSecret, serde.Options{}).Deserialize("p", b)
	if err != nil {
		t.Fatal(err)
	}
	if prototext.Format(v.(proto.Message)) != prototext.Format(msg) {
		t.Fatalf("got %v", v)
	}
}

func TestProtobufBadInput(t *testing.T) {
	c := newClient(t)
	registerProto(t, c, "pb-value", protoSchema, rule(t, "local-kms", nil))
	good, err := newSerializer(t, c, serde.Options{}).Serialize("pb", protoCustomer(t))
	if err != nil {
		t.Fatal(err)
	}
	d := newDeserializer(t, c, testSecret, serde.Options{})
	frame := func(idx []byte, body []byte) []byte {
		return append(append(append([]byte{}, good[:5]...), idx...), body...)
	}
	body := good[7:]
	cases := map[string][]byte{
		"index out of range":        frame([]byte{2, 8}, body),
		"nested index out of range": frame([]byte{4, 2, 8}, body),
		"negative index count":      frame([]byte{3}, body),
		"missing indexes":           good[:5],
		"truncated varint":          frame([]byte{2, 2}, []byte{0x08, 0x80}),
		"bad tag":                   frame([]byte{2, 2}, []byte{0x00, 0x01}),
		"length past end":           frame([]byte{2, 2}, []byte{0x12, 0x7f, 'a'}),
		"tagged wrong wire type":    frame([]byte{2, 2}, []byte{0x10, 0x01}),
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := d.Deserialize("pb", payload)
			checkErr(t, err, serde.ErrMalformedPayload)
		})
	}
	t.Run("wrong message index", func(t *testing.T) {
		// Index [0] names t.First, whose field 1 is a string: the Customer
		// body's varint id does not fit it.
		_, err := d.Deserialize("pb", frame([]byte{0}, body))
		checkErr(t, err, serde.ErrMalformedPayload)
		// A body that does parse as First still cannot fill a Customer.
		err = d.DeserializeInto("pb", frame([]byte{0}, []byte{0x0a, 0x01, 'x'}), protoCustomer(t))
		checkErr(t, err, serde.ErrDecode)
	})
	t.Run("tagged non-carriers", func(t *testing.T) {
		for _, field := range []string{"int64 secret = 1", "bool secret = 1", "double secret = 1", "E secret = 1", "Sub secret = 1", "map<string, Sub> secret = 1"} {
			c := newClient(t)
			schema := `syntax = "proto3"; package t; import "confluent/meta.proto";
			enum E { A = 0; } message Sub { string x = 1; }
			message M { ` + field + ` [(confluent.field_meta).tags = "PII"]; }`
			registerProto(t, c, "pt-value", schema, rule(t, "local-kms", nil))
			_, err := newSerializer(t, c, serde.Options{}).Serialize("pt", protoCustomer(t))
			checkErr(t, err, serde.ErrUnsupportedTaggedType)
			if !strings.Contains(err.Error(), "t.M.secret") {
				t.Fatalf("error %q lacks the path", err)
			}
		}
	})
	t.Run("message not in schema", func(t *testing.T) {
		c := newClient(t)
		registerProto(t, c, "po-value", `syntax = "proto3"; package other; message X { string a = 1; }`, rule(t, "local-kms", nil))
		_, err := newSerializer(t, c, serde.Options{}).Serialize("po", protoCustomer(t))
		checkErr(t, err, serde.ErrEncode)
	})
	t.Run("bad proto text", func(t *testing.T) {
		c := newClient(t)
		registerProto(t, c, "px-value", `syntax = "proto3"; message {`, rule(t, "local-kms", nil))
		_, err := newSerializer(t, c, serde.Options{}).Serialize("px", protoCustomer(t))
		checkErr(t, err, serde.ErrInvalidSchema)
	})
}
