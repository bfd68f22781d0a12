package jsonschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tagseal/tagseal/internal/leaf"
)

type tagAll struct{}

func (tagAll) RulesFor(fullName string, inline []string) []int {
	if len(inline) > 0 {
		return []int{0}
	}
	return nil
}

const everything = `{"type":"object","$defs":{"Node":{"type":"object","properties":{
   "label":{"type":"string","confluent:tags":["PII"]},"kids":{"type":"array","items":{"$ref":"#/$defs/Node"}}}}},
 "properties":{
  "s":{"type":"string","confluent:tags":["PII"]},
  "n":{"type":["string","null"],"confluent:tags":["PII"]},
  "num":{"type":"number"},
  "arr":{"type":"array","items":{"type":"string"},"confluent:tags":["PII"]},
  "tuple":{"type":"array","prefixItems":[{"type":"string"}],"confluent:tags":["PII"]},
  "one":{"confluent:tags":["PII"],"oneOf":[{"type":"integer"},{"type":"string"}]},
  "any":{"confluent:tags":["PII"],"anyOf":[{"type":"string","maxLength":3},{"type":"string"}]},
  "map":{"type":"object","additionalProperties":{"type":"string"},"confluent:tags":["PII"]},
  "tree":{"$ref":"#/$defs/Node"},
  "esc":{"type":"string","confluent:tags":["PII"]}
 }}`

var rev = leaf.Func(func(_ string, _ bool, _ []int, v, scratch []byte) ([]byte, error) {
	scratch = append(scratch, '<')
	scratch = append(scratch, bytes.ToUpper(v)...)
	return append(scratch, '>'), nil
})

func TestRewrite(t *testing.T) {
	p, err := Compile(everything, nil, tagAll{})
	if err != nil {
		t.Fatal(err)
	}
	in := []byte(`{ "num": 1.000, "s":"alpha", "n":null, "arr":["bravo","charlie"], "tuple":["delta"],
	  "one":"echo", "any":"fox", "map":{"k":"golf"}, "tree":{"label":"hotel","kids":[{"label":"india","kids":[]}]},
	  "esc":"a\"b\\c\u00e9\n", "untagged":"juliet" }`)
	out, err := p.Rewrite(in, nil, rev)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	want := map[string]string{"s": "<ALPHA>", "one": "<ECHO>", "esc": "<A\"B\\CÉ\n>", "untagged": "juliet"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	// anyOf applies every matching branch: "fox" matches both, yet each
	// rule transforms a value once (Confluent's walk would transform it
	// twice, and its reader, validating the ciphertext, would undo it once).
	if got["any"] != "<FOX>" {
		t.Errorf("any = %q", got["any"])
	}
	for _, s := range []string{"alpha", "bravo", "charlie", "delta", "echo", "golf", "hotel", "india"} {
		if bytes.Contains(out, []byte(s)) {
			t.Errorf("%s not rewritten", s)
		}
	}
	if !bytes.HasPrefix(out, []byte(`{ "num": 1.000, "s":"<ALPHA>", "n":null,`)) {
		t.Errorf("untouched bytes changed: %s", out)
	}
}

func TestCompileRefusesNonCarriers(t *testing.T) {
	_, err := Compile(`{"properties":{"a":{"type":"boolean","confluent:tags":["X"]}}}`, nil, tagAll{})
	if !errors.Is(err, ErrUnsupportedTaggedType) || !strings.Contains(err.Error(), "$.a") {
		t.Fatalf("err = %v", err)
	}
}

func TestReferences(t *testing.T) {
	p, err := Compile(`{"properties":{"home":{"$ref":"addr.json"}}}`,
		[]Reference{{Name: "addr.json", Schema: `{"properties":{"street":{"type":"string","confluent:tags":["X"]}}}`}}, tagAll{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Rewrite([]byte(`{"home":{"street":"abc"}}`), nil, rev)
	if err != nil || string(out) != `{"home":{"street":"<ABC>"}}` {
		t.Fatalf("%s %v", out, err)
	}
	if _, err := Compile(`{"properties":{"home":{"$ref":"missing.json"}}}`, nil, tagAll{}); !errors.Is(err, ErrSchema) {
		t.Fatalf("missing reference: %v", err)
	}
}

func FuzzRewrite(f *testing.F) {
	p, err := Compile(everything, nil, tagAll{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"s":"alpha","arr":["b"],"tree":{"label":"x","kids":[]},"map":{"k":"v"},"one":"e"}`))
	f.Add([]byte(`{"s":1}`))
	f.Add([]byte(`[[[[[[`))
	identity := leaf.Func(func(_ string, _ bool, _ []int, v, scratch []byte) ([]byte, error) { return append(scratch, v...), nil })
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := p.Rewrite(in, nil, identity)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupportedTaggedType) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if !json.Valid(in) {
			t.Fatalf("accepted invalid JSON %q", in)
		}
		if _, err := decodeInstance(out); err != nil {
			t.Fatalf("identity rewrite broke the document: %v", err)
		}
	})
}

func TestCompileRefusesDynamicScope(t *testing.T) {
	tree := `{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"tree.json","$dynamicAnchor":"node",
	  "type":"object","properties":{"kids":{"type":"array","items":{"$dynamicRef":"#node"}}}}`
	root := `{"$schema":"https://json-schema.org/draft/2020-12/schema","$ref":"tree.json",
	  "$defs":{"n":{"$dynamicAnchor":"node","type":"object","properties":{"label":{"type":"string","confluent:tags":["PII"]}}}}}`
	_, err := Compile(root, []Reference{{Name: "tree.json", Schema: tree}}, tagAll{})
	var pe *PlanError
	if !errors.Is(err, ErrUnplaceableTag) || !errors.As(err, &pe) || pe.Keyword != "$dynamicRef" || pe.Path != "$.kids" {
		t.Fatalf("err = %v", err)
	}
	// Without any inline tag the static target is all there is to walk.
	if _, err := Compile(strings.ReplaceAll(root, `,"confluent:tags":["PII"]`, ""), []Reference{{Name: "tree.json", Schema: tree}}, tagAll{}); err != nil {
		t.Fatal(err)
	}
}

func TestCompilePlanErrors(t *testing.T) {
	for schema, want := range map[string]string{
		`{"properties":{"a":{"type":"boolean","confluent:tags":["X"]}}}`:                             "$.a properties",
		`{"items":{"type":"integer","confluent:tags":["X"]}}`:                                        "$ items",
		`{"properties":{"m":{"patternProperties":{"^x":{"type":"number","confluent:tags":["X"]}}}}}`: "$.m.* patternProperties",
		`{"properties":{"o":{"not":{"type":"string","confluent:tags":["X"]}}}}`:                      "$.o not",
	} {
		_, err := Compile(schema, nil, tagAll{})
		var pe *PlanError
		if !errors.As(err, &pe) || pe.Path+" "+pe.Keyword != want {
			t.Errorf("%s: err = %v, want %s", schema, err, want)
		}
	}
}
