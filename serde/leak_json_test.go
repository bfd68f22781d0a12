package serde_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/tagseal/tagseal/serde"
)

// This file proves the JSON Schema promise on generated schemas: every
// string the reference selector below picks leaves the serializer as
// ciphertext of its plaintext, everything else is unchanged, or Serialize
// refuses with a typed error. The selector is written from the generator's
// own schema model and the JSON Schema semantics README.md states; it
// never calls formats/jsonschema. It uses the santhosh validator only to
// decide which anyOf/oneOf/if/contains branch applies to a value.
//
// Semantics (README, JSON Schema): each value position has a path ("$",
// ".name" per object member, array items keep the array's path) and the set
// of subschemas applying to it: the direct ones (properties, matching
// patternProperties else additionalProperties, prefixItems/items/
// additionalItems, contains when the item validates), closed under $ref,
// allOf, the anyOf/oneOf branches the value validates against (all when
// none does), if+then or else, dependentSchemas of present members. A
// position is tagged when its parent position is, when it is a member whose
// path a metadata.tags pattern matches, or when one of its subschemas has
// an inline tag. A tagged string is encrypted once; a tagged number,
// boolean, enum/const string or object with declared properties is refused.

// jn is one generated subschema.
type jn struct {
	typ      string // string number boolean null object array any
	tags     []string
	cnst     string
	minLen   int
	props    []jprop
	req      []string
	addl     *jn
	noAdd    bool
	pats     []jpat
	prefix   []*jn
	items    *jn // 2020-12 items, draft-07 additionalItems after a tuple
	contains *jn
	allOf    []*jn
	anyOf    []*jn
	oneOf    []*jn
	ifS      *jn
	thenS    *jn
	elseS    *jn
	deps     []jprop // dependentSchemas (2020-12) / dependencies (draft-07)
	ref      int     // 0: none, -1: "#", k>0: defs[k-1]
	refusedK string
	refused  *jn
	ptr      string // JSON pointer of this node in the rendered schema
}

type jprop struct {
	name string
	n    *jn
}

type jpat struct {
	re, prefix string
	n          *jn
}

// Property names are bound to kinds, so metadata patterns select only what
// they are meant to.
var (
	jStringNames = []string{"email", "name", "note", "ssn", "city"}
	jObjectNames = []string{"child", "info"}
	jMetaGood    = []string{"$.email", "**.email", "$.child.email", "$.child.child.email", "$.*.name", "**.ssn",
		"$.attrs.*", "**.pii_*", "$.info.**.email", "$.list"}
)

type jgen struct {
	r       *rand.Rand
	draft7  bool
	defs    []*jn
	meta    []string
	markers int
	// expected plan-time refusals the generator planted
	planUnsupported, planUnplaceable bool
	hasAge                           bool
	inRefused                        bool
}

func (g *jgen) chance(p float64) bool { return g.r.Float64() < p }

func (g *jgen) tags() []string {
	switch x := g.r.IntN(10); {
	case x < 3:
		return []string{"PII"}
	case x < 4:
		return []string{"OTHER"}
	}
	return nil
}

func (g *jgen) str() *jn { return &jn{typ: "string", tags: g.tags()} }

// object generates an object schema with declared properties and, by
// chance, every object-level applicator.
func (g *jgen) object(depth int) *jn {
	n := &jn{typ: "object"}
	used := map[string]bool{}
	for range 1 + g.r.IntN(3) {
		if p, ok := g.prop(depth, used); ok {
			n.props = append(n.props, p)
		}
	}
	if depth < 3 {
		if g.chance(0.15) {
			n.pats = append(n.pats, jpat{"^pii_", "pii_", g.mapValue()})
		}
		if g.chance(0.15) {
			n.addl = g.mapValue()
		} else if g.chance(0.1) {
			n.noAdd = true
		}
		if g.chance(0.15) {
			n.allOf = []*jn{g.branchObject(depth), g.branchObject(depth)}
		}
		if g.chance(0.12) {
			n.ifS = &jn{typ: "object", props: []jprop{{"kind", &jn{typ: "string", cnst: "p"}}}, req: []string{"kind"}}
			n.thenS = g.branchObject(depth)
			if g.chance(0.6) {
				n.elseS = g.branchObject(depth)
			}
		}
		if g.chance(0.1) {
			n.deps = []jprop{{"email", g.branchObject(depth)}}
			if !used["email"] {
				n.props = append(n.props, jprop{"email", g.str()})
				used["email"] = true
			}
		}
		if g.chance(0.12) {
			mode := func(v string, extra *jn) *jn {
				b := &jn{typ: "object", props: []jprop{{"mode", &jn{typ: "string", cnst: v}}}, req: []string{"mode"}}
				b.props = append(b.props, extra.props...)
				return b
			}
			bs := []*jn{mode("a", g.branchObject(depth)), mode("b", g.branchObject(depth))}
			if g.chance(0.5) {
				n.oneOf = bs
			} else {
				n.anyOf = bs
			}
		}
		if g.chance(0.06) {
			g.refusedKeyword(n)
		}
	}
	return n
}

// branchObject is an allOf/then/else/dependentSchemas branch: a few
// declared string (or list) properties.
func (g *jgen) branchObject(depth int) *jn {
	n := &jn{typ: "object"}
	used := map[string]bool{}
	for range 1 + g.r.IntN(2) {
		name := jStringNames[g.r.IntN(len(jStringNames))]
		if used[name] {
			continue
		}
		used[name] = true
		n.props = append(n.props, jprop{name, g.str()})
	}
	if depth < 2 && g.chance(0.2) {
		n.props = append(n.props, jprop{"list", g.array(depth + 1)})
	}
	return n
}

// mapValue is the schema of additionalProperties/patternProperties values:
// a string, or a list of strings.
func (g *jgen) mapValue() *jn {
	if g.chance(0.2) {
		return &jn{typ: "array", items: g.str(), tags: g.tags()}
	}
	return g.str()
}

func (g *jgen) array(depth int) *jn {
	n := &jn{typ: "array", tags: g.tags()}
	if n.tags != nil && n.tags[0] == "PII" {
		// a tagged list holds strings only
		n.items = &jn{typ: "string"}
		return n
	}
	switch g.r.IntN(4) {
	case 0:
		n.prefix = []*jn{g.str(), {typ: "number"}}
		if g.chance(0.7) {
			n.items = g.str()
		}
	case 1:
		if depth < 3 {
			n.items = g.object(depth + 1)
		} else {
			n.items = g.str()
		}
	default:
		n.items = g.str()
	}
	if g.chance(0.25) {
		n.contains = &jn{typ: "string", minLen: 14, tags: []string{"PII"}}
	}
	return n
}

// prop generates one declared property of a kind its name implies.
func (g *jgen) prop(depth int, used map[string]bool) (jprop, bool) {
	pick := func(names []string) string {
		for range 4 {
			if n := names[g.r.IntN(len(names))]; !used[n] {
				used[n] = true
				return n
			}
		}
		return ""
	}
	switch x := g.r.IntN(20); {
	case x < 7:
		name := pick(jStringNames)
		if name == "" {
			return jprop{}, false
		}
		if g.chance(0.15) {
			return jprop{name, g.ref("string", func() *jn { return g.str() })}, true
		}
		return jprop{name, g.str()}, true
	case x < 9:
		name := pick([]string{"age", "count"})
		if name == "" {
			return jprop{}, false
		}
		n := &jn{typ: "number"}
		if !g.inRefused && g.chance(0.04) {
			n.tags = []string{"PII"}
			g.planUnsupported = true
		} else if g.chance(0.1) {
			n.tags = []string{"OTHER"}
		}
		if name == "age" && !g.inRefused {
			g.hasAge = true
		}
		return jprop{name, n}, true
	case x < 10:
		if used["flag"] {
			return jprop{}, false
		}
		used["flag"] = true
		return jprop{"flag", &jn{typ: "boolean"}}, true
	case x < 13:
		name := pick(jObjectNames)
		if name == "" {
			return jprop{}, false
		}
		var n *jn
		switch y := g.r.IntN(10); {
		case y < 3 && !g.inRefused:
			n = &jn{ref: -1} // recursion to the root
		case y < 5 && !g.inRefused:
			n = g.ref("object", func() *jn { return g.object(depth + 1) })
		case depth < 3:
			n = g.object(depth + 1)
		default:
			n = &jn{typ: "object", props: []jprop{{"email", g.str()}}}
		}
		if !g.inRefused && g.chance(0.02) {
			n = &jn{typ: "object", props: []jprop{{"email", g.str()}}, tags: []string{"PII"}}
			g.planUnsupported = true
		}
		return jprop{name, n}, true
	case x < 15:
		name := pick([]string{"list", "pairs"})
		if name == "" {
			return jprop{}, false
		}
		return jprop{name, g.array(depth)}, true
	case x < 17:
		name := pick([]string{"attrs", "labels"})
		if name == "" {
			return jprop{}, false
		}
		return jprop{name, &jn{typ: "object", addl: g.mapValue(), tags: g.tags()}}, true
	case x < 18:
		if used["blob"] {
			return jprop{}, false
		}
		used["blob"] = true
		return jprop{"blob", &jn{typ: "any", tags: g.tags()}}, true
	default:
		name := pick([]string{"reach", "contact"})
		if name == "" {
			return jprop{}, false
		}
		bs := []*jn{{typ: "string", tags: g.tags()}, {typ: "object", props: []jprop{{"email", g.str()}, {"note", g.str()}}}}
		if g.chance(0.5) {
			return jprop{name, &jn{oneOf: bs, tags: g.tags()}}, true
		}
		return jprop{name, &jn{anyOf: bs}}, true
	}
}

// ref wraps a new named definition, reused by later references by chance.
func (g *jgen) ref(typ string, mk func() *jn) *jn {
	if len(g.defs) > 0 && g.chance(0.4) {
		k := g.r.IntN(len(g.defs))
		if g.defs[k] != nil && g.defs[k].typ == typ {
			return &jn{ref: k + 1}
		}
	}
	g.defs = append(g.defs, nil)
	k := len(g.defs)
	g.defs[k-1] = mk()
	return &jn{ref: k}
}

// refusedKeyword plants a keyword the planner refuses to walk, holding a
// tag that is selected (PII) or not (OTHER).
func (g *jgen) refusedKeyword(n *jn) {
	kws := []string{"not", "propertyNames"}
	if !g.draft7 {
		kws = append(kws, "unevaluatedProperties")
	}
	n.refusedK = kws[g.r.IntN(len(kws))]
	tag := []string{"OTHER"}
	if g.chance(0.5) {
		tag = []string{"PII"}
		g.planUnplaceable = true
	}
	switch n.refusedK {
	case "not":
		n.refused = &jn{typ: "object", props: []jprop{{"secret", &jn{typ: "string", tags: tag}}}, req: []string{"secret"}}
	default:
		n.refused = &jn{typ: "string", tags: tag}
	}
}

// render returns the schema document, recording each node's pointer.
func (g *jgen) render(root *jn) map[string]any {
	doc := g.node(root, "")
	if g.draft7 {
		doc["$schema"] = "http://json-schema.org/draft-07/schema#"
	} else {
		doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	}
	if len(g.defs) > 0 {
		key := "$defs"
		if g.draft7 {
			key = "definitions"
		}
		defs := map[string]any{}
		for i, d := range g.defs {
			defs["D"+strconv.Itoa(i)] = g.node(d, "/"+key+"/D"+strconv.Itoa(i))
		}
		doc[key] = defs
	}
	return doc
}

func (g *jgen) node(n *jn, ptr string) map[string]any {
	n.ptr = ptr
	m := map[string]any{}
	if n.ref != 0 {
		if n.ref < 0 {
			m["$ref"] = "#"
		} else if g.draft7 {
			// draft-07 ignores siblings of $ref: wrap it.
			m["allOf"] = []any{map[string]any{"$ref": "#/definitions/D" + strconv.Itoa(n.ref-1)}}
		} else {
			m["$ref"] = "#/$defs/D" + strconv.Itoa(n.ref-1)
		}
		return m
	}
	switch n.typ {
	case "", "any":
	default:
		m["type"] = n.typ
	}
	if len(n.tags) > 0 {
		m["confluent:tags"] = n.tags
	}
	if n.cnst != "" {
		m["const"] = n.cnst
	}
	if n.minLen > 0 {
		m["minLength"] = n.minLen
	}
	if len(n.props) > 0 {
		ps := map[string]any{}
		for _, p := range n.props {
			ps[p.name] = g.node(p.n, ptr+"/properties/"+p.name)
		}
		m["properties"] = ps
	}
	if len(n.req) > 0 {
		m["required"] = n.req
	}
	if n.addl != nil {
		m["additionalProperties"] = g.node(n.addl, ptr+"/additionalProperties")
	} else if n.noAdd {
		m["additionalProperties"] = false
	}
	if len(n.pats) > 0 {
		ps := map[string]any{}
		for _, p := range n.pats {
			ps[p.re] = g.node(p.n, ptr+"/patternProperties/"+strings.ReplaceAll(p.re, "~", "~0"))
		}
		m["patternProperties"] = ps
	}
	if len(n.prefix) > 0 {
		key := "prefixItems"
		if g.draft7 {
			key = "items"
		}
		var ps []any
		for i, x := range n.prefix {
			ps = append(ps, g.node(x, ptr+"/"+key+"/"+strconv.Itoa(i)))
		}
		m[key] = ps
		if n.items != nil {
			key := "items"
			if g.draft7 {
				key = "additionalItems"
			}
			m[key] = g.node(n.items, ptr+"/"+key)
		}
	} else if n.items != nil {
		m["items"] = g.node(n.items, ptr+"/items")
	}
	if n.contains != nil {
		m["contains"] = g.node(n.contains, ptr+"/contains")
	}
	for _, c := range []struct {
		key string
		bs  []*jn
	}{{"allOf", n.allOf}, {"anyOf", n.anyOf}, {"oneOf", n.oneOf}} {
		if len(c.bs) > 0 {
			var bs []any
			for i, b := range c.bs {
				bs = append(bs, g.node(b, ptr+"/"+c.key+"/"+strconv.Itoa(i)))
			}
			m[c.key] = bs
		}
	}
	if n.ifS != nil {
		m["if"] = g.node(n.ifS, ptr+"/if")
		if n.thenS != nil {
			m["then"] = g.node(n.thenS, ptr+"/then")
		}
		if n.elseS != nil {
			m["else"] = g.node(n.elseS, ptr+"/else")
		}
	}
	if len(n.deps) > 0 {
		key := "dependentSchemas"
		if g.draft7 {
			key = "dependencies"
		}
		ds := map[string]any{}
		for _, d := range n.deps {
			ds[d.name] = g.node(d.n, ptr+"/"+key+"/"+d.name)
		}
		m[key] = ds
	}
	if n.refused != nil {
		m[n.refusedK] = g.node(n.refused, ptr+"/"+n.refusedK)
	}
	return m
}

func (g *jgen) resolve(n *jn, root *jn) *jn {
	for n != nil && n.ref != 0 {
		if n.ref < 0 {
			n = root
		} else {
			n = g.defs[n.ref-1]
		}
	}
	return n
}

func (g *jgen) marker() string {
	g.markers++
	return fmt.Sprintf("Mk%05dq%s", g.markers, strings.Repeat("z", g.r.IntN(10)))
}

// value generates a value for n: every string leaf holds a unique marker.
func (g *jgen) value(n, root *jn, depth int) any {
	n = g.resolve(n, root)
	if n == nil {
		return g.marker()
	}
	if n.cnst != "" {
		return n.cnst
	}
	switch n.typ {
	case "string":
		return g.marker()
	case "number":
		return g.r.IntN(1000)
	case "boolean":
		return g.chance(0.5)
	case "array":
		var out []any
		for _, p := range n.prefix {
			out = append(out, g.value(p, root, depth+1))
		}
		if n.items != nil && (len(n.prefix) == 0 || g.chance(0.7)) {
			for range g.r.IntN(3) {
				out = append(out, g.value(n.items, root, depth+1))
			}
		}
		return out
	case "any":
		switch g.r.IntN(6) {
		case 0:
			return []any{g.marker(), g.marker()}
		case 1:
			return map[string]any{"k": g.marker(), "deep": map[string]any{"email": g.marker()}}
		case 2:
			return nil
		case 3:
			if g.chance(0.3) {
				return 42
			}
		}
		return g.marker()
	}
	if len(n.oneOf)+len(n.anyOf) > 0 && len(n.props) == 0 && n.typ == "" {
		bs := append(n.oneOf, n.anyOf...)
		return g.value(bs[g.r.IntN(len(bs))], root, depth+1)
	}
	if n.typ == "" && len(n.allOf) > 0 {
		return g.value(n.allOf[0], root, depth)
	}
	m := map[string]any{}
	g.fill(m, n, root, depth)
	return m
}

func (g *jgen) fill(m map[string]any, n, root *jn, depth int) {
	n = g.resolve(n, root)
	if n == nil {
		return
	}
	for _, p := range n.props {
		if _, ok := m[p.name]; ok {
			continue
		}
		if t := g.resolve(p.n, root); depth >= 4 && t != nil && (t.typ == "object" || p.n.ref != 0) {
			continue // recursion ends here
		}
		m[p.name] = g.value(p.n, root, depth+1)
	}
	for _, b := range n.allOf {
		g.fill(m, b, root, depth)
	}
	if bs := append(n.oneOf, n.anyOf...); len(bs) > 0 {
		g.fill(m, bs[g.r.IntN(len(bs))], root, depth)
	}
	if n.ifS != nil {
		if g.chance(0.5) {
			m["kind"] = "p"
			if n.thenS != nil {
				g.fill(m, n.thenS, root, depth)
			}
		} else {
			m["kind"] = "q"
			if n.elseS != nil {
				g.fill(m, n.elseS, root, depth)
			}
		}
	}
	for _, d := range n.deps {
		if _, ok := m[d.name]; ok {
			g.fill(m, d.n, root, depth)
		}
	}
	for _, p := range n.pats {
		for range g.r.IntN(3) {
			m[p.prefix+strconv.Itoa(g.r.IntN(100))] = g.value(p.n, root, depth+1)
		}
	}
	if n.addl != nil {
		for range g.r.IntN(3) {
			m["x_"+strconv.Itoa(g.r.IntN(100))] = g.value(n.addl, root, depth+1)
		}
	}
	if g.chance(0.1) {
		m["undeclared"] = g.marker()
	}
}

// jcase is one generated schema with a value.
type jcase struct {
	g      *jgen
	root   *jn
	schema string
	value  []byte
	meta   map[string][]string
}

func genJSONCase(seed uint64) *jcase {
	g := &jgen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), draft7: seed%3 == 0}
	root := g.object(0)
	if g.chance(0.3) {
		g.meta = append(g.meta, jMetaGood[g.r.IntN(len(jMetaGood))])
		if g.chance(0.3) {
			g.meta = append(g.meta, jMetaGood[g.r.IntN(len(jMetaGood))])
		}
	}
	if g.chance(0.05) {
		g.meta = append(g.meta, "**.age")
		if g.hasAge {
			g.planUnsupported = true
		}
	}
	doc := g.render(root)
	schema, _ := json.Marshal(doc)
	value, _ := json.Marshal(g.value(root, root, 0))
	c := &jcase{g: g, root: root, schema: string(schema), value: value}
	if len(g.meta) > 0 {
		c.meta = map[string][]string{}
		for _, p := range g.meta {
			c.meta[p] = []string{"PII"}
		}
	}
	return c
}

// jsel is the reference selector.
type jsel struct {
	c        *jcase
	compiler *jsonschema.Compiler
	compiled map[*jn]*jsonschema.Schema
	meta     []*regexp.Regexp
	leaves   map[string]bool // value pointer of each string leaf → selected
	refuse   bool            // a tagged value cannot carry ciphertext
}

func newJSel(t testing.TB, c *jcase) *jsel {
	s := &jsel{c: c, compiler: jsonschema.NewCompiler(), compiled: map[*jn]*jsonschema.Schema{}, leaves: map[string]bool{}}
	if err := s.compiler.AddResource("mem://leak/s.json", strings.NewReader(c.schema)); err != nil {
		t.Fatal(err)
	}
	for p := range c.meta {
		s.meta = append(s.meta, regexp.MustCompile("^"+globToRegexp(p)+"$"))
	}
	return s
}

// globToRegexp: '**' any run, '*' any run within a dotted segment.
func globToRegexp(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch {
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case p[i] == '*':
			b.WriteString(`[^.]*`)
		default:
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		}
	}
	return b.String()
}

func (s *jsel) valid(t testing.TB, n *jn, v any) bool {
	sch, ok := s.compiled[n]
	if !ok {
		var err error
		if sch, err = s.compiler.Compile("mem://leak/s.json#" + n.ptr); err != nil {
			t.Fatalf("compile %s: %v", n.ptr, err)
		}
		s.compiled[n] = sch
	}
	return sch.Validate(v) == nil
}

func (s *jsel) expand(t testing.TB, direct []*jn, v any) []*jn {
	var set []*jn
	var add func(n *jn)
	branches := func(bs []*jn) {
		var ok []*jn
		for _, b := range bs {
			if s.valid(t, b, v) {
				ok = append(ok, b)
			}
		}
		if len(ok) == 0 {
			ok = bs
		}
		for _, b := range ok {
			add(b)
		}
	}
	add = func(n *jn) {
		if n == nil || slices.Contains(set, n) {
			return
		}
		set = append(set, n)
		if n.ref < 0 {
			add(s.c.root)
		} else if n.ref > 0 {
			add(s.c.g.defs[n.ref-1])
		}
		for _, b := range n.allOf {
			add(b)
		}
		if len(n.anyOf) > 0 {
			branches(n.anyOf)
		}
		if len(n.oneOf) > 0 {
			branches(n.oneOf)
		}
		if n.ifS != nil {
			if s.valid(t, n.ifS, v) {
				add(n.ifS)
				add(n.thenS)
			} else {
				add(n.elseS)
			}
		}
		if m, ok := v.(map[string]any); ok {
			for _, d := range n.deps {
				if _, present := m[d.name]; present {
					add(d.n)
				}
			}
		}
	}
	for _, n := range direct {
		add(n)
	}
	return set
}

func (s *jsel) walk(t testing.TB, v any, direct []*jn, path, ptr string, tagged, member bool) {
	set := s.expand(t, direct, v)
	if member {
		for _, re := range s.meta {
			tagged = tagged || re.MatchString(path)
		}
	}
	for _, n := range set {
		tagged = tagged || slices.Contains(n.tags, "PII")
	}
	switch v := v.(type) {
	case string:
		for _, n := range set {
			if tagged && n.cnst != "" {
				s.refuse = true
			}
		}
		s.leaves[ptr] = tagged
	case json.Number, bool:
		if tagged {
			s.refuse = true
		}
	case map[string]any:
		for _, n := range set {
			if tagged && len(n.props) > 0 {
				s.refuse = true
			}
		}
		for k, x := range v {
			var child []*jn
			for _, n := range set {
				declared, matched := false, false
				for _, p := range n.props {
					if p.name == k {
						child, declared = append(child, p.n), true
					}
				}
				for _, p := range n.pats {
					if strings.HasPrefix(k, p.prefix) {
						child, matched = append(child, p.n), true
					}
				}
				if n.addl != nil && !declared && !matched {
					child = append(child, n.addl)
				}
			}
			s.walk(t, x, child, path+"."+k, ptr+"/"+k, tagged, true)
		}
	case []any:
		for i, x := range v {
			var child []*jn
			for _, n := range set {
				if i < len(n.prefix) {
					child = append(child, n.prefix[i])
				} else if n.items != nil {
					child = append(child, n.items)
				}
				if n.contains != nil && s.valid(t, n.contains, x) {
					child = append(child, n.contains)
				}
			}
			s.walk(t, x, child, path, ptr+"/"+strconv.Itoa(i), tagged, false)
		}
	}
}

// jsonLeakStats counts what the leak test saw.
type jsonLeakStats struct {
	schemas, leaves, selected int
	refusals                  map[string]int
}

func decodeJSONNumber(t testing.TB, b []byte) any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	return v
}

// checkJSONLeak registers one generated case and checks its serialization.
func checkJSONLeak(t *testing.T, client schemaregistry.Client, ser *serde.Serializer, opener *leafOpener, seed uint64, st *jsonLeakStats) {
	c := genJSONCase(seed)
	topic := "lj" + strconv.FormatUint(seed, 10)
	subject := topic + "-value"
	info := schemaregistry.SchemaInfo{Schema: c.schema, SchemaType: "JSON",
		RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{rule(t, "local-kms", nil)}}}
	if c.meta != nil {
		info.Metadata = &schemaregistry.Metadata{Tags: c.meta}
	}
	if _, err := client.Register(subject, info, false); err != nil {
		t.Fatalf("seed %d: register: %v", seed, err)
	}
	sel := newJSel(t, c)
	in := decodeJSONNumber(t, c.value)
	sel.walk(t, in, []*jn{c.root}, "$", "", false, false)
	st.schemas++

	out, err := ser.Serialize(topic, json.RawMessage(c.value))
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d: %s\nschema: %s\nmetadata: %v\nvalue: %s\noutput: %s", seed, fmt.Sprintf(format, args...), c.schema, c.meta, c.value, out)
	}
	var pe *serde.PlanError
	switch {
	case c.g.planUnsupported || c.g.planUnplaceable:
		if err == nil {
			fail("expected a plan-time refusal (unsupported %v, unplaceable %v), got none", c.g.planUnsupported, c.g.planUnplaceable)
		}
		if !errors.As(err, &pe) || !(c.g.planUnplaceable && errors.Is(err, serde.ErrUnplaceableTag) ||
			c.g.planUnsupported && errors.Is(err, serde.ErrUnsupportedTaggedType)) {
			fail("expected a *PlanError, got %v", err)
		}
		st.refusals["plan: "+pe.Err.Error()+" ("+pe.Keyword+")"]++
		return
	case sel.refuse:
		if !errors.Is(err, serde.ErrUnsupportedTaggedType) {
			fail("a tagged value cannot carry ciphertext: expected ErrUnsupportedTaggedType, got %v", err)
		}
		st.refusals["record: "+serde.ErrUnsupportedTaggedType.Error()]++
		return
	case err != nil:
		fail("unexpected error %v", err)
	}
	got := decodeJSONNumber(t, out[5:])
	var compare func(a, b any, ptr string)
	compare = func(a, b any, ptr string) {
		switch a := a.(type) {
		case string:
			bs, ok := b.(string)
			if !ok {
				fail("%s: type changed", ptr)
			}
			st.leaves++
			if !sel.leaves[ptr] {
				if bs != a {
					fail("%s: unselected leaf changed", ptr)
				}
				return
			}
			st.selected++
			if bs == a {
				fail("%s: selected leaf %q is in plaintext", ptr, a)
			}
			pt, err := opener.open(kekName(t), subject, "", []byte(bs), true)
			if err != nil || string(pt) != a {
				fail("%s: selected leaf does not decrypt to its marker: %v", ptr, err)
			}
			if len(a) >= 8 && bytes.Contains(out, []byte(a)) {
				fail("%s: marker %q appears in the output", ptr, a)
			}
		case map[string]any:
			bm, ok := b.(map[string]any)
			if !ok || len(bm) != len(a) {
				fail("%s: object changed", ptr)
			}
			for k, x := range a {
				compare(x, bm[k], ptr+"/"+k)
			}
		case []any:
			ba, ok := b.([]any)
			if !ok || len(ba) != len(a) {
				fail("%s: array changed", ptr)
			}
			for i, x := range a {
				compare(x, ba[i], ptr+"/"+strconv.Itoa(i))
			}
		default:
			if fmt.Sprint(a) != fmt.Sprint(b) {
				fail("%s: %v became %v", ptr, a, b)
			}
		}
	}
	compare(in, got, "")
}

func newJSONLeakRig(t *testing.T) (schemaregistry.Client, *serde.Serializer, *leafOpener) {
	client := newClient(t)
	return client, newSerializer(t, client, serde.Options{}), newLeafOpener(t, client, testSecret)
}

// TestJSONLeakGenerated runs 2,000 generated schemas with fixed seeds.
func TestJSONLeakGenerated(t *testing.T) {
	n := uint64(2000)
	if testing.Short() {
		n = 300
	}
	client, ser, opener := newJSONLeakRig(t)
	st := &jsonLeakStats{refusals: map[string]int{}}
	for seed := uint64(1); seed <= n; seed++ {
		checkJSONLeak(t, client, ser, opener, seed, st)
	}
	t.Logf("schemas %d, string leaves checked %d, selected (encrypted) %d", st.schemas, st.leaves, st.selected)
	reasons := make([]string, 0, len(st.refusals))
	for r := range st.refusals {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		t.Logf("refused %4d: %s", st.refusals[r], r)
	}
	if st.selected < int(n) || st.leaves < 3*int(n) {
		t.Fatalf("the generator selects too little to prove anything: %+v", st)
	}
}

// FuzzJSONLeak checks one generated schema per seed.
func FuzzJSONLeak(f *testing.F) {
	for _, s := range []uint64{1, 7, 42, 1234, 99991} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		client, ser, opener := newJSONLeakRig(t)
		checkJSONLeak(t, client, ser, opener, seed, &jsonLeakStats{refusals: map[string]int{}})
	})
}

// TestJSONLeakIssue12 covers the four schemas that left tagged values in
// plaintext: each now encrypts and reads back through the Deserializer.
func TestJSONLeakIssue12(t *testing.T) {
	cases := []struct {
		name, schema string
		meta         map[string][]string
		value        string
		secrets      []string
	}{
		{"metadata-below-recursion", `{"type":"object","properties":{"email":{"type":"string"},"child":{"$ref":"#"}}}`,
			map[string][]string{"$.child.email": {"PII"}},
			`{"email":"a","child":{"email":"secret-child-mail","child":{"email":"b"}}}`, []string{"secret-child-mail"}},
		{"additionalProperties", `{"type":"object","properties":{"id":{"type":"integer"}},
		  "additionalProperties":{"type":"string","confluent:tags":["PII"]}}`, nil,
			`{"id":1,"passport":"secret-passport","phone":"secret-phone"}`, []string{"secret-passport", "secret-phone"}},
		{"patternProperties", `{"type":"object","properties":{"id":{"type":"integer"}},
		  "patternProperties":{"^pii_":{"type":"string","confluent:tags":["PII"]}}}`, nil,
			`{"id":1,"pii_name":"secret-name","other":"visible"}`, []string{"secret-name"}},
		{"if-then", `{"type":"object","properties":{"kind":{"type":"string"}},
		  "if":{"properties":{"kind":{"const":"person"}},"required":["kind"]},
		  "then":{"properties":{"email":{"type":"string","confluent:tags":["PII"]}}}}`, nil,
			`{"kind":"person","email":"secret-then-mail"}`, []string{"secret-then-mail"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			client := newClient(t)
			info := schemaregistry.SchemaInfo{Schema: c.schema, SchemaType: "JSON",
				RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{rule(t, "local-kms", map[string]string{"onFailure": "ERROR"})}}}
			if c.meta != nil {
				info.Metadata = &schemaregistry.Metadata{Tags: c.meta}
			}
			if _, err := client.Register("i12-value", info, false); err != nil {
				t.Fatal(err)
			}
			b, err := newSerializer(t, client, serde.Options{Validate: true}).Serialize("i12", json.RawMessage(c.value))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range c.secrets {
				if bytes.Contains(b, []byte(s)) {
					t.Fatalf("%s in plaintext: %s", s, b[5:])
				}
			}
			got, err := newDeserializer(t, client, testSecret, serde.Options{}).Deserialize("i12", b)
			if err != nil {
				t.Fatal(err)
			}
			have, _ := json.Marshal(got)
			var want any
			_ = json.Unmarshal([]byte(c.value), &want)
			wantB, _ := json.Marshal(want)
			if !bytes.Equal(have, wantB) {
				t.Fatalf("read back %s, want %s", have, wantB)
			}
		})
	}
}

// TestJSONRefusesUnplaceableTags: a rule-selected tag under a keyword the
// rewriter does not walk fails Serialize with a *PlanError naming the path
// and keyword, never with the value; an unselected tag there is allowed.
func TestJSONRefusesUnplaceableTags(t *testing.T) {
	cases := []struct {
		name, schema, path, keyword string
		sentinel                    error
	}{
		{"not", `{"type":"object","properties":{"a":{"type":"object","not":{"properties":{"x":{"type":"string","confluent:tags":["PII"]}},"required":["x"]}}}}`,
			"$.a", "not", serde.ErrUnplaceableTag},
		{"propertyNames", `{"type":"object","propertyNames":{"maxLength":20,"confluent:tags":["PII"]}}`, "$", "propertyNames", serde.ErrUnplaceableTag},
		{"unevaluatedProperties", `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
		  "properties":{"b":{"type":"object","unevaluatedProperties":{"type":"string","confluent:tags":["PII"]}}}}`,
			"$.b", "unevaluatedProperties", serde.ErrUnplaceableTag},
		{"unevaluatedItems", `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"array",
		  "unevaluatedItems":{"type":"string","confluent:tags":["PII"]}}`, "$", "unevaluatedItems", serde.ErrUnplaceableTag},
		{"tagged-integer-under-then", `{"type":"object","if":{"required":["k"]},"then":{"properties":{"n":{"type":"integer","confluent:tags":["PII"]}}}}`,
			"$.n", "properties", serde.ErrUnsupportedTaggedType},
		{"tagged-integer-map", `{"type":"object","additionalProperties":{"type":"integer","confluent:tags":["PII"]}}`,
			"$.*", "additionalProperties", serde.ErrUnsupportedTaggedType},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			client := newClient(t)
			registerJSON(t, client, "rf-value", c.schema, rule(t, "local-kms", nil))
			_, err := newSerializer(t, client, serde.Options{}).Serialize("rf", json.RawMessage(`{"secret-value":"zz"}`))
			var pe *serde.PlanError
			if !errors.Is(err, c.sentinel) || !errors.As(err, &pe) || pe.Path != c.path || pe.Keyword != c.keyword {
				t.Fatalf("err = %v, want %v at %s (%s)", err, c.sentinel, c.path, c.keyword)
			}
			if strings.Contains(err.Error(), "secret-value") || strings.Contains(err.Error(), "zz") {
				t.Fatalf("error carries the value: %v", err)
			}
		})
	}
	t.Run("unselected tag under not", func(t *testing.T) {
		client := newClient(t)
		registerJSON(t, client, "rn-value", `{"type":"object","properties":{"email":{"type":"string","confluent:tags":["PII"]}},
		  "not":{"properties":{"x":{"type":"string","confluent:tags":["OTHER"]}},"required":["x"]}}`, rule(t, "local-kms", nil))
		b, err := newSerializer(t, client, serde.Options{}).Serialize("rn", json.RawMessage(`{"email":"secret-mail"}`))
		if err != nil || bytes.Contains(b, []byte("secret-mail")) {
			t.Fatalf("%v %s", err, b)
		}
	})
}

// TestJSONEncryptsOncePerRule: properties and allOf both tag "email", and
// two anyOf branches match "note"; each value carries one ciphertext, which
// the independent opener opens directly.
func TestJSONEncryptsOncePerRule(t *testing.T) {
	client := newClient(t)
	registerJSON(t, client, "once-value", `{"type":"object",
	  "properties":{"email":{"type":"string","confluent:tags":["PII"]},"note":{"anyOf":[{"type":"string","confluent:tags":["PII"]},{"type":"string","minLength":1,"confluent:tags":["PII"]}]}},
	  "allOf":[{"properties":{"email":{"type":"string","confluent:tags":["PII"]}}}]}`, rule(t, "local-kms", nil))
	b, err := newSerializer(t, client, serde.Options{}).Serialize("once", json.RawMessage(`{"email":"secret-mail","note":"secret-note"}`))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(b[5:], &got); err != nil {
		t.Fatal(err)
	}
	o := newLeafOpener(t, client, testSecret)
	for k, want := range map[string]string{"email": "secret-mail", "note": "secret-note"} {
		pt, err := o.open(kekName(t), "once-value", "", []byte(got[k]), true)
		if err != nil || string(pt) != want {
			t.Fatalf("%s: opened %q, %v", k, pt, err)
		}
	}
}
