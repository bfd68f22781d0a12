package jsonschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
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
	if err := w.value([]*jsonschema.Schema{p.root}, "$", nil, false, 0); err != nil {
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
	// members[d] holds the member schemas of the object being walked at
	// depth d, reused member after member: a member's walk only writes
	// deeper slots.
	members [][]*jsonschema.Schema
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
// "string", "boolean", "null" or "number".
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
		return "number", nil
	default:
		return "", w.errorf("unexpected character %q", c)
	}
}

// value walks the JSON value at pos. direct are the subschemas that apply
// to it before following references and applicators; rules are those it
// inherits from the enclosing position (a tagged map or array); member
// says it is an object member, whose path metadata.tags patterns match.
// Every position is walked, described by a schema or not: a pattern can
// match any member path.
func (w *rewriter) value(direct []*jsonschema.Schema, path string, rules []int, member bool, depth int) error {
	if depth > maxDepth {
		return w.errorf("nesting deeper than %d", maxDepth)
	}
	kind, err := w.kind()
	if err != nil {
		return err
	}
	set, err := w.applicable(direct, kind, depth)
	if err != nil {
		return err
	}
	if member {
		rules = union(rules, w.plan.memberRules(path))
	}
	for _, s := range set {
		rules = union(rules, w.plan.inlineRules(path, s))
	}
	tagged := len(rules) > 0
	switch kind {
	case "object":
		if tagged {
			for _, s := range set {
				if len(s.Properties) > 0 {
					return fmt.Errorf("%w: property %s is tagged but holds an object", ErrUnsupportedTaggedType, path)
				}
			}
		}
		return w.object(set, path, rules, depth)
	case "array":
		return w.array(set, path, rules, depth)
	case "string":
		if !tagged {
			return w.skipString()
		}
		for _, s := range set {
			if len(s.Enum) > 0 || len(s.Constant) > 0 {
				return fmt.Errorf("%w: property %s is tagged but holds an enum value", ErrUnsupportedTaggedType, path)
			}
		}
		return w.leaf(path, rules)
	case "null":
		return w.literal("null")
	default:
		if tagged {
			return fmt.Errorf("%w: property %s is tagged but holds a %s", ErrUnsupportedTaggedType, path, kind)
		}
		if kind == "boolean" {
			if w.in[w.pos] == 't' {
				return w.literal("true")
			}
			return w.literal("false")
		}
		return w.number()
	}
}

// applicable returns the direct subschemas and every subschema that applies
// to the same value through $ref, $dynamicRef, $recursiveRef, allOf, the
// anyOf and oneOf branches the value validates against (all of them when
// none does: an invalid value is not a reason to skip a tag), if with then
// or else, and the dependentSchemas / dependencies of present members.
// Each subschema appears once, so its tags apply once.
func (w *rewriter) applicable(direct []*jsonschema.Schema, kind string, depth int) ([]*jsonschema.Schema, error) {
	// Common case: nothing to follow. direct holds no nil and no duplicate
	// (its builders dedupe), so it is the set as it is.
	if allPlain(direct) {
		return direct, nil
	}
	set := make([]*jsonschema.Schema, 0, len(direct)+2)
	var inst any
	decoded := false
	instance := func() (any, error) {
		if !decoded {
			v, err := w.instance(depth)
			if err != nil {
				return nil, err
			}
			inst, decoded = v, true
		}
		return inst, nil
	}
	var add func(s *jsonschema.Schema) error
	branches := func(subs []*jsonschema.Schema) error {
		v, err := instance()
		if err != nil {
			return err
		}
		matched := false
		for _, b := range subs {
			if b.Validate(v) == nil {
				matched = true
				if err := add(b); err != nil {
					return err
				}
			}
		}
		if !matched {
			for _, b := range subs {
				if err := add(b); err != nil {
					return err
				}
			}
		}
		return nil
	}
	add = func(s *jsonschema.Schema) error {
		if s == nil || slices.Contains(set, s) {
			return nil
		}
		set = append(set, s)
		for _, x := range [...]*jsonschema.Schema{s.Ref, s.DynamicRef, s.RecursiveRef} {
			if err := add(x); err != nil {
				return err
			}
		}
		for _, x := range s.AllOf {
			if err := add(x); err != nil {
				return err
			}
		}
		if len(s.AnyOf) > 0 {
			if err := branches(s.AnyOf); err != nil {
				return err
			}
		}
		if len(s.OneOf) > 0 {
			if err := branches(s.OneOf); err != nil {
				return err
			}
		}
		if s.If != nil {
			v, err := instance()
			if err != nil {
				return err
			}
			if s.If.Validate(v) == nil {
				if err := add(s.If); err != nil {
					return err
				}
				if err := add(s.Then); err != nil {
					return err
				}
			} else if err := add(s.Else); err != nil {
				return err
			}
		}
		if kind == "object" && len(s.DependentSchemas)+len(s.Dependencies) > 0 {
			v, err := instance()
			if err != nil {
				return err
			}
			m, _ := v.(map[string]any)
			for _, k := range sortedKeys(s.DependentSchemas) {
				if _, ok := m[k]; ok {
					if err := add(s.DependentSchemas[k]); err != nil {
						return err
					}
				}
			}
			for _, k := range sortedKeys(s.Dependencies) {
				if d, ok := s.Dependencies[k].(*jsonschema.Schema); ok {
					if _, present := m[k]; present {
						if err := add(d); err != nil {
							return err
						}
					}
				}
			}
		}
		return nil
	}
	for _, s := range direct {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// allPlain reports that no schema of set applies another to the same value.
func allPlain(set []*jsonschema.Schema) bool {
	for _, s := range set {
		if s == nil || s.Ref != nil || s.DynamicRef != nil || s.RecursiveRef != nil ||
			len(s.AllOf)+len(s.AnyOf)+len(s.OneOf) > 0 || s.If != nil ||
			len(s.DependentSchemas)+len(s.Dependencies) > 0 {
			return false
		}
	}
	return true
}

// instance decodes the value at pos for validation, without moving.
func (w *rewriter) instance(depth int) (any, error) {
	t := rewriter{in: w.in, pos: w.pos}
	if err := t.skip(depth); err != nil {
		return nil, err
	}
	v, err := decodeInstance(w.in[w.pos:t.pos])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return v, nil
}

func (w *rewriter) object(set []*jsonschema.Schema, path string, rules []int, depth int) error {
	w.pos++ // '{'
	w.ws()
	if w.pos < len(w.in) && w.in[w.pos] == '}' {
		w.pos++
		return nil
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
		for len(w.members) <= depth {
			w.members = append(w.members, nil)
		}
		w.members[depth] = memberSchemas(w.members[depth][:0], set, string(name))
		if err := w.value(w.members[depth], path+"."+string(name), rules, true, depth+1); err != nil {
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

// memberSchemas appends to out the subschemas each applicable schema gives
// a member: its declared property, every patternProperties schema whose
// pattern matches, and additionalProperties when neither does.
func memberSchemas(out, set []*jsonschema.Schema, name string) []*jsonschema.Schema {
	for _, s := range set {
		prop, declared := s.Properties[name]
		if declared {
			out = appendNew(out, prop)
		}
		matched := false
		for re, pp := range s.PatternProperties {
			if re.MatchString(name) {
				out = appendNew(out, pp)
				matched = true
			}
		}
		if ap, ok := s.AdditionalProperties.(*jsonschema.Schema); ok && !declared && !matched {
			out = appendNew(out, ap)
		}
	}
	return out
}

func appendNew(out []*jsonschema.Schema, s *jsonschema.Schema) []*jsonschema.Schema {
	if s == nil || slices.Contains(out, s) {
		return out
	}
	return append(out, s)
}

func (w *rewriter) array(set []*jsonschema.Schema, path string, rules []int, depth int) error {
	w.pos++ // '['
	w.ws()
	if w.pos < len(w.in) && w.in[w.pos] == ']' {
		w.pos++
		return nil
	}
	for i := 0; ; i++ {
		w.ws()
		var items []*jsonschema.Schema
		for _, s := range set {
			items = appendNew(items, itemSchema(s, i))
			if s.Contains != nil {
				v, err := w.instance(depth + 1)
				if err != nil {
					return err
				}
				if s.Contains.Validate(v) == nil {
					items = appendNew(items, s.Contains)
				}
			}
		}
		if err := w.value(items, path, rules, false, depth+1); err != nil {
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

// itemSchema is the subschema prefixItems, items (one schema or a draft-4
// to 2019-09 tuple) or additionalItems give item i.
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

// leaf rewrites the string at pos with rules.
func (w *rewriter) leaf(path string, rules []int) error {
	start := w.pos
	if err := w.skipString(); err != nil {
		return err
	}
	value, err := unquote(w.in[start:w.pos])
	if err != nil {
		return w.errorf("bad string")
	}
	res, err := w.fn.Transform(path, true, rules, value, w.scratch[:0])
	if err != nil {
		return err
	}
	w.out = append(w.out, w.in[w.last:start]...)
	w.out = appendQuoted(w.out, res)
	w.scratch = res[:0]
	w.last = w.pos
	return nil
}

// skip moves past one JSON value, checking its syntax only.
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
	case c == '{', c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		w.pos++
		w.ws()
		if w.pos < len(w.in) && w.in[w.pos] == closer {
			w.pos++
			return nil
		}
		for {
			w.ws()
			if c == '{' {
				if err := w.skipString(); err != nil {
					return err
				}
				w.ws()
				if w.pos >= len(w.in) || w.in[w.pos] != ':' {
					return w.errorf("expected ':'")
				}
				w.pos++
				w.ws()
			}
			if err := w.skip(depth + 1); err != nil {
				return err
			}
			w.ws()
			if w.pos >= len(w.in) {
				return w.errorf("unterminated container")
			}
			switch w.in[w.pos] {
			case ',':
				w.pos++
			case closer:
				w.pos++
				return nil
			default:
				return w.errorf("expected ',' or %q", closer)
			}
		}
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
