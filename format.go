package tagseal

import (
	"fmt"

	"github.com/tagseal/tagseal/formats/avro"
	"github.com/tagseal/tagseal/formats/jsonschema"
	"github.com/tagseal/tagseal/formats/protobuf"
	"github.com/tagseal/tagseal/internal/leaf"
	"github.com/tagseal/tagseal/registry"
)

// Schema types as the registry names them.
const (
	TypeAvro       = registry.TypeAvro
	TypeJSONSchema = registry.TypeJSON
	TypeProtobuf   = registry.TypeProtobuf
)

// reference is a resolved schema reference: its name and text.
type reference struct{ name, schema string }

// formatPlan is what serde needs from a compiled schema, whatever its format.
// indexes are Protobuf message indexes; other formats ignore them.
type formatPlan interface {
	schemaType() string
	// encode returns the encoded message; when done is not nil, body lives
	// in a pooled buffer and done.Release must be called after its last use.
	encode(msg any) (body []byte, indexes []int, done releaser, err error)
	// rewrite walks the encoded message once; write is true when
	// serializing (Protobuf then fills in unset tagged strings).
	rewrite(indexes []int, in, out []byte, fn leaf.Transformer, write bool) ([]byte, error)
	decode(indexes []int, data []byte, reader formatPlan, target any) (any, error)
	// validate checks plaintext against the schema where the format can
	// (JSON Schema); others return nil.
	validate(indexes []int, body []byte) error
	tagged() bool
	recordName() string
}

// releaser returns a pooled buffer.
type releaser interface{ Release() }

// ruleSelector tells which rules apply to a field; *tags.RuleSet is one.
type ruleSelector interface {
	RulesFor(fullName string, inlineTags []string) []int
}

// compileFormat compiles a schema with its references for its schema type.
func compileFormat(info *registry.Schema, refs []reference, sel ruleSelector) (formatPlan, error) {
	switch info.SchemaType {
	case "", TypeAvro:
		texts := make([]string, len(refs))
		for i, r := range refs {
			texts[i] = r.schema
		}
		p, err := avro.Compile(info.Schema, texts, sel)
		if err != nil {
			return nil, err
		}
		return avroPlan{p}, nil
	case TypeJSONSchema:
		jrefs := make([]jsonschema.Reference, len(refs))
		for i, r := range refs {
			jrefs[i] = jsonschema.Reference{Name: r.name, Schema: r.schema}
		}
		p, err := jsonschema.Compile(info.Schema, jrefs, sel)
		if err != nil {
			return nil, err
		}
		return jsonPlan{p}, nil
	case TypeProtobuf:
		prefs := make([]protobuf.Reference, len(refs))
		for i, r := range refs {
			prefs[i] = protobuf.Reference{Name: r.name, Schema: r.schema}
		}
		p, err := protobuf.Compile(info.Schema, prefs, sel)
		if err != nil {
			return nil, err
		}
		return protoPlan{p}, nil
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedFormat, info.SchemaType)
	}
}

type avroPlan struct{ p *avro.Plan }

func (avroPlan) schemaType() string               { return TypeAvro }
func (a avroPlan) tagged() bool                   { return a.p.Tagged() }
func (a avroPlan) recordName() string             { return a.p.Name() }
func (avroPlan) validate(_ []int, _ []byte) error { return nil }

func (a avroPlan) encode(msg any) ([]byte, []int, releaser, error) {
	e, err := a.p.EncodePooled(msg)
	if err != nil {
		return nil, nil, nil, err
	}
	return e.Bytes(), nil, e, nil
}

func (a avroPlan) rewrite(_ []int, in, out []byte, fn leaf.Transformer, _ bool) ([]byte, error) {
	return a.p.Rewrite(in, out, fn)
}

func (a avroPlan) decode(_ []int, data []byte, reader formatPlan, target any) (any, error) {
	var r *avro.Plan
	if rp, ok := reader.(avroPlan); ok {
		r = rp.p
	}
	return a.p.Decode(data, r, target)
}

type jsonPlan struct{ p *jsonschema.Plan }

func (jsonPlan) schemaType() string                 { return TypeJSONSchema }
func (j jsonPlan) tagged() bool                     { return j.p.Tagged() }
func (j jsonPlan) recordName() string               { return j.p.Title() }
func (j jsonPlan) validate(_ []int, b []byte) error { return j.p.Validate(b) }

func (j jsonPlan) encode(msg any) ([]byte, []int, releaser, error) {
	b, err := j.p.Encode(msg)
	return b, nil, nil, err
}

func (j jsonPlan) rewrite(_ []int, in, out []byte, fn leaf.Transformer, _ bool) ([]byte, error) {
	return j.p.Rewrite(in, out, fn)
}

func (j jsonPlan) decode(_ []int, data []byte, _ formatPlan, target any) (any, error) {
	return j.p.Decode(data, target)
}

type protoPlan struct{ p *protobuf.Plan }

func (protoPlan) schemaType() string               { return TypeProtobuf }
func (r protoPlan) tagged() bool                   { return r.p.Tagged() }
func (r protoPlan) recordName() string             { return r.p.Name() }
func (protoPlan) validate(_ []int, _ []byte) error { return nil }

func (r protoPlan) encode(msg any) ([]byte, []int, releaser, error) {
	b, idx, err := r.p.Encode(msg)
	return b, idx, nil, err
}

func (r protoPlan) rewrite(idx []int, in, out []byte, fn leaf.Transformer, write bool) ([]byte, error) {
	return r.p.Rewrite(idx, in, out, fn, write)
}

func (r protoPlan) decode(idx []int, data []byte, _ formatPlan, target any) (any, error) {
	return r.p.Decode(idx, data, target)
}
