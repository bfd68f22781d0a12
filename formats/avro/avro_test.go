package avro

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagseal/tagseal/internal/leaf"
)

// selector tags fields by name suffix, the way metadata tags would.
type selector map[string][]int

func (s selector) RulesFor(fullName string, inline []string) []int {
	if len(inline) > 0 {
		return []int{0}
	}
	for suffix, rules := range s {
		if strings.HasSuffix(fullName, suffix) {
			return rules
		}
	}
	return nil
}

// everything exercises each Avro type, nested and named-type reuse and
// recursion, with tags inside all of them.
const everything = `{"type":"record","name":"Everything","namespace":"t","fields":[
 {"name":"n","type":"null"},
 {"name":"b","type":"boolean"},
 {"name":"i","type":"int"},
 {"name":"l","type":"long"},
 {"name":"f","type":"float"},
 {"name":"d","type":"double"},
 {"name":"s","type":"string","confluent:tags":["PII"]},
 {"name":"by","type":"bytes","confluent:tags":["PII"]},
 {"name":"u","type":{"type":"string","logicalType":"uuid"},"confluent:tags":["PII"]},
 {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
 {"name":"fx","type":{"type":"fixed","name":"F","size":3}},
 {"name":"arr","type":{"type":"array","items":"string"},"confluent:tags":["PII"]},
 {"name":"m","type":{"type":"map","values":"string"},"confluent:tags":["PII"]},
 {"name":"un","type":["null","string","long"],"confluent:tags":["PII"]},
 {"name":"inner","type":{"type":"record","name":"Inner","fields":[
   {"name":"secret","type":"string","confluent:tags":["PII"]},{"name":"plain","type":"string"}]}},
 {"name":"again","type":"Inner"},
 {"name":"list","type":{"type":"array","items":"Inner"}},
 {"name":"tree","type":["null",{"type":"record","name":"Node","fields":[
   {"name":"label","type":"string","confluent:tags":["PII"]},
   {"name":"kids","type":{"type":"array","items":"Node"}}]}]}
]}`

func sample() map[string]any {
	inner := func(s string) map[string]any { return map[string]any{"secret": s, "plain": "p"} }
	return map[string]any{
		"n": nil, "b": true, "i": 1, "l": int64(2), "f": float32(1.5), "d": 2.5,
		"s": "alpha", "by": []byte("bravo"), "u": "charlie", "ts": time.UnixMilli(1700000000000).UTC(),
		"e": "B", "fx": [3]byte{1, 2, 3},
		"arr": []any{"delta", "echo"}, "m": map[string]any{"k": "foxtrot"},
		"un":    map[string]any{"string": "golf"},
		"inner": inner("hotel"), "again": inner("india"), "list": []any{inner("juliet")},
		"tree": map[string]any{"t.Node": map[string]any{"label": "kilo", "kids": []any{
			map[string]any{"label": "lima", "kids": []any{}}}}},
	}
}

var secretsInSample = []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"}

var upper = leaf.Func(func(_ string, _ bool, _ []int, value, scratch []byte) ([]byte, error) {
	scratch = append(scratch, "<"...)
	scratch = append(scratch, bytes.ToUpper(value)...)
	return append(scratch, ">"...), nil
})

func TestRewriteEveryOccurrence(t *testing.T) {
	p, err := Compile(everything, nil, selector{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := p.Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Rewrite(in, nil, upper)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secretsInSample {
		if bytes.Contains(out, []byte(s)) {
			t.Errorf("%q was not rewritten", s)
		}
		if !bytes.Contains(out, []byte("<"+strings.ToUpper(s)+">")) {
			t.Errorf("%q missing from output", s)
		}
	}
	// The rewritten bytes are valid Avro for the same schema.
	v, err := p.Decode(out, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.(map[string]any)["inner"].(map[string]any)["plain"]; got != "p" {
		t.Fatalf("untagged field changed: %v", got)
	}
}

func TestRewriteNoLeavesCopiesInput(t *testing.T) {
	p, err := Compile(`{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}`, nil, selector{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Rewrite([]byte{4, 'a', 'b'}, []byte{9}, upper)
	if err != nil || !bytes.Equal(out, []byte{9, 4, 'a', 'b'}) {
		t.Fatalf("%v %v", out, err)
	}
}

func TestCompileRefusesUncarriableTags(t *testing.T) {
	_, err := Compile(`{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":"int","confluent:tags":["PII"]}]}`, nil, selector{})
	if !errors.Is(err, ErrUnsupportedTaggedType) || !strings.Contains(err.Error(), "n.R.a") {
		t.Fatalf("err = %v", err)
	}
}

func TestCompileWithReferences(t *testing.T) {
	ref := `{"type":"record","name":"Addr","namespace":"x","fields":[{"name":"street","type":"string","confluent:tags":["PII"]}]}`
	p, err := Compile(`{"type":"record","name":"P","namespace":"x","fields":[{"name":"home","type":"x.Addr"},{"name":"work","type":"x.Addr"}]}`, []string{ref}, selector{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.Leaves()); n != 1 {
		t.Fatalf("leaves = %d, want 1 shared by both uses", n)
	}
	in, _ := p.Encode(map[string]any{"home": map[string]any{"street": "aa"}, "work": map[string]any{"street": "bb"}})
	out, err := p.Rewrite(in, nil, upper)
	if err != nil || !bytes.Contains(out, []byte("<AA>")) || !bytes.Contains(out, []byte("<BB>")) {
		t.Fatalf("%q %v", out, err)
	}
}

func TestRewriteBoundsHostileInput(t *testing.T) {
	p, err := Compile(everything, nil, selector{})
	if err != nil {
		t.Fatal(err)
	}
	good, _ := p.Encode(sample())
	// Array of nulls with an absurd count, and a deeply nested tree.
	nulls, _ := Compile(`{"type":"record","name":"N","fields":[{"name":"a","type":{"type":"array","items":"null"}},{"name":"s","type":"string","confluent:tags":["PII"]}]}`, nil, selector{})
	if _, err := nulls.Rewrite([]byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, nil, upper); !errors.Is(err, ErrMalformed) {
		t.Fatalf("huge zero-size block: %v", err)
	}
	deep := slices.Clone(good[:0])
	tree, _ := Compile(`{"type":"record","name":"T","fields":[{"name":"s","type":"string","confluent:tags":["PII"]},{"name":"next","type":["null","T"]}]}`, nil, selector{})
	for i := 0; i < 10000; i++ {
		deep = append(deep, 0, 2) // empty string, union branch 1
	}
	if _, err := tree.Rewrite(deep, nil, upper); !errors.Is(err, ErrMalformed) {
		t.Fatalf("deep nesting: %v", err)
	}
}

// FuzzRewrite checks that Rewrite never panics, and that whenever hamba/avro
// accepts the input, an identity rewrite succeeds and reproduces it.
func FuzzRewrite(f *testing.F) {
	p, err := Compile(everything, nil, selector{})
	if err != nil {
		f.Fatal(err)
	}
	good, err := p.Encode(sample())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	identity := leaf.Func(func(_ string, _ bool, _ []int, value, scratch []byte) ([]byte, error) {
		return append(scratch, value...), nil
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		out, rerr := p.Rewrite(in, nil, identity)
		if rerr == nil {
			if !bytes.Equal(out, in) {
				t.Fatalf("identity rewrite changed the input")
			}
			if _, err := p.Rewrite(in, nil, upper); err != nil {
				t.Fatalf("second rewrite failed: %v", err)
			}
			// What the walk accepts, the decoder handles without panic or
			// unbounded allocation (the walk bounds block counts first). A
			// panic recovered into an error is still a crash.
			if _, err := p.Decode(in, nil, nil); errors.Is(err, errCodecPanic) {
				t.Fatalf("decoder panicked on input the walk accepted: %v", err)
			}
		} else if !errors.Is(rerr, ErrMalformed) && !errors.Is(rerr, ErrUnsupportedTaggedType) {
			t.Fatalf("untyped error: %v", rerr)
		}
	})
}

// ruleOn selects rule 0 for fields whose tags (inline or, by full name,
// metadata) include "PII", like tags.RuleSet with one PII rule.
type ruleOn map[string]bool // metadata: full names tagged PII

func (s ruleOn) RulesFor(fullName string, inline []string) []int {
	if slices.Contains(inline, "PII") || s[fullName] {
		return []int{0}
	}
	return nil
}

func TestCompileRefusesUnplaceableTags(t *testing.T) {
	rec := func(fieldType string) string {
		return `{"type":"record","name":"R","namespace":"n","fields":[{"name":"f","type":` + fieldType + `}]}`
	}
	cases := []struct {
		name, schema, path, keyword string
		err                         error
	}{
		{"string in array", rec(`{"type":"array","items":{"type":"string","confluent:tags":["PII"]}}`), "n.R.f[items]", "confluent:tags on string", ErrUnplaceableTag},
		{"map itself", rec(`{"type":"map","values":"string","confluent:tags":["PII"]}`), "n.R.f", "confluent:tags on map", ErrUnplaceableTag},
		{"bytes in union", rec(`["null",{"type":"bytes","confluent:tags":["PII"]}]`), "n.R.f[branch 1]", "confluent:tags on bytes", ErrUnplaceableTag},
		{"record", `{"type":"record","name":"R","namespace":"n","confluent:tags":["PII"],"fields":[{"name":"f","type":"string"}]}`, "n.R", "confluent:tags on record", ErrUnplaceableTag},
		{"nested record", rec(`{"type":"record","name":"S","confluent:tags":["PII"],"fields":[]}`), "n.S", "confluent:tags on record", ErrUnplaceableTag},
		{"record with an untagged field", rec(`{"type":"record","name":"S","confluent:tags":["PII"],"fields":[{"name":"a","type":"string","confluent:tags":["PII"]},{"name":"b","type":"string"}]}`), "n.S", "confluent:tags on record", ErrUnplaceableTag},
		{"enum", rec(`{"type":"enum","name":"E","symbols":["A"],"confluent:tags":["PII"]}`), "n.E", "confluent:tags on enum", ErrUnplaceableTag},
		{"fixed via reference", rec(`{"type":"array","items":"n.F"}`), "n.F", "confluent:tags on fixed", ErrUnplaceableTag},
		{"top-level string", `{"type":"string","confluent:tags":["PII"]}`, "(top-level schema)", "confluent:tags on string", ErrUnplaceableTag},
		{"tags not an array", `{"type":"record","name":"R","namespace":"n","fields":[{"name":"f","type":"string","confluent:tags":"PII"}]}`, "n.R.f", "confluent:tags", ErrUnplaceableTag},
		{"tags not strings", `{"type":"record","name":"R","namespace":"n","fields":[{"name":"f","type":"string","confluent:tags":[1]}]}`, "n.R.f", "confluent:tags", ErrUnplaceableTag},
		{"tagged int", `{"type":"record","name":"R","namespace":"n","fields":[{"name":"f","type":"int","confluent:tags":["PII"]}]}`, "n.R.f", "int", ErrUnsupportedTaggedType},
		{"tagged record", `{"type":"record","name":"R","namespace":"n","fields":[{"name":"f","type":{"type":"record","name":"S","fields":[]},"confluent:tags":["PII"]}]}`, "n.R.f", "record", ErrUnsupportedTaggedType},
		{"tagged union without carrier", rec(`["null","long"]`), "n.R.f", "union", ErrUnsupportedTaggedType},
		{"tagged array of enum", rec(`{"type":"array","items":{"type":"enum","name":"E","symbols":["A"]}}`), "n.R.f", "enum", ErrUnsupportedTaggedType},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sel := ruleOn{}
			if c.err == ErrUnsupportedTaggedType && !strings.Contains(c.schema, `"confluent:tags"`) {
				sel["n.R.f"] = true // tagged by metadata.tags
			}
			var refs []string
			if strings.Contains(c.name, "reference") {
				refs = []string{`{"type":"fixed","name":"F","namespace":"n","size":2,"confluent:tags":["PII"]}`}
			}
			_, err := Compile(c.schema, refs, sel)
			var pe *PlanError
			if !errors.Is(err, c.err) || !errors.As(err, &pe) || pe.Path != c.path || pe.Keyword != c.keyword {
				t.Fatalf("err = %v (%#v), want %v at %s keyword %q", err, pe, c.err, c.path, c.keyword)
			}
		})
	}
	// Tags no rule selects are inert, wherever they are; tags on types
	// whose values the field's (or every field's) rules already encrypt
	// add nothing and are allowed.
	for _, ok := range []string{
		`{"type":"record","name":"R","confluent:tags":["OTHER"],"fields":[{"name":"f","type":{"type":"array","items":{"type":"string","confluent:tags":["OTHER"]}}}]}`,
		`{"type":"record","name":"R","fields":[{"name":"f","confluent:tags":["PII"],"type":{"type":"array","items":{"type":"string","confluent:tags":["PII"]}}}]}`,
		`{"type":"record","name":"R","confluent:tags":["PII"],"fields":[{"name":"f","type":"string","confluent:tags":["PII"]}]}`,
	} {
		if _, err := Compile(ok, nil, ruleOn{}); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// A tag on a record that is reused and recursive is honoured at every
// occurrence: the record is compiled once and shared.
func TestTaggedRecordEveryOccurrence(t *testing.T) {
	p, err := Compile(`{"type":"record","name":"T","namespace":"n","fields":[
	 {"name":"a","type":{"type":"record","name":"A","fields":[{"name":"s","type":"string"},{"name":"next","type":["null","A"]}]}},
	 {"name":"m","type":{"type":"map","values":{"type":"array","items":"A"}}}]}`, nil, ruleOn{"n.A.s": true})
	if err != nil || !p.Tagged() {
		t.Fatalf("%v tagged=%v", err, p != nil && p.Tagged())
	}
	a := func(s string, next any) map[string]any { return map[string]any{"s": s, "next": next} }
	in, err := p.Encode(map[string]any{
		"a": a("one", map[string]any{"n.A": a("two", nil)}),
		"m": map[string]any{"k": []any{a("three", map[string]any{"n.A": a("four", nil)})}},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Rewrite(in, nil, upper)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"one", "two", "three", "four"} {
		if bytes.Contains(out, []byte(s)) || !bytes.Contains(out, []byte("<"+strings.ToUpper(s)+">")) {
			t.Errorf("%s not rewritten", s)
		}
	}
	if p, _ := Compile(`{"type":"record","name":"U","fields":[{"name":"s","type":"string"}]}`, nil, ruleOn{}); p.Tagged() {
		t.Fatal("untagged plan reports Tagged")
	}
}

// Two schemas with a record of the same full name, recursive under a map:
// with one codec configuration for every schema, hamba/avro reused the
// first schema's encoder for the second's nested records, writing their
// fields in the first schema's order — the rewriter then encrypted a
// public value and copied the tagged one in clear. Found by the generated
// leak test (serde.TestAvroLeakGenerated).
func TestSameRecordNameInTwoSchemas(t *testing.T) {
	a, err := Compile(`{"name":"lk.R","type":"record","fields":[{"name":"s0","type":"string"},{"name":"s1","type":"string"},
	 {"name":"next","type":{"type":"map","values":"lk.R"}}]}`, nil, selector{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Encode(map[string]any{"s0": "x", "s1": "y", "next": map[string]any{"k": map[string]any{"s0": "x", "s1": "y", "next": map[string]any{}}}}); err != nil {
		t.Fatal(err)
	}
	b, err := Compile(`{"name":"lk.R","type":"record","fields":[{"name":"s1","type":"string"},{"name":"s0","type":"string","confluent:tags":["PII"]},
	 {"name":"next","type":{"type":"map","values":"lk.R"}}]}`, nil, selector{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := b.Encode(map[string]any{"s1": "pub", "s0": "secret", "next": map[string]any{"k": map[string]any{"s1": "pub2", "s0": "secret2", "next": map[string]any{}}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := b.Rewrite(in, nil, upper)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("secret")) || !bytes.Contains(out, []byte("pub2")) {
		t.Fatalf("nested record encoded with another schema's encoder: %q", out)
	}
}
