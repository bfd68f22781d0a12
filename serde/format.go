package serde

import (
	"fmt"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"

	"github.com/tagseal/tagseal/formats/avro"
	"github.com/tagseal/tagseal/tags"
)

// leafFunc transforms one tagged value; see avro.LeafFunc.
type leafFunc func(path string, asString bool, rules []int, value, scratch []byte) ([]byte, error)

// formatPlan is what serde needs from a compiled schema, whatever its format.
type formatPlan interface {
	encode(msg any) ([]byte, error)
	rewrite(in, out []byte, fn leafFunc) ([]byte, error)
	decode(data []byte, reader formatPlan, target any) (any, error)
	tagged() bool
	recordName() string
}

// compileFormat compiles a schema (its references first) for its schema type.
func compileFormat(info *schemaregistry.SchemaInfo, refs []string, sel *tags.RuleSet) (formatPlan, error) {
	switch info.SchemaType {
	case "", "AVRO":
		p, err := avro.Compile(info.Schema, refs, sel)
		if err != nil {
			return nil, err
		}
		return avroPlan{p}, nil
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedFormat, info.SchemaType)
	}
}

type avroPlan struct{ p *avro.Plan }

func (a avroPlan) encode(msg any) ([]byte, error) { return a.p.Encode(msg) }
func (a avroPlan) tagged() bool                   { return len(a.p.Leaves()) > 0 }
func (a avroPlan) recordName() string             { return a.p.Name() }

func (a avroPlan) rewrite(in, out []byte, fn leafFunc) ([]byte, error) {
	return a.p.Rewrite(in, out, func(l *avro.Leaf, value, scratch []byte) ([]byte, error) {
		return fn(l.Path, l.Kind == avro.String, l.Rules, value, scratch)
	})
}

func (a avroPlan) decode(data []byte, reader formatPlan, target any) (any, error) {
	var r *avro.Plan
	if rp, ok := reader.(avroPlan); ok {
		r = rp.p
	}
	return a.p.Decode(data, r, target)
}
