package jsonschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/tagseal/tagseal/internal/leaf"
)

// Transformer receives each tagged string value, unescaped; its result is
// written back as a JSON string. See leaf.Transformer.
type Transformer = leaf.Transformer

const maxDepth = 512

// Rewrite copies the JSON document in to out, replacing each tagged string
// value with fn's result. The document must be one JSON value, optionally
// surrounded by whitespace.
func (p *Plan) Rewrite(in, out []byte, fn Transformer) ([]byte, error) {
	w := &rewriter{plan: p, in: in, out: out, fn: fn}
	w.ws()
	if err := w.value(p.root, "$", nil, nil, 0); err != nil {
		return nil, err
	}
	w.ws()
	if w.pos != len(in) {
		return nil, w.errorf("trailing data")
	}
	w.out = append(w.out, in[w.last:]...)
	return w.out, nil
}

type rewriter struct {
	plan    *Plan
	in      []byte
	pos     int
	last    int
	out     []byte
	scratch []byte
	fn      Transformer
}

func (w *rewriter) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format+" at offset %d", append([]any{ErrMalformed}, append(args, w.pos)...)...)
}

func (w *rewriter) ws() {
	for w.pos < len(w.in) {
		switch w.in[w.pos] {
		case ' ', '\t', '\n', '\r':
			w.pos++
		default:
			return
		}
	}
}

// kind returns the JSON type of the value at pos: "object", "array",
// "string", "boolean", "null", "integer" or "number".
func (w *rewriter) kind() (string, error) {
	if w.pos >= len(w.in) {
		return "", w.errorf("unexpected end")
	}
	switch c := w.in[w.pos]; {
	case c == '{':
		return "object", nil
	case c == '[':
		return "array", nil
	case c == '"':
		return "string", nil
	case c == 't' || c == 'f':
		return "boolean", nil
	case c == 'n':
		return "null", nil
	case c == '-' || c >= '0' && c <= '9':
		for end := w.pos; end < len(w.in) && numberChar[w.in[end]]; end++ {
			if c := w.in[end]; c == '.' || c == 'e' || c == 'E' {
				return "number", nil
			}
		}
		return "integer", nil
	default:
		return "", w.errorf("unexpected character %q", c)
	}
}

// field is the tagged property a value belongs to, if any.
type field = Leaf

// value walks one JSON value at pos against schema s.
func (w *rewriter) value(s *jsonschema.Schema, path string, f *field, types []string, depth int) error {
	if depth > maxDepth {
		return w.errorf("nesting deeper than %d", maxDepth)
	}
	if s == nil {
		return w.skip(depth)
	}
	kind, err := w.kind()
	if err != nil {
		return err
	}
	if types == nil {
		types = s.Types
	}
	if len(types) > 1 {
		types = matchType(types, kind)
	}
	if len(s.AllOf)+len(s.AnyOf)+len(s.OneOf) > 0 {
		return w.combinators(s, path, f, types, depth)
	}
	if hasItems(s) {
		return w.array(s, path, f, depth)
	}
	if s.Ref != nil {
		return w.value(s.Ref, path, f, nil, depth+1)
	}
	if kind == "object" && (len(s.Properties) > 0 || s.AdditionalProperties != nil || len(s.PatternProperties) > 0) {
		if f != nil && len(f.Rules) > 0 && len(s.Properties) > 0 {
			return fmt.Errorf("%w: property %s is tagged but holds an object", ErrUnsupportedTaggedType, f.Path)
		}
		return w.object(s, path, f, depth)
	}
	if f == nil || len(f.Rules) == 0 || kind == "null" {
		return w.skip(depth)
	}
	if kind != "string" || len(s.Enum) > 0 || len(s.Constant) > 0 {
		if kind == "array" || kind == "object" {
			return w.skip(depth) // untyped container: nothing declared to encrypt
		}
		return fmt.Errorf("%w: property %s is tagged but holds a %s", ErrUnsupportedTaggedType, f.Path, kindName(kind, s))
	}
	return w.leaf(f)
}

func kindName(kind string, s *jsonschema.Schema) string {
	if len(s.Enum) > 0 || len(s.Constant) > 0 {
		return "enum value"
	}
	return kind
}

func matchType(types []string, kind string) []string {
	for _, t := range types {
		if t == kind || t == "number" && kind == "integer" {
			return []string{t}
		}
	}
	return types
}

func hasItems(s *jsonschema.Schema) bool {
	return s.Items2020 != nil || s.Items != nil || len(s.PrefixItems) > 0
}

// combinators applies allOf (each), oneOf (first branch the value validates
// against) and anyOf (every such branch) to the value in sequence, then the
// schema's own properties and items, as Confluent's transform does.
func (w *rewriter) combinators(s *jsonschema.Schema, path string, f *field, types []string, depth int) error {
	start := w.pos
	if err := w.skip(depth); err != nil {
		return err
	}
	cur := w.in[start:w.pos]
	apply := func(sub *jsonschema.Schema, subTypes []string) error {
		sw := &rewriter{plan: w.plan, in: cur, fn: w.fn}
		if err := sw.value(sub, path, f, subTypes, depth+1); err != nil {
			return err
		}
		cur = append(sw.out, cur[sw.last:]...)
		return nil
	}
	switch {
	case len(s.AllOf) > 0:
		for _, sub := range s.AllOf {
			if err := apply(sub, nil); err != nil {
				return err
			}
		}
	case len(s.OneOf) > 0:
		for _, sub := range s.OneOf {
			if validates(sub, cur) {
				if err := apply(sub, nil); err != nil {
					return err
				}
				break
			}
		}
	default:
		for _, sub := range s.AnyOf {
			if validates(sub, cur) {
				if err := apply(sub, nil); err != nil {
					return err
				}
			}
		}
	}
	if len(s.Properties) > 0 || hasItems(s) {
		own := *s
		own.AllOf, own.AnyOf, own.OneOf, own.Ref = nil, nil, nil, nil
		if err := apply(&own, types); err != nil {
			return err
		}
	}
	w.out = append(w.out, w.in[w.last:start]...)
	w.out = append(w.out, cur...)
	w.last = w.pos
	return nil
}

func validates(s *jsonschema.Schema, doc []byte) bool {
	v, err := decodeInstance(doc)
	return err == nil && s.Validate(v) == nil
}

func (w *rewriter) object(s *jsonschema.Schema, path string, f *field, depth int) error {
	w.pos++ // '{'
	w.ws()
	if w.pos < len(w.in) && w.in[w.pos] == '}' {
		w.pos++
		return nil
	}
	var props map[string]*Leaf
	if len(s.Properties) > 0 {
		props = w.plan.properties(path, s)
	}
	for {
		w.ws()
		keyStart := w.pos
		if err := w.skipString(); err != nil {
			return err
		}
		name, err := unquote(w.in[keyStart:w.pos])
		if err != nil {
			return w.errorf("bad key")
		}
		w.ws()
		if w.pos >= len(w.in) || w.in[w.pos] != ':' {
			return w.errorf("expected ':'")
		}
		w.pos++
		w.ws()
		sub, subField, subPath := w.propSchema(s, props, path, f, name)
		if err := w.value(sub, subPath, subField, nil, depth+1); err != nil {
			return err
		}
		w.ws()
		if w.pos >= len(w.in) {
			return w.errorf("unterminated object")
		}
		switch w.in[w.pos] {
		case ',':
			w.pos++
		case '}':
			w.pos++
			return nil
		default:
			return w.errorf("expected ',' or '}'")
		}
	}
}

// propSchema finds the schema for a property and the field context it
// opens: declared properties get their own tags; additional and pattern
// properties of a map inherit the enclosing field's.
func (w *rewriter) propSchema(s *jsonschema.Schema, props map[string]*Leaf, path string, f *field, name []byte) (*jsonschema.Schema, *field, string) {
	if prop, ok := s.Properties[string(name)]; ok {
		l := props[string(name)]
		return prop, l, l.Path
	}
	if len(s.PatternProperties) == 0 && s.AdditionalProperties == nil {
		return nil, nil, ""
	}
	for re, pp := range s.PatternProperties {
		if re.Match(name) {
			return pp, f, path + "." + string(name)
		}
	}
	if ap, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
		return ap, f, path + "." + string(name)
	}
	return nil, nil, ""
}

func (w *rewriter) array(s *jsonschema.Schema, path string, f *field, depth int) error {
	if w.in[w.pos] != '[' {
		return w.skip(depth)
	}
	w.pos++
	w.ws()
	if w.pos < len(w.in) && w.in[w.pos] == ']' {
		w.pos++
		return nil
	}
	for i := 0; ; i++ {
		w.ws()
		if err := w.value(itemSchema(s, i), path, f, nil, depth+1); err != nil {
			return err
		}
		w.ws()
		if w.pos >= len(w.in) {
			return w.errorf("unterminated array")
		}
		switch w.in[w.pos] {
		case ',':
			w.pos++
		case ']':
			w.pos++
			return nil
		default:
			return w.errorf("expected ',' or ']'")
		}
	}
}

func itemSchema(s *jsonschema.Schema, i int) *jsonschema.Schema {
	if i < len(s.PrefixItems) {
		return s.PrefixItems[i]
	}
	if s.Items2020 != nil {
		return s.Items2020
	}
	switch it := s.Items.(type) {
	case *jsonschema.Schema:
		return it
	case []*jsonschema.Schema:
		if i < len(it) {
			return it[i]
		}
		if ai, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
			return ai
		}
	}
	return nil
}

// leaf rewrites the string at pos.
func (w *rewriter) leaf(f *field) error {
	start := w.pos
	if err := w.skipString(); err != nil {
		return err
	}
	value, err := unquote(w.in[start:w.pos])
	if err != nil {
		return w.errorf("bad string")
	}
	res, err := w.fn.Transform(f.Path, true, f.Rules, value, w.scratch[:0])
	if err != nil {
		return err
	}
	w.out = append(w.out, w.in[w.last:start]...)
	w.out = appendQuoted(w.out, res)
	w.scratch = res[:0]
	w.last = w.pos
	return nil
}

// anyObject and anyArray are schemas that tag nothing: skip walks with them.
var (
	anyObject = &jsonschema.Schema{}
	anyArray  = &jsonschema.Schema{Items: &jsonschema.Schema{}}
)

// skip moves past one JSON value, checking its syntax.
func (w *rewriter) skip(depth int) error {
	if depth > maxDepth {
		return w.errorf("nesting deeper than %d", maxDepth)
	}
	if w.pos >= len(w.in) {
		return w.errorf("unexpected end")
	}
	switch c := w.in[w.pos]; {
	case c == '"':
		return w.skipString()
	case c == '{':
		return w.object(anyObject, "", nil, depth)
	case c == '[':
		return w.array(anyArray, "", nil, depth)
	case c == 't':
		return w.literal("true")
	case c == 'f':
		return w.literal("false")
	case c == 'n':
		return w.literal("null")
	default:
		return w.number()
	}
}

func (w *rewriter) literal(lit string) error {
	if !bytes.HasPrefix(w.in[w.pos:], []byte(lit)) {
		return w.errorf("bad literal")
	}
	w.pos += len(lit)
	return nil
}

var numberChar = func() (t [256]bool) {
	for _, c := range []byte("+-0123456789.eE") {
		t[c] = true
	}
	return t
}()

// number moves past a JSON number, checking its grammar:
// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func (w *rewriter) number() error {
	in, i := w.in, w.pos
	digits := func() int {
		n := 0
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(in) && in[i] == '-' {
		i++
	}
	switch {
	case i < len(in) && in[i] == '0':
		i++
	case digits() == 0:
		return w.errorf("bad number")
	}
	if i < len(in) && in[i] == '.' {
		i++
		if digits() == 0 {
			return w.errorf("bad number")
		}
	}
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		i++
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		if digits() == 0 {
			return w.errorf("bad number")
		}
	}
	w.pos = i
	return nil
}

func (w *rewriter) skipString() error {
	if w.pos >= len(w.in) || w.in[w.pos] != '"' {
		return w.errorf("expected string")
	}
	for i := w.pos + 1; i < len(w.in); i++ {
		switch c := w.in[i]; {
		case c == '\\':
			if i+1 >= len(w.in) {
				break
			}
			switch w.in[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+5 >= len(w.in) || !isHex4(w.in[i+2:i+6]) {
					w.pos = i
					return w.errorf("bad \\u escape")
				}
				i += 5
			default:
				w.pos = i
				return w.errorf("bad escape")
			}
		case c == '"':
			w.pos = i + 1
			return nil
		case c < 0x20:
			w.pos = i
			return w.errorf("control character in string")
		}
	}
	return w.errorf("unterminated string")
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// unquote returns the contents of a JSON string literal.
func unquote(lit []byte) ([]byte, error) {
	body := lit[1 : len(lit)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return body, nil
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// appendQuoted appends s as a JSON string, escaping as encoding/json does
// (without HTML escaping); invalid UTF-8 becomes U+FFFD.
func appendQuoted(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
