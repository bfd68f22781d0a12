package serde_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/hamba/avro/v2"

	"github.com/tagseal/tagseal/serde"
)

// The Avro leak test generates random schemas and values, serializes them
// with tagseal, and checks every string/bytes leaf of the output against a
// reference selector written here, over the generator's own model, without
// the planner: a selected leaf is ciphertext of its marker, any other leaf
// is unchanged, no selected marker appears in the output — or Serialize
// refused with the typed error the reference expects.

// avType is one Avro type occurrence in a generated schema.
type avType struct {
	kind     string    // string bytes int long boolean null enum fixed record array map union
	rec      *avRecord // record (defined here when def)
	def      bool
	name     string // enum and fixed full names
	elem     *avType
	branches []*avType
	tags     []string // a type-level "confluent:tags"
	ancestor bool     // a reference to a record being defined (recursion)
}

type avRecord struct {
	name   string
	fields []*avField
	tags   []string
}

type avField struct {
	name   string
	typ    *avType
	inline []string
}

// avSchema is a generated schema with its optional reference.
type avSchema struct {
	root     *avRecord
	ref      *avRecord // defined in a referenced schema, used by name
	metadata map[string][]string
	records  []*avRecord // every record, in definition order
}

type avGen struct {
	r       *rand.Rand
	s       *avSchema
	n       int // names
	stack   []*avRecord
	done    []*avRecord
	depth   int
	refUsed bool
}

const avNS = "lk"

func (g *avGen) chance(p float64) bool { return g.r.Float64() < p }

func (g *avGen) tagsFor(carrier bool) []string {
	p := 0.03
	if carrier {
		p = 0.35
	}
	switch {
	case g.chance(p):
		return []string{"PII"}
	case g.chance(0.08):
		return []string{"OTHER"}
	}
	return nil
}

// typeTags puts a rare tag on a type rather than a field.
func (g *avGen) typeTags() []string {
	if g.chance(0.02) {
		if g.chance(0.7) {
			return []string{"PII"}
		}
		return []string{"OTHER"}
	}
	return nil
}

func (g *avGen) newName(prefix string) string {
	g.n++
	return fmt.Sprintf("%s.%s%d", avNS, prefix, g.n)
}

func genAvroSchema(seed uint64) *avSchema {
	g := &avGen{r: rand.New(rand.NewPCG(seed, 0x5eed)), s: &avSchema{metadata: map[string][]string{}}}
	if g.chance(0.3) {
		// A record defined in a referenced schema, reused by name.
		ref := &avRecord{name: avNS + ".Shared", tags: g.typeTags()}
		for i := 0; i < 1+g.r.IntN(3); i++ {
			t := &avType{kind: []string{"string", "bytes", "int", "string"}[g.r.IntN(4)]}
			if g.chance(0.3) {
				t = &avType{kind: "array", elem: t}
			}
			ref.fields = append(ref.fields, &avField{name: fmt.Sprintf("s%d", i), typ: t, inline: g.tagsFor(t.kind != "int")})
		}
		g.s.ref = ref
	}
	g.s.root = g.record(0)
	if g.s.ref != nil && g.refUsed {
		g.s.records = append(g.s.records, g.s.ref)
	} else {
		g.s.ref = nil
	}
	g.metadata()
	return g.s
}

func (g *avGen) record(depth int) *avRecord {
	rec := &avRecord{name: g.newName("R"), tags: g.typeTags()}
	g.s.records = append(g.s.records, rec)
	g.stack = append(g.stack, rec)
	n := 2 + g.r.IntN(5)
	for i := 0; i < n; i++ {
		t := g.typ(depth, false, false)
		rec.fields = append(rec.fields, &avField{name: fmt.Sprintf("f%d", i), typ: t, inline: g.tagsFor(avCarries(t))})
	}
	g.stack = g.stack[:len(g.stack)-1]
	g.done = append(g.done, rec)
	return rec
}

// typ generates a type. optional is true where a value can stop a
// recursion (a union with null, inside an array or map).
func (g *avGen) typ(depth int, optional, inUnion bool) *avType {
	deep := depth >= 3
	for {
		switch k := g.r.IntN(14); {
		case k <= 3:
			return &avType{kind: "string", tags: g.typeTags()}
		case k == 4:
			return &avType{kind: "bytes", tags: g.typeTags()}
		case k == 5:
			return &avType{kind: []string{"int", "long", "boolean"}[g.r.IntN(3)]}
		case k == 6:
			if g.chance(0.5) {
				return &avType{kind: "enum", name: g.newName("E"), tags: g.typeTags()}
			}
			return &avType{kind: "fixed", name: g.newName("F"), tags: g.typeTags()}
		case k == 7 && !deep:
			return &avType{kind: "array", elem: g.typ(depth+1, true, false), tags: g.typeTags()}
		case k == 8 && !deep:
			return &avType{kind: "map", elem: g.typ(depth+1, true, false), tags: g.typeTags()}
		case k == 9 && !deep && !inUnion:
			return g.union(depth)
		case k == 10 && !deep:
			return &avType{kind: "record", rec: g.record(depth + 1), def: true}
		case k == 11 && len(g.done) > 0:
			// Named-type reuse.
			return &avType{kind: "record", rec: g.done[g.r.IntN(len(g.done))]}
		case k == 12 && optional:
			// Recursion: a reference to a record being defined.
			return &avType{kind: "record", rec: g.stack[g.r.IntN(len(g.stack))], ancestor: true}
		case k == 13 && g.s.ref != nil:
			g.refUsed = true
			return &avType{kind: "record", rec: g.s.ref}
		}
	}
}

func (g *avGen) union(depth int) *avType {
	u := &avType{kind: "union"}
	if g.chance(0.6) {
		u.branches = append(u.branches, &avType{kind: "null"})
	}
	seen := map[string]bool{}
	for n := 1 + g.r.IntN(3); len(u.branches) < n+1 && len(seen) < n; {
		b := g.typ(depth+1, len(u.branches) > 0 && u.branches[0].kind == "null", true)
		key := b.kind
		if b.kind == "record" {
			key = b.rec.name
		} else if b.name != "" {
			key = b.name
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		u.branches = append(u.branches, b)
	}
	return u
}

// metadata adds path patterns over field full names: exact, "*" and "**".
func (g *avGen) metadata() {
	type fn struct{ rec, field string }
	var all []fn
	for _, r := range g.s.records {
		for _, f := range r.fields {
			all = append(all, fn{r.name, f.name})
		}
	}
	for i := g.r.IntN(4); i > 0; i-- {
		f := all[g.r.IntN(len(all))]
		var p string
		switch g.r.IntN(7) {
		case 0, 1:
			p = f.rec + "." + f.field
		case 2:
			p = "**." + f.field
		case 3:
			p = avNS + ".*." + f.field
		case 4:
			p = f.rec + ".*"
		case 5:
			p = f.rec + "." + f.field[:len(f.field)-1] + "?"
		case 6:
			if g.chance(0.15) {
				p = "**"
			} else {
				p = avNS + ".Nothing.here"
			}
		}
		tag := "PII"
		if g.chance(0.15) {
			tag = "OTHER"
		}
		g.s.metadata[p] = append(g.s.metadata[p], tag)
	}
}

// avCarries: a value of t can be a string or bytes without entering a
// record's own fields.
func avCarries(t *avType) bool {
	switch t.kind {
	case "string", "bytes":
		return true
	case "array", "map":
		return avCarries(t.elem)
	case "union":
		return slices.ContainsFunc(t.branches, avCarries)
	}
	return false
}

// JSON rendering.

func (s *avSchema) json(rec *avRecord, defined map[string]bool) any {
	defined[rec.name] = true
	fields := []any{}
	for _, f := range rec.fields {
		m := map[string]any{"name": f.name, "type": s.typeJSON(f.typ, defined)}
		if f.inline != nil {
			m["confluent:tags"] = f.inline
		}
		fields = append(fields, m)
	}
	m := map[string]any{"type": "record", "name": rec.name, "fields": fields}
	if rec.tags != nil {
		m["confluent:tags"] = rec.tags
	}
	return m
}

func (s *avSchema) typeJSON(t *avType, defined map[string]bool) any {
	var m map[string]any
	switch t.kind {
	case "record":
		if !defined[t.rec.name] { // defined at its first occurrence
			return s.json(t.rec, defined)
		}
		return t.rec.name
	case "union":
		var out []any
		for _, b := range t.branches {
			out = append(out, s.typeJSON(b, defined))
		}
		return out
	case "array":
		m = map[string]any{"type": "array", "items": s.typeJSON(t.elem, defined)}
	case "map":
		m = map[string]any{"type": "map", "values": s.typeJSON(t.elem, defined)}
	case "enum":
		m = map[string]any{"type": "enum", "name": t.name, "symbols": []string{"A", "B"}}
	case "fixed":
		m = map[string]any{"type": "fixed", "name": t.name, "size": 4}
	default:
		if t.tags == nil {
			return t.kind
		}
		m = map[string]any{"type": t.kind}
	}
	if t.tags != nil {
		m["confluent:tags"] = t.tags
	}
	return m
}

func (s *avSchema) texts() (main, ref string) {
	defined := map[string]bool{}
	if s.ref != nil {
		b, _ := json.Marshal(s.json(s.ref, map[string]bool{}))
		ref = string(b)
		defined[s.ref.name] = true
	}
	b, _ := json.Marshal(s.json(s.root, defined))
	return string(b), ref
}

// The reference selector.

// globMatch is Confluent's wildcard over dotted names: "**" any run, "*"
// any run without a dot, "?" one character.
func globMatch(p, s string) bool {
	switch {
	case p == "":
		return s == ""
	case strings.HasPrefix(p, "**"):
		for i := 0; i <= len(s); i++ {
			if globMatch(p[2:], s[i:]) {
				return true
			}
		}
		return false
	case p[0] == '*':
		for i := 0; i <= len(s); i++ {
			if globMatch(p[1:], s[i:]) {
				return true
			}
			if i < len(s) && s[i] == '.' {
				return false
			}
		}
		return false
	case p[0] == '?':
		return s != "" && globMatch(p[1:], s[1:])
	}
	return s != "" && p[0] == s[0] && globMatch(p[1:], s[1:])
}

// selectedBy: the rule (tags ["PII"]) applies to a field with these inline
// tags and this full name.
func selectedBy(metadata map[string][]string, fullName string, inline []string) bool {
	if slices.Contains(inline, "PII") {
		return true
	}
	for p, tags := range metadata {
		if slices.Contains(tags, "PII") && globMatch(p, fullName) {
			return true
		}
	}
	return false
}

// expectSchema returns the refusals the schema itself calls for. A PII
// tag on a type is unplaceable unless the values it sits on are already
// encrypted: for a type inside a field, when the field is selected; for a
// record, when every one of its fields is.
func (s *avSchema) expectSchema() map[error]bool {
	out := map[error]bool{}
	visited := map[string]bool{}
	var walkType func(t *avType, fieldSel bool)
	var walkRec func(r *avRecord)
	walkRec = func(r *avRecord) {
		if visited[r.name] {
			return
		}
		visited[r.name] = true
		all := len(r.fields) > 0
		for _, f := range r.fields {
			sel := selectedBy(s.metadata, r.name+"."+f.name, f.inline)
			all = all && sel
			if sel && !avPlaceable(f.typ, false) {
				out[serde.ErrUnsupportedTaggedType] = true
			}
			walkType(f.typ, sel)
		}
		if slices.Contains(r.tags, "PII") && !all {
			out[serde.ErrUnplaceableTag] = true
		}
	}
	walkType = func(t *avType, fieldSel bool) {
		if slices.Contains(t.tags, "PII") && !fieldSel {
			out[serde.ErrUnplaceableTag] = true
		}
		switch t.kind {
		case "record":
			walkRec(t.rec)
		case "array", "map":
			walkType(t.elem, fieldSel)
		case "union":
			for _, b := range t.branches {
				walkType(b, fieldSel)
			}
		}
	}
	walkRec(s.root)
	return out
}

// avPlaceable: a tagged value of type t can be encrypted, or (inside a
// union) refused value by value.
func avPlaceable(t *avType, inUnion bool) bool {
	switch t.kind {
	case "string", "bytes", "null":
		return true
	case "array", "map":
		return avPlaceable(t.elem, inUnion)
	case "union":
		if !avCarries(t) {
			return false
		}
		for _, b := range t.branches {
			if !avPlaceable(b, true) {
				return false
			}
		}
		return true
	}
	return inUnion
}

// Values.

type avValueGen struct {
	r      *rand.Rand
	prefix string
	n      int
}

func (v *avValueGen) marker() string {
	v.n++
	return fmt.Sprintf("%s%05dQ", v.prefix, v.n)
}

func (v *avValueGen) value(t *avType, depth int) any {
	stop := depth > 5
	switch t.kind {
	case "string":
		return v.marker()
	case "bytes":
		return []byte(v.marker())
	case "int":
		return int32(v.r.IntN(1000))
	case "long":
		return int64(v.r.IntN(1000))
	case "boolean":
		return v.r.IntN(2) == 1
	case "null":
		return nil
	case "enum":
		return []string{"A", "B"}[v.r.IntN(2)]
	case "fixed":
		return [4]byte{1, 2, 3, byte(v.r.IntN(256))}
	case "record":
		m := map[string]any{}
		for _, f := range t.rec.fields {
			m[f.name] = v.value(f.typ, depth+1)
		}
		return m
	case "array":
		n := v.r.IntN(4)
		if stop {
			n = 0
		}
		out := []any{}
		for i := 0; i < n; i++ {
			out = append(out, v.value(t.elem, depth+1))
		}
		return out
	case "map":
		n := v.r.IntN(4)
		if stop {
			n = 0
		}
		out := map[string]any{}
		for i := 0; i < n; i++ {
			out[fmt.Sprintf("k%d", i)] = v.value(t.elem, depth+1)
		}
		return out
	case "union":
		i := v.r.IntN(len(t.branches))
		if stop && t.branches[0].kind == "null" {
			i = 0
		}
		b := t.branches[i]
		if b.kind == "null" {
			return nil
		}
		return map[string]any{avBranchName(b): v.value(b, depth+1)}
	}
	panic(t.kind)
}

func avBranchName(t *avType) string {
	switch t.kind {
	case "record":
		return t.rec.name
	case "enum", "fixed":
		return t.name
	}
	return t.kind
}

// avLeakStats counts what the leak tests checked.
type leakStats struct {
	schemas, ok, leaves, selected int
	refusals                      map[string]int
}

func (s *leakStats) refused(err error) {
	reason := "ErrUnsupportedTaggedType"
	if errors.Is(err, serde.ErrUnplaceableTag) {
		reason = "ErrUnplaceableTag"
	}
	var pe *serde.PlanError
	if errors.As(err, &pe) {
		kw := pe.Keyword
		if strings.HasPrefix(kw, "confluent:tags on ") {
			kw = "confluent:tags on <type>"
		}
		// Generated message and enum names: one bucket each.
		kw = strings.ReplaceAll(kw, "lk.E", "<enum>")
		kw = generatedName.ReplaceAllString(kw, "<message>")
		reason += " (" + kw + ")"
	} else {
		reason += " (value in a non-carrier union branch)"
	}
	s.refusals[reason]++
}

func (s *leakStats) add(o *leakStats) {
	s.schemas += o.schemas
	s.ok += o.ok
	s.leaves += o.leaves
	s.selected += o.selected
	for k, n := range o.refusals {
		s.refusals[k] += n
	}
}

func (s *leakStats) log(t *testing.T, format string) {
	t.Helper()
	keys := make([]string, 0, len(s.refusals))
	total := 0
	for k, n := range s.refusals {
		keys = append(keys, k)
		total += n
	}
	sort.Strings(keys)
	t.Logf("%s leak test: %d schemas, %d serialized, %d leaves checked, %d selected (ciphertext of their marker), %d refused",
		format, s.schemas, s.ok, s.leaves, s.selected, total)
	for _, k := range keys {
		t.Logf("  refused %5d × %s", s.refusals[k], k)
	}
}

var generatedName = regexp.MustCompile(`\b(lk|dp)\.[A-Za-z0-9.]+`)

// leakEnv is what one run of generated schemas shares.
type leakEnv struct {
	client schemaregistry.Client
	ser    *serde.Serializer
	opener *leafOpener
	kek    string
	stats  *leakStats
}

func newLeakEnv(t *testing.T) *leakEnv {
	c := newClient(t)
	return &leakEnv{client: c, ser: newSerializer(t, c, serde.Options{}), opener: newLeafOpener(t, c, testSecret),
		kek: kekName(t), stats: &leakStats{refusals: map[string]int{}}}
}

// runAvroLeak generates, serializes and checks one schema.
func runAvroLeak(t *testing.T, env *leakEnv, r schemaregistry.Rule, seed uint64) {
	t.Helper()
	s := genAvroSchema(seed)
	main, refText := s.texts()
	topic := fmt.Sprintf("leak-avro-%d", seed)
	subject := topic + "-value"
	info := schemaregistry.SchemaInfo{Schema: main, SchemaType: "AVRO",
		RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{r}}}
	if len(s.metadata) > 0 {
		info.Metadata = &schemaregistry.Metadata{Tags: s.metadata}
	}
	if refText != "" {
		if _, err := env.client.Register(topic+"-ref", schemaregistry.SchemaInfo{Schema: refText, SchemaType: "AVRO"}, false); err != nil {
			t.Fatalf("seed %d: register reference: %v", seed, err)
		}
		info.References = []schemaregistry.Reference{{Name: s.ref.name, Subject: topic + "-ref", Version: 1}}
	}
	if _, err := env.client.Register(subject, info, false); err != nil {
		t.Fatalf("seed %d: register: %v\n%s", seed, err, main)
	}
	vg := &avValueGen{r: rand.New(rand.NewPCG(seed, 0x7a1)), prefix: fmt.Sprintf("QZ%08d", seed%100000000)}
	rt := &avType{kind: "record", rec: s.root}
	value := vg.value(rt, 0)
	env.stats.schemas++

	expect := s.expectSchema()
	if len(expect) == 0 && s.valueRefused(rt, value, false) {
		expect[serde.ErrUnsupportedTaggedType] = true
	}
	out, err := env.ser.Serialize(topic, value)
	describe := func() string {
		return fmt.Sprintf("seed %d\nschema: %s\nreference: %s\nmetadata: %v", seed, main, refText, s.metadata)
	}
	if len(expect) > 0 {
		if err == nil {
			t.Fatalf("Serialize succeeded; the reference expects a refusal (%v)\n%s", expect, describe())
		}
		if !expect[serde.ErrUnplaceableTag] && errors.Is(err, serde.ErrUnplaceableTag) ||
			!expect[serde.ErrUnsupportedTaggedType] && errors.Is(err, serde.ErrUnsupportedTaggedType) ||
			!errors.Is(err, serde.ErrUnplaceableTag) && !errors.Is(err, serde.ErrUnsupportedTaggedType) {
			t.Fatalf("Serialize: %v; the reference expects %v\n%s", err, expect, describe())
		}
		env.stats.refused(err)
		return
	}
	if err != nil {
		t.Fatalf("Serialize: %v\n%s", err, describe())
	}
	env.stats.ok++

	// Decode with plain hamba/avro and compare leaf by leaf.
	cache := &avro.SchemaCache{}
	if refText != "" {
		if _, err := avro.ParseWithCache(refText, "", cache); err != nil {
			t.Fatal(err)
		}
	}
	schema, err := avro.ParseWithCache(main, "", cache)
	if err != nil {
		t.Fatal(err)
	}
	var decoded any
	if err := avro.Unmarshal(schema, out[5:], &decoded); err != nil {
		t.Fatalf("output does not decode: %v\n%s", err, describe())
	}
	c := &leafChecker{t: t, env: env, subject: subject, out: out, meta: s.metadata, describe: describe}
	c.avro(rt, value, decoded, false, "$")
}

// valueRefused: the value puts a non-carrier scalar where a tag selects it
// (only possible in a union branch, else the schema is refused).
func (s *avSchema) valueRefused(t *avType, v any, sel bool) bool {
	switch t.kind {
	case "int", "long", "boolean", "enum", "fixed":
		return sel
	case "record":
		m := v.(map[string]any)
		for _, f := range t.rec.fields {
			if s.valueRefused(f.typ, m[f.name], selectedBy(s.metadata, t.rec.name+"."+f.name, f.inline)) {
				return true
			}
		}
	case "array":
		for _, e := range v.([]any) {
			if s.valueRefused(t.elem, e, sel) {
				return true
			}
		}
	case "map":
		for _, e := range v.(map[string]any) {
			if s.valueRefused(t.elem, e, sel) {
				return true
			}
		}
	case "union":
		if v == nil {
			return false
		}
		for name, inner := range v.(map[string]any) {
			for _, b := range t.branches {
				if b.kind != "null" && avBranchName(b) == name {
					return s.valueRefused(b, inner, sel)
				}
			}
		}
	}
	return false
}

// leafChecker compares original and decoded values leaf by leaf.
type leafChecker struct {
	t        *testing.T
	env      *leakEnv
	subject  string
	out      []byte
	meta     map[string][]string
	describe func() string
}

func (c *leafChecker) leaf(path string, sel, asString bool, orig, got []byte) {
	c.t.Helper()
	c.env.stats.leaves++
	if !sel {
		if !bytes.Equal(orig, got) {
			c.t.Fatalf("%s: unselected leaf changed: %q → %q\n%s", path, orig, got, c.describe())
		}
		return
	}
	c.env.stats.selected++
	if bytes.Contains(c.out, orig) {
		c.t.Fatalf("%s: the marker of a selected leaf appears in the output\n%s", path, c.describe())
	}
	pt, err := c.env.opener.open(c.env.kek, c.subject, "", got, asString)
	if err != nil {
		c.t.Fatalf("%s: selected leaf is not ciphertext: %v\n%s", path, err, c.describe())
	}
	if !bytes.Equal(pt, orig) {
		c.t.Fatalf("%s: ciphertext opens to %q, want %q\n%s", path, pt, orig, c.describe())
	}
}

func (c *leafChecker) avro(t *avType, orig, got any, sel bool, path string) {
	c.t.Helper()
	fail := func() {
		c.t.Fatalf("%s: decoded %T %v does not match the value's shape (%s)\n%s", path, got, got, t.kind, c.describe())
	}
	switch t.kind {
	case "string":
		g, ok := got.(string)
		if !ok {
			fail()
		}
		c.leaf(path, sel, true, []byte(orig.(string)), []byte(g))
	case "bytes":
		g, ok := got.([]byte)
		if !ok {
			fail()
		}
		c.leaf(path, sel, false, orig.([]byte), g)
	case "record":
		om, gm := orig.(map[string]any), got.(map[string]any)
		for _, f := range t.rec.fields {
			c.avro(f.typ, om[f.name], gm[f.name], selectedBy(c.meta, t.rec.name+"."+f.name, f.inline), t.rec.name+"."+f.name)
		}
	case "array":
		oa, ga := orig.([]any), got.([]any)
		if len(oa) != len(ga) {
			fail()
		}
		for i := range oa {
			c.avro(t.elem, oa[i], ga[i], sel, fmt.Sprintf("%s[%d]", path, i))
		}
	case "map":
		om, gm := orig.(map[string]any), got.(map[string]any)
		if len(om) != len(gm) {
			fail()
		}
		for k := range om {
			c.avro(t.elem, om[k], gm[k], sel, path+"."+k)
		}
	case "union":
		if orig == nil {
			if got != nil {
				fail()
			}
			return
		}
		for name, inner := range orig.(map[string]any) {
			for _, b := range t.branches {
				if b.kind == "null" || avBranchName(b) != name {
					continue
				}
				// hamba decodes some unions with one non-null branch bare,
				// others as {"branch": value}. Map keys (k0, k1, …) and
				// field names (f0, …) never equal a branch name.
				g := got
				if gm, ok := got.(map[string]any); ok && len(gm) == 1 {
					if inner, ok := gm[name]; ok {
						g = inner
					}
				}
				c.avro(b, inner, g, sel, path)
			}
		}
	default:
		if !reflect.DeepEqual(orig, got) && !(t.kind == "int" && int64(orig.(int32)) == reflect.ValueOf(got).Int()) {
			fail()
		}
	}
}

// leakRun generates, serializes and checks one schema for a seed.
type leakRun func(t *testing.T, env *leakEnv, r schemaregistry.Rule, seed uint64)

// runGeneratedLeak runs 2,000 seeds (300 with -short) of one format's
// generated-schema leak test and checks the generator stayed balanced.
func runGeneratedLeak(t *testing.T, format string, run leakRun) {
	env := newLeakEnv(t)
	r := rule(t, "local-kms", nil)
	n := uint64(2000)
	if testing.Short() {
		n = 300
	}
	for seed := uint64(1); seed <= n; seed++ {
		run(t, env, r, seed)
	}
	env.stats.log(t, format)
	if env.stats.ok < int(n)/3 || len(env.stats.refusals) < 3 || env.stats.selected < int(n) {
		t.Fatalf("the generator lost its balance: %+v", env.stats)
	}
}

// fuzzGeneratedLeak runs one generated schema per fuzzed seed.
func fuzzGeneratedLeak(f *testing.F, run leakRun) {
	f.Add(uint64(0))
	f.Fuzz(func(t *testing.T, seed uint64) {
		run(t, newLeakEnv(t), rule(t, "local-kms", nil), seed)
	})
}

// TestAvroLeakGenerated runs 2,000 generated schemas with fixed seeds.
func TestAvroLeakGenerated(t *testing.T) { runGeneratedLeak(t, "Avro", runAvroLeak) }

// FuzzAvroLeak runs one generated schema per seed.
func FuzzAvroLeak(f *testing.F) { fuzzGeneratedLeak(f, runAvroLeak) }
