// Package jsonschema compiles a registered JSON Schema (drafts 4, 6, 7,
// 2019-09, 2020-12, with references) and rewrites the tagged string values
// of an encoded JSON document in one pass. Everything that is not a tagged
// value — key order, whitespace, numbers — is copied byte for byte.
//
// Which values are tagged follows Confluent's JSON Schema rule walk: a
// property's tags (inline "confluent:tags" or metadata.tags on its path
// "$.a.b") apply to the string values under it, through arrays, $ref,
// allOf, and the anyOf/oneOf branches the value validates against.
package jsonschema

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/tagseal/tagseal/internal/fmterr"
)

var (
	// ErrUnsupportedTaggedType: a tagged property holds (or declares) a
	// number, integer, boolean, enum or object, which cannot carry ciphertext.
	ErrUnsupportedTaggedType = fmterr.ErrUnsupportedTaggedType
	// ErrMalformed: the payload is not well-formed JSON.
	ErrMalformed = fmterr.ErrMalformed
	// ErrSchema: the schema or a reference does not compile.
	ErrSchema = fmterr.ErrSchema
	// ErrEncode: the value cannot be marshalled or fails validation.
	ErrEncode = fmterr.ErrEncode
	// ErrDecode: the plaintext JSON cannot be unmarshalled into the target.
	ErrDecode = fmterr.ErrDecode
	// ErrValidation: the document does not validate against the schema.
	ErrValidation = fmterr.ErrValidation
)

// baseURL is where Confluent's serde places the root schema; references
// resolve relative to it, by their registered name.
const baseURL = "mem://input/"

// RuleSelector tells which rules apply to a property with the given full
// name ("$.a.b") and inline tags.
type RuleSelector interface {
	RulesFor(fullName string, inlineTags []string) []int
}

// Reference is a schema the root schema refers to by name.
type Reference struct {
	Name   string
	Schema string
}

// Leaf is a tagged property whose string values are rewritten.
type Leaf struct {
	// Path is the property's full name, "$" followed by ".name" per level.
	Path  string
	Rules []int
}

// Plan is a compiled JSON Schema. It is safe for concurrent use.
type Plan struct {
	root   *jsonschema.Schema
	sel    RuleSelector
	title  string
	tagged bool
	props  sync.Map // objectKey → map[string]*Leaf, one per object position
}

// objectKey is an object schema at a property path; the same schema can
// sit at several paths (through $ref) and tag differently at each.
type objectKey struct {
	path   string
	schema *jsonschema.Schema
}

// Compile compiles schema with its references. Properties whose declared
// type cannot carry ciphertext and that a rule tags are refused here.
func Compile(schema string, refs []Reference, sel RuleSelector) (*Plan, error) {
	deps := make(map[string]string, len(refs))
	for _, r := range refs {
		deps[r.Name] = r.Schema
	}
	c := jsonschema.NewCompiler()
	c.RegisterExtension("confluent:tags", tagsMeta, tagsCompiler{})
	c.LoadURL = func(url string) (io.ReadCloser, error) {
		name := strings.TrimPrefix(url, baseURL)
		text, ok := deps[name]
		if !ok {
			return nil, fmt.Errorf("no reference named %q", name)
		}
		return io.NopCloser(strings.NewReader(text)), nil
	}
	if err := c.AddResource(baseURL, strings.NewReader(schema)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSchema, err)
	}
	root, err := c.Compile(baseURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSchema, err)
	}
	p := &Plan{root: root, sel: sel, title: root.Title}
	if err := p.check(root, "$", map[*jsonschema.Schema]bool{}); err != nil {
		return nil, err
	}
	return p, nil
}

// Title returns the schema's title, which record subject strategies use.
func (p *Plan) Title() string { return p.title }

// Tagged reports whether any property anywhere in the schema is tagged.
func (p *Plan) Tagged() bool { return p.tagged }

// properties returns the declared properties of parent at path with their
// full names and rules, built once per (path, schema).
func (p *Plan) properties(path string, parent *jsonschema.Schema) map[string]*Leaf {
	key := objectKey{path, parent}
	if v, ok := p.props.Load(key); ok {
		return v.(map[string]*Leaf)
	}
	m := make(map[string]*Leaf, len(parent.Properties))
	for name, prop := range parent.Properties {
		fullName := path + "." + name
		m[name] = &Leaf{Path: fullName, Rules: p.sel.RulesFor(fullName, inlineTags(prop))}
	}
	v, _ := p.props.LoadOrStore(key, m)
	return v.(map[string]*Leaf)
}

// leaf returns the property info for name under path in parent.
func (p *Plan) leaf(path string, parent *jsonschema.Schema, name string) *Leaf {
	return p.properties(path, parent)[name]
}

// check walks the schema graph once, recording whether anything is tagged
// and refusing tags on properties that can only hold non-strings.
func (p *Plan) check(s *jsonschema.Schema, path string, seen map[*jsonschema.Schema]bool) error {
	if s == nil || seen[s] {
		return nil
	}
	seen[s] = true
	defer delete(seen, s)
	for name, prop := range s.Properties {
		l := p.leaf(path, s, name)
		if len(l.Rules) > 0 {
			p.tagged = true
			if typ, ok := nonCarrier(prop); ok {
				return fmt.Errorf("%w: property %s is tagged but has type %s", ErrUnsupportedTaggedType, l.Path, typ)
			}
		}
		if err := p.check(prop, l.Path, seen); err != nil {
			return err
		}
	}
	for _, sub := range children(s) {
		if err := p.check(sub, path, seen); err != nil {
			return err
		}
	}
	return nil
}

// children are the subschemas that stay at the same property path.
func children(s *jsonschema.Schema) []*jsonschema.Schema {
	out := append([]*jsonschema.Schema{s.Ref, s.Items2020}, s.AllOf...)
	out = append(out, s.AnyOf...)
	out = append(out, s.OneOf...)
	out = append(out, s.PrefixItems...)
	switch it := s.Items.(type) {
	case *jsonschema.Schema:
		out = append(out, it)
	case []*jsonschema.Schema:
		out = append(out, it...)
	}
	if ap, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
		out = append(out, ap)
	}
	for _, pp := range s.PatternProperties {
		out = append(out, pp)
	}
	return out
}

// nonCarrier reports a declared type that can never hold a string.
func nonCarrier(s *jsonschema.Schema) (string, bool) {
	for s.Ref != nil && len(s.Types) == 0 && len(s.Properties) == 0 {
		s = s.Ref
	}
	if len(s.Enum) > 0 || len(s.Constant) > 0 {
		return "enum", true
	}
	if len(s.Properties) > 0 {
		return "object", true
	}
	if len(s.Types) == 0 || len(s.AllOf)+len(s.AnyOf)+len(s.OneOf) > 0 {
		return "", false
	}
	for _, t := range s.Types {
		switch t {
		case "string", "array", "null":
			return "", false
		case "object":
			if s.AdditionalProperties != nil || len(s.PatternProperties) > 0 {
				return "", false
			}
		}
	}
	return strings.Join(s.Types, "|"), true
}

var tagsMeta = jsonschema.MustCompileString("tags.json", `{
	"properties": {"confluent:tags": {"type": "array", "items": {"type": "string"}}}
}`)

type tagsCompiler struct{}

func (tagsCompiler) Compile(_ jsonschema.CompilerContext, m map[string]any) (jsonschema.ExtSchema, error) {
	v, ok := m["confluent:tags"].([]any)
	if !ok {
		return nil, nil
	}
	tags := make(tagsSchema, 0, len(v))
	for _, t := range v {
		tags = append(tags, fmt.Sprint(t))
	}
	return tags, nil
}

type tagsSchema []string

func (tagsSchema) Validate(jsonschema.ValidationContext, any) error { return nil }

func inlineTags(s *jsonschema.Schema) []string {
	for ; s != nil; s = s.Ref {
		if t, ok := s.Extensions["confluent:tags"].(tagsSchema); ok {
			return t
		}
	}
	return nil
}
