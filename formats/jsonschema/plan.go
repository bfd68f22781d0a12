// Package jsonschema compiles a registered JSON Schema (drafts 4, 6, 7,
// 2019-09, 2020-12, with references) and rewrites the tagged string values
// of an encoded JSON document in one pass. Everything that is not a tagged
// value — key order, whitespace, numbers — is copied byte for byte.
//
// Which values are tagged: every value position of the document has a
// property path ("$" then ".name" per object member; array items keep the
// array's path) and a set of subschemas that apply to it (see rewrite.go).
// A position's rules are those its enclosing position carries, those the
// metadata.tags patterns select for its path (object members), and those
// the inline "confluent:tags" of every applicable subschema select. A
// string with rules is rewritten once, with each rule once; a number,
// boolean or object with declared properties that carries rules is refused.
//
// Tags under keywords the rewriter does not walk are refused when the plan
// is compiled (see check.go), so no tag is silently ignored.
package jsonschema

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/tagseal/tagseal/internal/fmterr"
)

var (
	// ErrUnsupportedTaggedType: a tagged property holds (or declares) a
	// number, integer, boolean, enum or object, which cannot carry ciphertext.
	ErrUnsupportedTaggedType = fmterr.ErrUnsupportedTaggedType
	// ErrUnplaceableTag: a rule-selected tag sits under a keyword the
	// rewriter does not walk (not, propertyNames, unevaluatedProperties,
	// unevaluatedItems, contentSchema) or behind a $dynamicRef or
	// $recursiveRef whose target depends on the dynamic scope.
	ErrUnplaceableTag = fmterr.ErrUnplaceableTag
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

// PlanError is a plan-time refusal: the property path and keyword that
// hold the tag. Its Err is ErrUnsupportedTaggedType or ErrUnplaceableTag.
type PlanError = fmterr.PlanError

// baseURL is where Confluent's serde places the root schema; references
// resolve relative to it, by their registered name.
const baseURL = "mem://input/"

// RuleSelector tells which rules apply to a property with the given full
// name ("$.a.b") and inline tags.
type RuleSelector interface {
	RulesFor(fullName string, inlineTags []string) []int
}

// fieldRuleReporter is implemented by selectors that know whether any
// field rule is active (*tags.RuleSet). Without it a plan assumes one is.
type fieldRuleReporter interface {
	HasFieldRules() bool
}

// Reference is a schema the root schema refers to by name.
type Reference struct {
	Name   string
	Schema string
}

// Plan is a compiled JSON Schema. It is safe for concurrent use.
type Plan struct {
	root   *jsonschema.Schema
	sel    RuleSelector
	title  string
	tagged bool
	rules  ruleCache
	// inlineTags: some schema text (root or reference) holds "confluent:tags".
	inlineTags bool
}

// Compile compiles schema with its references and checks every tag it
// holds: a rule-selected tag on a property whose declared type cannot carry
// ciphertext, or under a keyword the rewriter does not walk, fails here
// with a *PlanError naming the property path and keyword.
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
	p := &Plan{root: root, sel: sel, title: root.Title, inlineTags: strings.Contains(schema, "confluent:tags")}
	for _, r := range refs {
		p.inlineTags = p.inlineTags || strings.Contains(r.Schema, "confluent:tags")
	}
	// Tagged is decided without the walk: metadata.tags patterns match
	// paths only a record has (map keys, undeclared members, depths below
	// recursion), so any active rule means the record may hold a tagged
	// value. Only a selector that reports no active rule makes it false.
	p.tagged = true
	if r, ok := sel.(fieldRuleReporter); ok && !r.HasFieldRules() {
		p.tagged = false
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return p, nil
}

// Title returns the schema's title, which record subject strategies use.
func (p *Plan) Title() string { return p.title }

// Tagged reports whether a record of this schema may hold a value to
// encrypt: false only when the selector reports that no field rule is
// active. It never depends on a walk that could stop early.
func (p *Plan) Tagged() bool { return p.tagged }

// ruleCache memoizes the selector's answers for schema-declared paths. It
// stops growing at maxCached entries (map keys make paths unbounded); past
// that the selector is asked every time.
type ruleCache struct {
	m sync.Map // ruleKey → []int
	n atomic.Int64
}

type ruleKey struct {
	path   string
	schema *jsonschema.Schema // nil: the metadata rules of a member path
}

const maxCached = 1 << 14

// memberRules are the rules metadata.tags (and rules without tags) give an
// object member at path.
func (p *Plan) memberRules(path string) []int {
	return p.cached(ruleKey{path, nil}, nil)
}

// inlineRules are the rules the inline tags of s select at path; nil when
// s has none.
func (p *Plan) inlineRules(path string, s *jsonschema.Schema) []int {
	tags := ownTags(s)
	if len(tags) == 0 {
		return nil
	}
	return p.cached(ruleKey{path, s}, tags)
}

func (p *Plan) cached(k ruleKey, tags []string) []int {
	if v, ok := p.rules.m.Load(k); ok {
		return v.([]int)
	}
	r := p.sel.RulesFor(k.path, tags)
	if p.rules.n.Load() < maxCached {
		if _, loaded := p.rules.m.LoadOrStore(k, r); !loaded {
			p.rules.n.Add(1)
		}
	}
	return r
}

// union returns the sorted union of a and b (both sorted), reusing a or b
// when one contains the other.
func union(a, b []int) []int {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	if subset(b, a) {
		return a
	}
	if subset(a, b) {
		return b
	}
	out := make([]int, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

func subset(a, b []int) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
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

// ownTags returns the "confluent:tags" of s itself.
func ownTags(s *jsonschema.Schema) []string {
	t, _ := s.Extensions["confluent:tags"].(tagsSchema)
	return t
}
