package protobuf

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/tagseal/tagseal/internal/leaf"
)

type byTag struct{}

func (byTag) RulesFor(fullName string, inline []string) []int {
	if len(inline) > 0 {
		return []int{0}
	}
	return nil
}

const schema = `syntax = "proto3";
package t;
import "confluent/meta.proto";
import "google/protobuf/timestamp.proto";
import "dep.proto";
message Root {
  string s = 1 [(confluent.field_meta).tags = "PII"];
  bytes b = 2 [(confluent.field_meta).tags = "PII"];
  repeated string rs = 3 [(confluent.field_meta).tags = "PII"];
  map<string, string> m = 4 [(confluent.field_meta).tags = "PII"];
  Child child = 5;
  repeated Child children = 6;
  oneof o { string os = 7 [(confluent.field_meta).tags = "PII"]; int32 oi = 8; }
  google.protobuf.Timestamp ts = 9;
  dep.Remote remote = 10;
  Root next = 11;
  string plain = 12;
}
message Child { string secret = 1 [(confluent.field_meta).tags = "PII"]; int64 n = 2; }
`

const dep = `syntax = "proto3"; package dep; import "confluent/meta.proto";
message Remote { string far = 1 [(confluent.field_meta).tags = "PII"]; }`

func compileTest(t testing.TB) *Plan {
	p, err := Compile(schema, []Reference{{Name: "dep.proto", Schema: dep}}, byTag{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sample(t testing.TB, p *Plan) *dynamicpb.Message {
	md, _ := p.MessageAt([]int{0})
	m := dynamicpb.NewMessage(md)
	f := md.Fields().ByName
	m.Set(f("s"), protoreflect.ValueOfString("alpha"))
	m.Set(f("b"), protoreflect.ValueOfBytes([]byte("bravo")))
	m.Mutable(f("rs")).List().Append(protoreflect.ValueOfString("charlie"))
	m.Mutable(f("m")).Map().Set(protoreflect.ValueOfString("k").MapKey(), protoreflect.ValueOfString("delta"))
	child := m.Mutable(f("child")).Message()
	child.Set(f("child").Message().Fields().ByName("secret"), protoreflect.ValueOfString("echo"))
	kid := dynamicpb.NewMessage(f("child").Message())
	kid.Set(f("child").Message().Fields().ByName("secret"), protoreflect.ValueOfString("foxtrot"))
	m.Mutable(f("children")).List().Append(protoreflect.ValueOfMessage(kid))
	m.Set(f("os"), protoreflect.ValueOfString("golf"))
	remote := m.Mutable(f("remote")).Message()
	remote.Set(f("remote").Message().Fields().ByName("far"), protoreflect.ValueOfString("hotel"))
	next := m.Mutable(f("next")).Message()
	next.Set(f("s"), protoreflect.ValueOfString("india"))
	m.Set(f("plain"), protoreflect.ValueOfString("juliet"))
	return m
}

var upper = leaf.Func(func(_ string, _ bool, _ []int, v, scratch []byte) ([]byte, error) {
	return append(append(append(scratch, '<'), bytes.ToUpper(v)...), '>'), nil
})

func TestRewriteEverywhere(t *testing.T) {
	p := compileTest(t)
	in, err := proto.Marshal(sample(t, p))
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Rewrite([]int{0}, in, nil, upper, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"} {
		if bytes.Contains(out, []byte(s)) || !bytes.Contains(out, bytes.ToUpper([]byte("<"+s+">"))) {
			t.Errorf("%s not rewritten", s)
		}
	}
	if !bytes.Contains(out, []byte("juliet")) {
		t.Error("untagged field changed")
	}
	md, _ := p.MessageAt([]int{0})
	if err := proto.Unmarshal(out, dynamicpb.NewMessage(md)); err != nil {
		t.Fatalf("output does not parse: %v", err)
	}
}

func TestFillAbsent(t *testing.T) {
	p := compileTest(t)
	md, _ := p.MessageAt([]int{1}) // Child: secret unset
	m := dynamicpb.NewMessage(md)
	m.Set(md.Fields().ByName("n"), protoreflect.ValueOfInt64(3))
	in, _ := proto.Marshal(m)
	out, err := p.Rewrite([]int{1}, in, nil, upper, true)
	if err != nil {
		t.Fatal(err)
	}
	got := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(out, got); err != nil {
		t.Fatal(err)
	}
	if s := got.Get(md.Fields().ByName("secret")).String(); s != "<>" {
		t.Fatalf("absent tagged string written as %q, want the transform of \"\"", s)
	}
	// Reads never add fields.
	out, _ = p.Rewrite([]int{1}, in, nil, upper, false)
	if !bytes.Equal(out, in) {
		t.Fatal("read rewrite changed a message without tagged values")
	}
}

func TestIndexes(t *testing.T) {
	p := compileTest(t)
	idx, err := p.IndexesOf("t.Child")
	if err != nil || len(idx) != 1 || idx[0] != 1 {
		t.Fatalf("%v %v", idx, err)
	}
	if _, err := p.IndexesOf("dep.Remote"); !errors.Is(err, ErrEncode) {
		t.Fatalf("imported message must not have indexes in the root file: %v", err)
	}
	if _, err := p.MessageAt([]int{5}); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
}

func FuzzRewrite(f *testing.F) {
	p := compileTest(f)
	good, err := proto.Marshal(sample(f, p))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{0x5a, 0x80})
	identity := leaf.Func(func(_ string, _ bool, _ []int, v, scratch []byte) ([]byte, error) { return append(scratch, v...), nil })
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := p.Rewrite([]int{0}, in, nil, identity, false)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		// Whatever the walk accepts, Decode handles without panicking, and
		// the identity rewrite keeps the message's meaning.
		a, errIn := p.Decode([]int{0}, in, nil)
		b, errOut := p.Decode([]int{0}, out, nil)
		// A panic recovered into an error is still a crash.
		if errors.Is(errIn, errCodecPanic) || errors.Is(errOut, errCodecPanic) {
			t.Fatalf("decoder panicked: %v / %v", errIn, errOut)
		}
		if errIn == nil && (errOut != nil || !proto.Equal(a.(proto.Message), b.(proto.Message))) {
			t.Fatalf("identity rewrite changed the message: %v", errOut)
		}
	})
}

// piiRules selects rule 0 for tags including "PII", inline or by metadata
// (full names tagged PII), like tags.RuleSet with one PII rule.
type piiRules map[string]bool

func (s piiRules) RulesFor(fullName string, inline []string) []int {
	if slices.Contains(inline, "PII") || s[fullName] {
		return []int{0}
	}
	return nil
}

func TestCompileRefusals(t *testing.T) {
	const head = `syntax = "proto3"; package t; import "confluent/meta.proto"; import "google/protobuf/any.proto"; import "google/protobuf/wrappers.proto";
`
	const pii = ` [(confluent.field_meta).tags = "PII"]`
	cases := []struct {
		name, schema string
		meta         piiRules
		path, kw     string
		err          error
	}{
		{"map key by metadata", head + `message M { map<string, string> m = 1; }`, piiRules{"t.M.MEntry.key": true}, "t.M.MEntry.key", "map key", ErrUnplaceableTag},
		{"message option", head + `message M { option (confluent.message_meta).tags = "PII"; string s = 1; }`, nil, "t.M", "(confluent.message_meta).tags", ErrUnplaceableTag},
		{"nested message option", head + `message M { message N { option (confluent.message_meta) = {tags: ["X", "PII"]}; } N n = 1; }`, nil, "t.M.N", "(confluent.message_meta).tags", ErrUnplaceableTag},
		{"enum option", head + `enum E { option (confluent.enum_meta).tags = "PII"; A = 0; }`, nil, "t.E", "(confluent.enum_meta).tags", ErrUnplaceableTag},
		{"enum value option", head + `message M { enum E { A = 0 [(confluent.enum_value_meta).tags = "PII"]; } }`, nil, "t.M.A", "(confluent.enum_value_meta).tags", ErrUnplaceableTag},
		{"file option", head + `option (confluent.file_meta).tags = "PII"; message M { string s = 1; }`, nil, "tagseal-root.proto", "(confluent.file_meta).tags", ErrUnplaceableTag},
		{"any in tagged schema", head + `message M { string s = 1` + pii + `; google.protobuf.Any extra = 2; }`, nil, "t.M.extra", "google.protobuf.Any", ErrUnplaceableTag},
		{"any map value in tagged schema", head + `message M { string s = 1` + pii + `; map<string, google.protobuf.Any> extra = 2; }`, nil, "t.M.ExtraEntry.value", "google.protobuf.Any", ErrUnplaceableTag},
		{"tagged any", head + `message M { google.protobuf.Any extra = 2` + pii + `; }`, nil, "t.M.extra", "google.protobuf.Any", ErrUnsupportedTaggedType},
		{"tagged int64 wrapper", head + `message M { google.protobuf.Int64Value n = 1` + pii + `; }`, nil, "t.M.n", "google.protobuf.Int64Value", ErrUnsupportedTaggedType},
		{"tagged enum", head + `enum E { A = 0; } message M { E e = 1` + pii + `; }`, nil, "t.M.e", "t.E", ErrUnsupportedTaggedType},
		{"tagged map of messages", head + `message S {} message M { map<int32, S> m = 1` + pii + `; }`, nil, "t.M.m", "map<_, t.S>", ErrUnsupportedTaggedType},
		{"tagged int", head + `message M { sint64 n = 1` + pii + `; }`, nil, "t.M.n", "sint64", ErrUnsupportedTaggedType},
		{"map value of wrong type by metadata", head + `message M { map<string, int32> m = 1; }`, piiRules{"t.M.MEntry.value": true}, "t.M.MEntry.value", "int32", ErrUnsupportedTaggedType},
		{"group with tagged field", `syntax = "proto2"; package t; import "confluent/meta.proto";
			message M { optional group G = 1 { optional string s = 2` + pii + `; } }`, nil, "t.M.g", "group", ErrUnplaceableTag},
		{"tagged extension", `syntax = "proto2"; package t; import "confluent/meta.proto";
			message M { extensions 10 to 20; } extend M { optional string x = 10` + pii + `; }`, nil, "t.x", "extension", ErrUnplaceableTag},
		{"extension by metadata", `syntax = "proto2"; package t;
			message M { extensions 10 to 20; message N { extend M { optional string x = 11; } } }`, piiRules{"t.M.N.x": true}, "t.M.N.x", "extension", ErrUnplaceableTag},
		{"extension of a tagged message", `syntax = "proto2"; package t; import "confluent/meta.proto";
			message S { optional string s = 1` + pii + `; } message M { extensions 10 to 20; } extend M { optional S x = 10; }`, nil, "t.x", "extension", ErrUnplaceableTag},
		{"tag in a reference", head + `import "dep.proto"; message M { dep.D d = 1; }`, nil, "dep.D.e", "dep.E", ErrUnsupportedTaggedType},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			refs := []Reference{{Name: "dep.proto", Schema: `syntax = "proto3"; package dep; import "confluent/meta.proto";
				enum E { A = 0; } message D { E e = 1` + pii + `; }`}}
			_, err := Compile(c.schema, refs, c.meta)
			var pe *PlanError
			if !errors.Is(err, c.err) || !errors.As(err, &pe) || pe.Path != c.path || pe.Keyword != c.kw {
				t.Fatalf("err = %v, want %v at %s keyword %q", err, c.err, c.path, c.kw)
			}
		})
	}
	// Inert tags (no rule selects them) and untagged schemas with Any,
	// groups and extensions compile; so do tags on the standard files'
	// unreachable messages (descriptor.proto under a "**" pattern).
	for _, ok := range []string{
		head + `message M { option (confluent.message_meta).tags = "OTHER"; google.protobuf.Any a = 1; map<string, string> m = 2; }`,
		`syntax = "proto2"; package t; message M { optional group G = 1 { optional string s = 2; } extensions 10 to 20; } extend M { optional string x = 10; }`,
	} {
		if _, err := Compile(ok, nil, piiRules{"google.protobuf.FieldDescriptorProto.number": true}); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// Tagged google.protobuf.StringValue / BytesValue fields have their value
// encrypted: singular, repeated, in a oneof and as map values.
func TestWrappersEncryptTheirValue(t *testing.T) {
	const s = `syntax = "proto3"; package t; import "confluent/meta.proto"; import "google/protobuf/wrappers.proto";
message M {
  google.protobuf.StringValue a = 1 [(confluent.field_meta).tags = "PII"];
  repeated google.protobuf.BytesValue b = 2 [(confluent.field_meta).tags = "PII"];
  map<string, google.protobuf.StringValue> c = 3 [(confluent.field_meta).tags = "PII"];
  oneof o { google.protobuf.StringValue d = 4 [(confluent.field_meta).tags = "PII"]; }
  google.protobuf.StringValue plain = 5;
  google.protobuf.StringValue empty = 6 [(confluent.field_meta).tags = "PII"];
}`
	p, err := Compile(s, nil, piiRules{})
	if err != nil || !p.Tagged() {
		t.Fatal(err)
	}
	md, _ := p.MessageAt([]int{0})
	m := dynamicpb.NewMessage(md)
	f := md.Fields().ByName
	wrap := func(fd protoreflect.FieldDescriptor, v protoreflect.Value) protoreflect.Value {
		w := dynamicpb.NewMessage(fd.Message())
		if v.IsValid() {
			w.Set(fd.Message().Fields().ByNumber(1), v)
		}
		return protoreflect.ValueOfMessage(w)
	}
	m.Set(f("a"), wrap(f("a"), protoreflect.ValueOfString("alpha")))
	m.Mutable(f("b")).List().Append(wrap(f("b"), protoreflect.ValueOfBytes([]byte("bravo"))))
	m.Mutable(f("c")).Map().Set(protoreflect.ValueOfString("k").MapKey(), wrap(f("c").MapValue(), protoreflect.ValueOfString("charlie")))
	m.Set(f("d"), wrap(f("d"), protoreflect.ValueOfString("delta")))
	m.Set(f("plain"), wrap(f("plain"), protoreflect.ValueOfString("echo")))
	m.Set(f("empty"), wrap(f("empty"), protoreflect.Value{}))
	in, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Rewrite([]int{0}, in, nil, upper, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"alpha", "bravo", "charlie", "delta"} {
		if bytes.Contains(out, []byte(s)) || !bytes.Contains(out, bytes.ToUpper([]byte("<"+s+">"))) {
			t.Errorf("%s not rewritten", s)
		}
	}
	if !bytes.Contains(out, []byte("echo")) || !bytes.Contains(out, []byte("k")) {
		t.Error("untagged wrapper or map key changed")
	}
	got := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(out, got); err != nil {
		t.Fatal(err)
	}
	if v := got.Get(f("empty")).Message().Get(f("empty").Message().Fields().ByNumber(1)).String(); v != "<>" {
		t.Errorf("empty tagged StringValue written as %q, want the transform of \"\"", v)
	}
}
