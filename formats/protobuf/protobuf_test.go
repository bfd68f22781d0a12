package protobuf

import (
	"bytes"
	"errors"
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
