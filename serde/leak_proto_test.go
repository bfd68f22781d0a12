package serde_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/emptypb"

	pbformat "github.com/tagseal/tagseal/formats/protobuf"
	"github.com/tagseal/tagseal/serde"
	"github.com/tagseal/tagseal/tags"
)

// The Protobuf leak test: random .proto schemas (nested, imported, reused
// and recursive messages, repeated fields, maps, oneofs, wrappers, enums,
// Any), inline tags, message_meta tags and metadata.tags patterns over
// field full names; values with a marker in every string/bytes leaf. The
// reference selector below decides from the generator's model alone.

type pbMsg struct {
	name   string // full name
	short  string
	file   int // 0 root, 1 the imported reference
	parent *pbMsg
	nested []*pbMsg
	fields []*pbField
	tags   []string // (confluent.message_meta).tags
}

type pbField struct {
	name     string
	num      int
	kind     string // string bytes int32 int64 bool enum msg map sval bval ival any
	repeated bool
	oneof    string
	msg      *pbMsg // msg, and map values of kind msg
	mapVal   string // string bytes int32 msg
	inline   []string
}

type pbSchema struct {
	msgs     []*pbMsg // all, root file first
	root     *pbMsg
	hasDep   bool
	metadata map[string][]string
}

func (f *pbField) entry(m *pbMsg) string {
	return m.name + "." + strings.ToUpper(f.name[:1]) + f.name[1:] + "Entry"
}

func genProtoSchema(seed uint64) *pbSchema {
	r := rand.New(rand.NewPCG(seed, 0x9b0))
	chance := func(p float64) bool { return r.Float64() < p }
	s := &pbSchema{metadata: map[string][]string{}}
	s.hasDep = chance(0.3)
	if s.hasDep {
		s.msgs = append(s.msgs, &pbMsg{name: "dp.D", short: "D", file: 1})
	}
	for i := 1; i <= 1+r.IntN(3); i++ {
		m := &pbMsg{name: fmt.Sprintf("lk.M%d", i), short: fmt.Sprintf("M%d", i)}
		s.msgs = append(s.msgs, m)
		if chance(0.4) {
			n := &pbMsg{name: m.name + ".N", short: "N", parent: m}
			m.nested = append(m.nested, n)
			s.msgs = append(s.msgs, n)
		}
	}
	for _, m := range s.msgs {
		if m.file == 0 && s.root == nil && m.parent == nil {
			s.root = m
		}
	}
	tagsFor := func(carrier bool) []string {
		p := 0.03
		if carrier {
			p = 0.35
		}
		switch {
		case chance(p):
			return []string{"PII"}
		case chance(0.08):
			return []string{"OTHER"}
		}
		return nil
	}
	oneofs := 0
	for _, m := range s.msgs {
		if chance(0.03) {
			m.tags = []string{"PII"}
		}
		for i := 0; i < 2+r.IntN(5); i++ {
			f := &pbField{name: fmt.Sprintf("f%d", i), num: i + 1}
			switch k := r.IntN(16); {
			case k <= 3:
				f.kind = "string"
			case k == 4:
				f.kind = "bytes"
			case k == 5:
				f.kind = []string{"int32", "int64", "bool", "enum"}[r.IntN(4)]
			case k <= 8:
				f.kind = "msg"
			case k <= 10:
				f.kind = "map"
				f.mapVal = []string{"string", "string", "bytes", "int32", "msg"}[r.IntN(5)]
			case k == 11:
				f.kind = "sval"
			case k == 12:
				f.kind = "bval"
			case k == 13:
				f.kind = "ival"
			case k == 14 && chance(0.2):
				f.kind = "any"
			default:
				f.kind = "string"
			}
			if f.kind == "msg" || f.mapVal == "msg" {
				// Any message: reuse, recursion (itself or an ancestor),
				// nested, imported. The imported file sees only itself.
				if m.file == 1 {
					f.msg = m
				} else {
					f.msg = s.msgs[r.IntN(len(s.msgs))]
				}
			}
			if m.file == 1 && (f.kind == "enum" || f.kind == "any" || f.kind == "ival" || f.kind == "sval" || f.kind == "bval") {
				f.kind = "string"
			}
			if f.kind != "map" && chance(0.25) {
				f.repeated = true
			}
			carrier := f.kind == "string" || f.kind == "bytes" || f.kind == "sval" || f.kind == "bval" ||
				f.kind == "map" && (f.mapVal == "string" || f.mapVal == "bytes")
			f.inline = tagsFor(carrier)
			m.fields = append(m.fields, f)
		}
		// A oneof over a run of singular, non-map fields.
		if chance(0.35) {
			start := r.IntN(len(m.fields))
			oneofs++
			for _, f := range m.fields[start:min(len(m.fields), start+1+r.IntN(3))] {
				if f.repeated || f.kind == "map" {
					break
				}
				f.oneof = fmt.Sprintf("o%d", oneofs)
			}
		}
	}
	// metadata.tags patterns.
	type fn struct {
		m *pbMsg
		f *pbField
	}
	var all []fn
	for _, m := range s.msgs {
		for _, f := range m.fields {
			all = append(all, fn{m, f})
		}
	}
	for i := r.IntN(4); i > 0; i-- {
		x := all[r.IntN(len(all))]
		var p string
		switch r.IntN(9) {
		case 0, 1:
			p = x.m.name + "." + x.f.name
		case 2:
			p = "**." + x.f.name
		case 3:
			p = "lk.*." + x.f.name
		case 4:
			p = x.m.name + ".*"
		case 5:
			if x.f.kind == "map" {
				p = x.f.entry(x.m) + ".value"
			} else {
				p = x.m.name + "." + x.f.name
			}
		case 6:
			if x.f.kind == "map" && chance(0.5) {
				p = x.f.entry(x.m) + ".key"
			} else {
				p = "**.f" + x.f.name[1:]
			}
		case 7:
			p = "dp.*.*"
		case 8:
			if chance(0.1) {
				p = "**"
			} else {
				p = "lk.Nothing.here"
			}
		}
		tag := "PII"
		if chance(0.15) {
			tag = "OTHER"
		}
		s.metadata[p] = append(s.metadata[p], tag)
	}
	return s
}

// Rendering.

func (s *pbSchema) texts() (main, dep string) {
	// Import only what the schema uses: compiling meta.proto's import of
	// descriptor.proto dominates the cost of a schema.
	uses := func(pred func(m *pbMsg, f *pbField) bool) bool {
		for _, m := range s.msgs {
			if m.file == 0 && m.tags != nil {
				if pred(m, nil) {
					return true
				}
			}
			for _, f := range m.fields {
				if m.file == 0 && pred(m, f) {
					return true
				}
			}
		}
		return false
	}
	var b strings.Builder
	b.WriteString("syntax = \"proto3\";\npackage lk;\n")
	if uses(func(m *pbMsg, f *pbField) bool { return f == nil || f.inline != nil }) {
		b.WriteString("import \"confluent/meta.proto\";\n")
	}
	if uses(func(_ *pbMsg, f *pbField) bool {
		return f != nil && (f.kind == "sval" || f.kind == "bval" || f.kind == "ival")
	}) {
		b.WriteString("import \"google/protobuf/wrappers.proto\";\n")
	}
	if uses(func(_ *pbMsg, f *pbField) bool { return f != nil && f.kind == "any" }) {
		b.WriteString("import \"google/protobuf/any.proto\";\n")
	}
	if s.hasDep {
		b.WriteString("import \"dep.proto\";\n")
	}
	b.WriteString("enum E { E0 = 0; E1 = 1; }\n")
	for _, m := range s.msgs {
		if m.file == 0 && m.parent == nil {
			s.render(&b, m)
		}
	}
	main = b.String()
	if s.hasDep {
		var d strings.Builder
		d.WriteString("syntax = \"proto3\";\npackage dp;\n")
		if slices.ContainsFunc(s.msgs[0].fields, func(f *pbField) bool { return f.inline != nil }) || s.msgs[0].tags != nil {
			d.WriteString("import \"confluent/meta.proto\";\n")
		}
		s.render(&d, s.msgs[0])
		dep = d.String()
	}
	return main, dep
}

func tagOption(tags []string) string {
	q := make([]string, len(tags))
	for i, t := range tags {
		q[i] = fmt.Sprintf("%q", t)
	}
	return "{tags: [" + strings.Join(q, ", ") + "]}"
}

func (s *pbSchema) render(b *strings.Builder, m *pbMsg) {
	fmt.Fprintf(b, "message %s {\n", m.short)
	if m.tags != nil {
		fmt.Fprintf(b, "  option (confluent.message_meta) = %s;\n", tagOption(m.tags))
	}
	for _, n := range m.nested {
		s.render(b, n)
	}
	typeOf := func(kind string, msg *pbMsg) string {
		switch kind {
		case "msg":
			return "." + msg.name
		case "enum":
			return ".lk.E"
		case "sval":
			return "google.protobuf.StringValue"
		case "bval":
			return "google.protobuf.BytesValue"
		case "ival":
			return "google.protobuf.Int64Value"
		case "any":
			return "google.protobuf.Any"
		}
		return kind
	}
	for i := 0; i < len(m.fields); {
		f := m.fields[i]
		if f.oneof != "" {
			fmt.Fprintf(b, "  oneof %s {\n", f.oneof)
			for ; i < len(m.fields) && m.fields[i].oneof == f.oneof; i++ {
				b.WriteString("  ")
				s.field(b, m.fields[i], typeOf)
			}
			b.WriteString("  }\n")
			continue
		}
		s.field(b, f, typeOf)
		i++
	}
	b.WriteString("}\n")
}

func (s *pbSchema) field(b *strings.Builder, f *pbField, typeOf func(string, *pbMsg) string) {
	typ := typeOf(f.kind, f.msg)
	if f.kind == "map" {
		typ = "map<string, " + typeOf(f.mapVal, f.msg) + ">"
	}
	rep := ""
	if f.repeated {
		rep = "repeated "
	}
	opt := ""
	if f.inline != nil {
		opt = fmt.Sprintf(" [(confluent.field_meta) = %s]", tagOption(f.inline))
	}
	fmt.Fprintf(b, "  %s%s %s = %d%s;\n", rep, typ, f.name, f.num, opt)
}

// The reference selector.

func (s *pbSchema) sel(m *pbMsg, f *pbField) bool {
	return selectedBy(s.metadata, m.name+"."+f.name, f.inline)
}

// valueSel: the map's values are selected by the map field's tags or by a
// pattern on the entry's value field.
func (s *pbSchema) valueSel(m *pbMsg, f *pbField) bool {
	return s.sel(m, f) || selectedBy(s.metadata, f.entry(m)+".value", nil)
}

func (s *pbSchema) expect() map[error]bool {
	out := map[error]bool{}
	tagged, hasAny := false, false
	for _, m := range s.msgs {
		all := len(m.fields) > 0
		for _, f := range m.fields {
			sel := s.sel(m, f)
			all = all && sel
			kind := f.kind
			if f.kind == "map" {
				if selectedBy(s.metadata, f.entry(m)+".key", nil) {
					out[serde.ErrUnplaceableTag] = true
				}
				sel = s.valueSel(m, f)
				kind = f.mapVal
			}
			hasAny = hasAny || f.kind == "any"
			if !sel {
				continue
			}
			switch kind {
			case "string", "bytes", "sval", "bval":
				tagged = true
			default:
				out[serde.ErrUnsupportedTaggedType] = true
			}
		}
		if slices.Contains(m.tags, "PII") && !all {
			out[serde.ErrUnplaceableTag] = true
		}
	}
	if tagged && hasAny {
		out[serde.ErrUnplaceableTag] = true
	}
	return out
}

// Values.

type pbValueGen struct {
	r      *rand.Rand
	prefix string
	n      int
	schema *pbSchema
	model  map[string]*pbMsg
}

func (v *pbValueGen) marker() string {
	v.n++
	return fmt.Sprintf("%s%05dQ", v.prefix, v.n)
}

func (v *pbValueGen) scalar(kind string, fd protoreflect.FieldDescriptor, md protoreflect.MessageDescriptor, depth int) (protoreflect.Value, bool) {
	switch kind {
	case "string":
		return protoreflect.ValueOfString(v.marker()), true
	case "bytes":
		return protoreflect.ValueOfBytes([]byte(v.marker())), true
	case "int32":
		return protoreflect.ValueOfInt32(int32(1 + v.r.IntN(99))), true
	case "int64":
		return protoreflect.ValueOfInt64(int64(1 + v.r.IntN(99))), true
	case "bool":
		return protoreflect.ValueOfBool(true), true
	case "enum":
		return protoreflect.ValueOfEnum(1), true
	case "sval", "bval", "ival":
		w := dynamicpb.NewMessage(md)
		inner := md.Fields().ByNumber(1)
		switch kind {
		case "sval":
			w.Set(inner, protoreflect.ValueOfString(v.marker()))
		case "bval":
			w.Set(inner, protoreflect.ValueOfBytes([]byte(v.marker())))
		default:
			w.Set(inner, protoreflect.ValueOfInt64(7))
		}
		return protoreflect.ValueOfMessage(w), true
	case "msg":
		if depth > 3 {
			return protoreflect.Value{}, false
		}
		return protoreflect.ValueOfMessage(v.message(md, depth+1)), true
	}
	return protoreflect.Value{}, false // any: left unset
}

func (v *pbValueGen) fill(s *pbSchema, m *pbMsg, msg *dynamicpb.Message, depth int) {
	md := msg.Descriptor()
	chosen := map[string]string{}
	for _, f := range m.fields {
		if f.oneof != "" {
			if _, ok := chosen[f.oneof]; !ok || v.r.IntN(2) == 0 {
				chosen[f.oneof] = f.name
			}
		}
	}
	for _, f := range m.fields {
		fd := md.Fields().ByName(protoreflect.Name(f.name))
		if f.oneof != "" && chosen[f.oneof] != f.name {
			continue
		}
		switch {
		case f.kind == "map":
			mp := msg.Mutable(fd).Map()
			for i := 0; i < v.r.IntN(4); i++ {
				val, ok := v.scalar(f.mapVal, fd.MapValue(), fd.MapValue().Message(), depth)
				if ok {
					mp.Set(protoreflect.ValueOfString(fmt.Sprintf("k%d", i)).MapKey(), val)
				}
			}
		case f.repeated:
			if f.kind == "any" {
				continue
			}
			l := msg.Mutable(fd).List()
			for i := 0; i < v.r.IntN(4); i++ {
				if val, ok := v.scalar(f.kind, fd, fd.Message(), depth); ok {
					l.Append(val)
				}
			}
		default:
			if val, ok := v.scalar(f.kind, fd, fd.Message(), depth); ok {
				msg.Set(fd, val)
			}
		}
	}
}

// message builds a value of md, whose model is found by name.
func (v *pbValueGen) message(md protoreflect.MessageDescriptor, depth int) *dynamicpb.Message {
	msg := dynamicpb.NewMessage(md)
	v.fill(v.schema, v.model[string(md.FullName())], msg, depth)
	return msg
}

// runProtoLeak generates, serializes and checks one schema.
func runProtoLeak(t *testing.T, env *leakEnv, r schemaregistry.Rule, seed uint64) {
	t.Helper()
	s := genProtoSchema(seed)
	main, dep := s.texts()
	describe := func() string {
		return fmt.Sprintf("seed %d\nschema:\n%s\ndep.proto:\n%s\nmetadata: %v", seed, main, dep, s.metadata)
	}
	topic := fmt.Sprintf("leak-proto-%d", seed)
	subject := topic + "-value"
	info := schemaregistry.SchemaInfo{Schema: main, SchemaType: "PROTOBUF",
		RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{r}}}
	if len(s.metadata) > 0 {
		info.Metadata = &schemaregistry.Metadata{Tags: s.metadata}
	}
	var refs []pbformat.Reference
	if dep != "" {
		if _, err := env.client.Register(topic+"-dep", schemaregistry.SchemaInfo{Schema: dep, SchemaType: "PROTOBUF"}, false); err != nil {
			t.Fatalf("register dep: %v\n%s", err, describe())
		}
		info.References = []schemaregistry.Reference{{Name: "dep.proto", Subject: topic + "-dep", Version: 1}}
		refs = []pbformat.Reference{{Name: "dep.proto", Schema: dep}}
	}
	if _, err := env.client.Register(subject, info, false); err != nil {
		t.Fatalf("register: %v\n%s", err, describe())
	}
	expect := s.expect()
	env.stats.schemas++
	var md protoreflect.MessageDescriptor
	var value proto.Message = &emptypb.Empty{}
	if len(expect) == 0 {
		// The plain descriptors, for building and decoding values only
		// (no rules, so no tag is looked at). A refused schema is refused
		// before any value is looked at, so it needs none.
		plain, err := pbformat.Compile(main, refs, &tags.RuleSet{})
		if err != nil {
			t.Fatalf("schema does not compile: %v\n%s", err, describe())
		}
		md = plain.File().Messages().ByName(protoreflect.Name(s.root.short))
		vg := &pbValueGen{r: rand.New(rand.NewPCG(seed, 0x7a2)), prefix: fmt.Sprintf("QP%08d", seed%100000000),
			schema: s, model: map[string]*pbMsg{}}
		for _, m := range s.msgs {
			vg.model[m.name] = m
		}
		value = vg.message(md, 0)
	}
	out, err := env.ser.Serialize(topic, value)
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
	// Frame: magic byte, id, then message indexes ([0] is one zero byte).
	if len(out) < 6 || out[5] != 0 {
		t.Fatalf("unexpected frame % x", out[:min(len(out), 8)])
	}
	decoded := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(out[6:], decoded); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, describe())
	}
	c := &leafChecker{t: t, env: env, subject: subject, out: out, meta: s.metadata, describe: describe}
	c.proto(s, s.root, value.ProtoReflect(), decoded)
}

func (c *leafChecker) proto(s *pbSchema, m *pbMsg, orig, got protoreflect.Message) {
	c.t.Helper()
	md := orig.Descriptor()
	for _, f := range m.fields {
		fd := md.Fields().ByName(protoreflect.Name(f.name))
		path := m.name + "." + f.name
		if orig.Has(fd) != got.Has(fd) {
			c.t.Fatalf("%s: presence changed\n%s", path, c.describe())
		}
		if !orig.Has(fd) {
			continue
		}
		ov, gv := orig.Get(fd), got.Get(fd)
		switch {
		case f.kind == "map":
			om, gm := ov.Map(), gv.Map()
			if om.Len() != gm.Len() {
				c.t.Fatalf("%s: map size changed\n%s", path, c.describe())
			}
			sel := s.valueSel(m, f)
			om.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				if !gm.Has(k) {
					c.t.Fatalf("%s: map key changed\n%s", path, c.describe())
				}
				c.protoValue(s, f.mapVal, f.msg, sel, v, gm.Get(k), path+"["+k.String()+"]")
				return true
			})
		case f.repeated:
			ol, gl := ov.List(), gv.List()
			if ol.Len() != gl.Len() {
				c.t.Fatalf("%s: list length changed\n%s", path, c.describe())
			}
			for i := 0; i < ol.Len(); i++ {
				c.protoValue(s, f.kind, f.msg, s.sel(m, f), ol.Get(i), gl.Get(i), fmt.Sprintf("%s[%d]", path, i))
			}
		default:
			c.protoValue(s, f.kind, f.msg, s.sel(m, f), ov, gv, path)
		}
	}
}

func (c *leafChecker) protoValue(s *pbSchema, kind string, msg *pbMsg, sel bool, ov, gv protoreflect.Value, path string) {
	c.t.Helper()
	switch kind {
	case "string":
		c.leaf(path, sel, true, []byte(ov.String()), []byte(gv.String()))
	case "bytes":
		c.leaf(path, sel, false, ov.Bytes(), gv.Bytes())
	case "sval", "bval":
		om, gm := ov.Message(), gv.Message()
		inner := om.Descriptor().Fields().ByNumber(1)
		if kind == "sval" {
			c.leaf(path+".value", sel, true, []byte(om.Get(inner).String()), []byte(gm.Get(inner).String()))
		} else {
			c.leaf(path+".value", sel, false, om.Get(inner).Bytes(), gm.Get(inner).Bytes())
		}
	case "msg":
		c.proto(s, msg, ov.Message(), gv.Message())
	case "ival":
		if !proto.Equal(ov.Message().Interface(), gv.Message().Interface()) {
			c.t.Fatalf("%s: untagged %s changed\n%s", path, kind, c.describe())
		}
	default:
		if ov.Interface() != gv.Interface() {
			c.t.Fatalf("%s: untagged %s changed\n%s", path, kind, c.describe())
		}
	}
}

// TestProtoLeakGenerated runs 2,000 generated schemas with fixed seeds.
// (Sequentially: the mock registry client is not safe for concurrent
// registration.)
func TestProtoLeakGenerated(t *testing.T) { runGeneratedLeak(t, "Protobuf", runProtoLeak) }

// FuzzProtoLeak runs one generated schema per seed.
func FuzzProtoLeak(f *testing.F) { fuzzGeneratedLeak(f, runProtoLeak) }
