// Package avro compiles a registered Avro schema into a plan of tagged
// string/bytes leaves and rewrites those leaves in encoded Avro bytes in one
// pass, without decoding the record into Go values.
//
// The package knows nothing of keys or rules: it asks a RuleSelector which
// rules apply to each field and calls a LeafFunc for every tagged value it
// meets. It also encodes and decodes user values with hamba/avro.
package avro

import (
	"fmt"
	"slices"

	"github.com/hamba/avro/v2"

	"github.com/tagseal/tagseal/internal/fmterr"
)

var (
	// ErrUnsupportedTaggedType is returned by Compile when a tagged field's
	// type cannot carry ciphertext (only string and bytes can), and by Rewrite
	// when a tagged union holds a value of such a branch.
	ErrUnsupportedTaggedType = fmterr.ErrUnsupportedTaggedType
	// ErrMalformed is returned by Rewrite for bytes that are not valid Avro
	// for the plan's schema (truncated, bad varint, bad union index, …).
	ErrMalformed = fmterr.ErrMalformed
	// ErrSchema is returned by Compile for schema text hamba/avro cannot parse.
	ErrSchema = fmterr.ErrSchema
	// ErrUnplaceableTag is returned by Compile (in a *PlanError) when a
	// rule-selected "confluent:tags" sits somewhere other than on a record
	// field (on a record, enum or fixed, on an array, map or a type inside
	// one), or is not an array of strings: its values could not be found,
	// so the schema is refused rather than written in clear.
	ErrUnplaceableTag = fmterr.ErrUnplaceableTag
)

// PlanError is the plan-time refusal of one place in a schema: Path is the
// field full name or named type (with "[items]", "[values]", "[branch N]"
// for positions inside a field), Keyword the Avro type or the property
// that holds the tag. It wraps ErrUnsupportedTaggedType or
// ErrUnplaceableTag.
type PlanError = fmterr.PlanError

// RuleSelector tells which rules apply to a record field. fullName is the
// record's full name, a dot, and the field name, as Confluent builds it.
type RuleSelector interface {
	RulesFor(fullName string, inlineTags []string) []int
}

// LeafKind says how a tagged value is carried.
type LeafKind uint8

// Leaf kinds.
const (
	String LeafKind = iota + 1
	Bytes
)

// Leaf is a tagged field whose string or bytes values are rewritten.
type Leaf struct {
	// Path is the field's full name (record full name + "." + field name).
	Path string
	Kind LeafKind
	// Rules are the selector's rule positions, in declaration order.
	Rules []int
}

type nodeKind uint8

const (
	kNull nodeKind = iota
	kBoolean
	kVarint // int, long, enum
	kFloat
	kDouble
	kString
	kBytes
	kFixed
	kRecord
	kArray
	kMap
	kUnion
)

type node struct {
	kind     nodeKind
	size     int     // fixed size
	fields   []*node // record fields
	elem     *node   // array items, map values
	branches []*node // union branches
	leaf     *Leaf   // tagged string/bytes
	// refused is set on a non-carrier union branch of a tagged field: a value
	// in that branch cannot be encrypted and must not be written in clear.
	refused string
	minSize int // smallest encoding in bytes, for bounding block counts
}

// Plan is a compiled schema: the hamba schema for encoding and decoding, and
// the tree the rewriter walks. A Plan is immutable and safe for concurrent use.
type Plan struct {
	*codec
	schema avro.Schema
	root   *node
	leaves []*Leaf
	name   string
}

// Compile parses schema (after its references, dependencies first) and
// builds the plan. Every place a tag can sit is either placed on the leaves
// the rewriter visits or refused with a *PlanError: a tagged field of a
// type that cannot carry ciphertext (ErrUnsupportedTaggedType, keyword the
// Avro type), a rule-selected "confluent:tags" anywhere but on a record
// field, or one that is not an array of strings (ErrUnplaceableTag).
func Compile(schema string, references []string, sel RuleSelector) (*Plan, error) {
	cache := &avro.SchemaCache{}
	for _, ref := range references {
		if _, err := avro.ParseWithCache(ref, "", cache); err != nil {
			return nil, fmt.Errorf("%w: reference: %v", ErrSchema, err)
		}
	}
	parsed, err := avro.ParseWithCache(schema, "", cache)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSchema, err)
	}
	c := &compiler{sel: sel, records: map[string]*node{}}
	root, err := c.compile(parsed, nil, "", "", false)
	if err != nil {
		return nil, err
	}
	c.finishSizes()
	p := &Plan{codec: newCodec(), schema: parsed, root: root, leaves: c.leaves}
	if n, ok := parsed.(avro.NamedSchema); ok {
		p.name = n.FullName()
	}
	return p, nil
}

// Schema returns the parsed schema.
func (p *Plan) Schema() avro.Schema { return p.schema }

// Name returns the full name of a named top-level schema, or "".
func (p *Plan) Name() string { return p.name }

// Leaves returns the tagged fields, one entry per (field, position) in the
// schema tree. Empty when nothing is tagged.
func (p *Plan) Leaves() []*Leaf { return p.leaves }

// Tagged reports whether any value of the schema can be rewritten: a
// record, and so every occurrence of it (reuse, recursion), is compiled
// once, so one leaf anywhere makes every record that reaches it tagged.
// A plan that is not tagged has no rule-selected tag anywhere (Compile
// refuses the ones it cannot place).
func (p *Plan) Tagged() bool { return len(p.leaves) > 0 }

type compiler struct {
	sel     RuleSelector
	records map[string]*node
	nodes   []*node
	leaves  []*Leaf
}

func (c *compiler) newNode(kind nodeKind) *node {
	n := &node{kind: kind}
	c.nodes = append(c.nodes, n)
	return n
}

// compile builds the node for s. rules is non-nil inside a tagged field;
// inUnion relaxes refusal for union branches that cannot carry ciphertext.
// path is the field's full name, pos the position of s inside the field
// ("", "[items]", "[branch 1][values]", …), for tags found on s itself.
func (c *compiler) compile(s avro.Schema, rules []int, path, pos string, inUnion bool) (*node, error) {
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	if err := c.typeTags(s, rules, path, pos); err != nil {
		return nil, err
	}
	tagged := len(rules) > 0
	refuse := func(typ avro.Type) (*node, error) {
		return nil, &PlanError{Path: path, Keyword: string(typ), Err: ErrUnsupportedTaggedType,
			Reason: "the field is tagged but its type cannot carry ciphertext"}
	}
	switch s.Type() {
	case avro.String, avro.Bytes:
		kind, lk := kString, String
		if s.Type() == avro.Bytes {
			kind, lk = kBytes, Bytes
		}
		n := c.newNode(kind)
		if tagged {
			n.leaf = &Leaf{Path: path, Kind: lk, Rules: rules}
			c.leaves = append(c.leaves, n.leaf)
		}
		return n, nil
	case avro.Null:
		return c.newNode(kNull), nil
	case avro.Boolean, avro.Int, avro.Long, avro.Float, avro.Double, avro.Enum, avro.Fixed:
		if tagged && !inUnion {
			return refuse(s.Type())
		}
		var n *node
		switch s.Type() {
		case avro.Boolean:
			n = c.newNode(kBoolean)
		case avro.Float:
			n = c.newNode(kFloat)
		case avro.Double:
			n = c.newNode(kDouble)
		case avro.Fixed:
			n = c.newNode(kFixed)
			n.size = s.(*avro.FixedSchema).Size()
		default:
			n = c.newNode(kVarint)
		}
		if tagged {
			n.refused = path
		}
		return n, nil
	case avro.Record:
		if tagged && !inUnion {
			return refuse(s.Type())
		}
		return c.record(s.(*avro.RecordSchema))
	case avro.Array:
		n := c.newNode(kArray)
		elem, err := c.compile(s.(*avro.ArraySchema).Items(), rules, path, pos+"[items]", inUnion)
		n.elem = elem
		return n, err
	case avro.Map:
		n := c.newNode(kMap)
		elem, err := c.compile(s.(*avro.MapSchema).Values(), rules, path, pos+"[values]", inUnion)
		n.elem = elem
		return n, err
	case avro.Union:
		types := s.(*avro.UnionSchema).Types()
		if tagged && !carries(s, map[string]bool{}) {
			return refuse(s.Type())
		}
		n := c.newNode(kUnion)
		for i, t := range types {
			b, err := c.compile(t, rules, path, fmt.Sprintf("%s[branch %d]", pos, i), true)
			if err != nil {
				return nil, err
			}
			n.branches = append(n.branches, b)
		}
		return n, nil
	default:
		return nil, fmt.Errorf("%w: unsupported type %s at %s", ErrSchema, s.Type(), path)
	}
}

// record compiles a record once per full name; later uses, including
// recursive ones, share the node, so every occurrence is rewritten.
func (c *compiler) record(rs *avro.RecordSchema) (*node, error) {
	if n, ok := c.records[rs.FullName()]; ok {
		return n, nil
	}
	n := c.newNode(kRecord)
	c.records[rs.FullName()] = n
	var covered []int // rules that select every field (none without fields)
	for i, f := range rs.Fields() {
		fullName := rs.FullName() + "." + f.Name()
		inline, ok := tagsOf(f.Prop("confluent:tags"))
		if !ok {
			return nil, malformedTags(fullName, "field")
		}
		rules := c.sel.RulesFor(fullName, inline)
		if i == 0 {
			covered = rules
		} else {
			covered = slices.DeleteFunc(slices.Clone(covered), func(r int) bool { return !slices.Contains(rules, r) })
		}
		fn, err := c.compile(f.Type(), rules, fullName, "", false)
		if err != nil {
			return nil, err
		}
		n.fields = append(n.fields, fn)
	}
	if err := c.placeTypeTags(rs.Prop("confluent:tags"), rs.FullName(), "named type", avro.Record, covered); err != nil {
		return nil, err
	}
	return n, nil
}

// carries reports whether a value of s can hold ciphertext somewhere below
// it without crossing into a record's own fields.
func carries(s avro.Schema, seen map[string]bool) bool {
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	switch t := s.(type) {
	case *avro.PrimitiveSchema:
		return t.Type() == avro.String || t.Type() == avro.Bytes
	case *avro.ArraySchema:
		return carries(t.Items(), seen)
	case *avro.MapSchema:
		return carries(t.Values(), seen)
	case *avro.UnionSchema:
		for _, b := range t.Types() {
			if carries(b, seen) {
				return true
			}
		}
	}
	return false
}

// tagsOf reads a "confluent:tags" property: absent (nil), or an array of
// strings. ok is false for anything else, which Compile refuses rather
// than read as "no tags".
func tagsOf(prop any) (tags []string, ok bool) {
	if prop == nil {
		return nil, true
	}
	v, ok := prop.([]any)
	if !ok {
		return nil, false
	}
	tags = make([]string, 0, len(v))
	for _, t := range v {
		s, ok := t.(string)
		if !ok {
			return nil, false
		}
		tags = append(tags, s)
	}
	return tags, true
}

func malformedTags(path, where string) error {
	return &PlanError{Path: path, Keyword: "confluent:tags", Err: ErrUnplaceableTag,
		Reason: "the " + where + " property is not an array of strings"}
}

// typeTags checks "confluent:tags" on a type rather than on a field (on a
// record, enum or fixed, or on an array, map or primitive written as an
// object). Confluent reads tags from record fields only, so such a tag
// encrypts nothing by itself. tagseal refuses it when it selects a rule
// that does not already cover the values it sits on: for a type inside a
// field, a rule the field's own tags and metadata.tags do not select
// (rules, nil at the top level); for a record (checked in record), a rule
// that does not select every field of the record. Tags no rule selects
// are inert and allowed.
func (c *compiler) typeTags(s avro.Schema, rules []int, path, pos string) error {
	ps, ok := s.(avro.PropertySchema)
	if !ok || s.Type() == avro.Record {
		return nil
	}
	at, where := path+pos, "type"
	if n, ok := s.(avro.NamedSchema); ok {
		at, where = n.FullName(), "named type"
	}
	if at == "" {
		at = "(top-level schema)"
	}
	return c.placeTypeTags(ps.Prop("confluent:tags"), at, where, s.Type(), rules)
}

func (c *compiler) placeTypeTags(prop any, at, where string, typ avro.Type, covered []int) error {
	tags, ok := tagsOf(prop)
	if !ok {
		return malformedTags(at, where)
	}
	if len(tags) == 0 {
		return nil
	}
	for _, r := range c.sel.RulesFor(at, tags) {
		if !slices.Contains(covered, r) {
			return &PlanError{Path: at, Keyword: "confluent:tags on " + string(typ), Err: ErrUnplaceableTag,
				Reason: "tags are read from record fields only; put them on the field"}
		}
	}
	return nil
}

// finishSizes computes each node's minimal encoded size by fixed-point
// iteration, which terminates because sizes only grow and are bounded by
// the schema's acyclic part.
func (c *compiler) finishSizes() {
	for changed := true; changed; {
		changed = false
		for _, n := range c.nodes {
			m := n.computeMin()
			if m != n.minSize {
				n.minSize, changed = m, true
			}
		}
	}
}

func (n *node) computeMin() int {
	switch n.kind {
	case kNull:
		return 0
	case kFloat:
		return 4
	case kDouble:
		return 8
	case kFixed:
		return n.size
	case kRecord:
		sum := 0
		for _, f := range n.fields {
			sum += f.minSize
			if sum > 1<<20 {
				return 1 << 20
			}
		}
		return sum
	default:
		return 1
	}
}
