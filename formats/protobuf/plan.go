// Package protobuf compiles a registered .proto schema (with its imports,
// Confluent's confluent/meta.proto and the well-known types) once, resolves
// Confluent message indexes, and rewrites the tagged string/bytes fields of
// an encoded message in one pass over the wire format. Unknown fields and
// untagged bytes are copied unchanged.
//
// A field is tagged by the (confluent.field_meta).tags option or by
// metadata.tags on its full name (package.Message.field).
package protobuf

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/protoutil"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/tagseal/tagseal/internal/fmterr"
)

var (
	// ErrUnsupportedTaggedType: a tagged field is not string or bytes
	// (numbers, booleans, enums, messages, maps of messages).
	ErrUnsupportedTaggedType = fmterr.ErrUnsupportedTaggedType
	// ErrMalformed: invalid wire bytes or message indexes.
	ErrMalformed = fmterr.ErrMalformed
	// ErrSchema: the .proto text or an import does not compile.
	ErrSchema = fmterr.ErrSchema
	// ErrEncode: the value is not a proto.Message of a type in the schema.
	ErrEncode = fmterr.ErrEncode
	// ErrDecode: plaintext bytes cannot be unmarshalled into the target.
	ErrDecode = fmterr.ErrDecode
	// ErrUnplaceableTag (in a *PlanError): a tag sits where the walk cannot
	// encrypt what it tags — a map key, an extension, a group, a message,
	// enum or file option, or an Any in a tagged schema.
	ErrUnplaceableTag = fmterr.ErrUnplaceableTag
)

// PlanError is the plan-time refusal of one place in a schema: Path is the
// field, message, enum or file, Keyword the construct ("map key", "group",
// "extension", "(confluent.message_meta).tags", the field's type, …). It
// wraps ErrUnsupportedTaggedType or ErrUnplaceableTag.
type PlanError = fmterr.PlanError

// rootFile is the name the registered schema is compiled under.
const rootFile = "tagseal-root.proto"

// RuleSelector tells which rules apply to a field with the given full name.
type RuleSelector interface {
	RulesFor(fullName string, inlineTags []string) []int
}

// Reference is an imported file, by the import path it is registered under.
type Reference struct {
	Name   string
	Schema string
}

// Leaf is a tagged field whose values are rewritten.
type Leaf struct {
	Path  string // field full name
	Bytes bool   // bytes field (raw ciphertext) rather than string (base64)
	Rules []int
	// wrapped: the field is a google.protobuf.StringValue or BytesValue
	// whose value (field 1) is rewritten.
	wrapped bool
}

// Plan is a compiled schema file. It is safe for concurrent use.
type Plan struct {
	file     protoreflect.FileDescriptor
	messages map[protoreflect.FullName]*message
	tagged   bool
}

// message is the walk plan of one message type.
type message struct {
	desc   protoreflect.MessageDescriptor
	fields map[protowireNumber]*fieldPlan
	// deep reports whether the message or anything under it has a tagged
	// field; other submessages are copied without a walk.
	deep bool
	// covered are the rules that select every field (for message_meta tags).
	covered []int
	// implicit are the tagged singular string fields outside any oneof.
	// Confluent encrypts them even when unset (the empty string), and its
	// readers expect ciphertext there, so writes fill them in when absent.
	implicit []*fieldPlan
}

type protowireNumber = int32

type fieldPlan struct {
	desc protoreflect.FieldDescriptor
	leaf *Leaf    // tagged string/bytes (also a tagged map's string values)
	sub  *message // message-typed field (incl. map entries)
}

// Compile compiles schema and its imports and builds the walk plan for
// every message in the schema file and its dependencies.
func Compile(schema string, refs []Reference, sel RuleSelector) (p *Plan, err error) {
	sources := map[string]string{rootFile: schema}
	for _, r := range refs {
		sources[r.Name] = r.Schema
	}
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(protocompile.CompositeResolver{
			&protocompile.SourceResolver{Accessor: func(path string) (io.ReadCloser, error) {
				if s, ok := sources[path]; ok {
					return io.NopCloser(strings.NewReader(s)), nil
				}
				return nil, fmt.Errorf("no reference %q: %w", path, protoregistry.NotFound)
			}},
			builtinResolver,
		}),
		Reporter: reporter.NewReporter(nil, nil),
	}
	files, err := c.Compile(context.Background(), rootFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSchema, err)
	}
	// The linker's descriptors resolve editions features on every call,
	// which dynamicpb makes per field; rebuild them as protodesc files.
	file, err := standardFile(files[0], new(protoregistry.Files), sources)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSchema, err)
	}
	p = &Plan{file: file, messages: map[protoreflect.FullName]*message{}}
	b := &builder{plan: p, sel: sel, sources: sources}
	if err := b.file(p.file, map[string]bool{}); err != nil {
		return nil, err
	}
	b.markDeep()
	if err := b.unwalked(); err != nil {
		return nil, err
	}
	return p, nil
}

// standardFile converts fd and its imports to protodesc descriptors,
// reusing the program's own descriptors of files that do not come from the
// registry (well-known types, confluent/meta.proto).
func standardFile(fd protoreflect.FileDescriptor, files *protoregistry.Files, sources map[string]string) (protoreflect.FileDescriptor, error) {
	if have, err := files.FindFileByPath(fd.Path()); err == nil {
		return have, nil
	}
	_, fromRegistry := sources[fd.Path()]
	_, builtin := builtins[fd.Path()]
	if global, err := protoregistry.GlobalFiles.FindFileByPath(fd.Path()); err == nil && !fromRegistry && !builtin {
		if err := files.RegisterFile(global); err != nil {
			return nil, err
		}
		return global, nil
	}
	for i := 0; i < fd.Imports().Len(); i++ {
		if _, err := standardFile(fd.Imports().Get(i).FileDescriptor, files, sources); err != nil {
			return nil, err
		}
	}
	out, err := protodesc.NewFile(protoutil.ProtoFromFileDescriptor(fd), files)
	if err != nil {
		return nil, err
	}
	if err := files.RegisterFile(out); err != nil {
		return nil, err
	}
	return out, nil
}

type builder struct {
	plan    *Plan
	sel     RuleSelector
	sources map[string]string
	all     []*message
	exts    []extension
}

// extension is an extension field declared in a registered file, with the
// plan of its message type when it has one.
type extension struct {
	desc protoreflect.ExtensionDescriptor
	sub  *message
}

// file builds the plans of every message declared in the registered files
// (the schema and its references) and of every message they reach (the
// well-known types, confluent/meta.proto). Messages of imported standard
// files nothing reaches are left alone: no value of them can occur.
func (b *builder) file(fd protoreflect.FileDescriptor, seen map[string]bool) error {
	if seen[fd.Path()] {
		return nil
	}
	seen[fd.Path()] = true
	for i := 0; i < fd.Imports().Len(); i++ {
		if err := b.file(fd.Imports().Get(i).FileDescriptor, seen); err != nil {
			return err
		}
	}
	if _, registered := b.sources[fd.Path()]; !registered {
		return nil
	}
	if err := b.optionTags(fd.Path(), fd.Options(), metaFileMeta, "(confluent.file_meta).tags", nil); err != nil {
		return err
	}
	if err := b.enums(fd.Enums()); err != nil {
		return err
	}
	if err := b.extensions(fd.Extensions()); err != nil {
		return err
	}
	return b.messages(fd.Messages())
}

func (b *builder) messages(ms protoreflect.MessageDescriptors) error {
	for i := 0; i < ms.Len(); i++ {
		md := ms.Get(i)
		m, err := b.message(md)
		if err != nil {
			return err
		}
		if err := b.optionTags(string(md.FullName()), md.Options(), metaMessageMeta, "(confluent.message_meta).tags", append([]int{}, m.covered...)); err != nil {
			return err
		}
		if err := b.enums(md.Enums()); err != nil {
			return err
		}
		if err := b.extensions(md.Extensions()); err != nil {
			return err
		}
		if err := b.messages(md.Messages()); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) enums(es protoreflect.EnumDescriptors) error {
	for i := 0; i < es.Len(); i++ {
		ed := es.Get(i)
		if err := b.optionTags(string(ed.FullName()), ed.Options(), metaEnumMeta, "(confluent.enum_meta).tags", nil); err != nil {
			return err
		}
		for j := 0; j < ed.Values().Len(); j++ {
			vd := ed.Values().Get(j)
			if err := b.optionTags(string(vd.FullName()), vd.Options(), metaEnumValueMeta, "(confluent.enum_value_meta).tags", nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// extensions refuses a tagged extension field: the walk knows the fields
// of a message's own descriptor only, so it would copy the extension's
// values unchanged. An extension whose message type holds tagged fields is
// refused after markDeep.
func (b *builder) extensions(xs protoreflect.ExtensionDescriptors) error {
	for i := 0; i < xs.Len(); i++ {
		xd := xs.Get(i)
		inline, err := fieldTags(xd)
		if err != nil {
			return err
		}
		if len(b.sel.RulesFor(string(xd.FullName()), inline)) > 0 {
			return &PlanError{Path: string(xd.FullName()), Keyword: "extension", Err: ErrUnplaceableTag,
				Reason: "extension fields are not rewritten"}
		}
		x := extension{desc: xd}
		if xd.Kind() == protoreflect.MessageKind || xd.Kind() == protoreflect.GroupKind {
			if x.sub, err = b.message(xd.Message()); err != nil {
				return err
			}
		}
		b.exts = append(b.exts, x)
	}
	return nil
}

// optionTags refuses (confluent.file_meta), (confluent.message_meta),
// (confluent.enum_meta) and (confluent.enum_value_meta) tags that select a
// rule: Confluent reads tags from fields only, so they would encrypt
// nothing. Allowed are tags no rule selects (inert), rules that select
// the name without them (or, for a message, covered: the rules that
// select every field of the message, whose values are encrypted anyway).
func (b *builder) optionTags(at string, opts proto.Message, xt protoreflect.ExtensionType, keyword string, covered []int) error {
	tags, err := metaTags(opts, xt)
	if err != nil {
		return &PlanError{Path: at, Keyword: keyword, Err: ErrUnplaceableTag, Reason: "options cannot be read: " + err.Error()}
	}
	if len(tags) == 0 {
		return nil
	}
	if covered == nil {
		covered = b.sel.RulesFor(at, nil)
	}
	for _, r := range b.sel.RulesFor(at, tags) {
		if !slices.Contains(covered, r) {
			return &PlanError{Path: at, Keyword: keyword, Err: ErrUnplaceableTag,
				Reason: "tags are read from fields only; put them on the field"}
		}
	}
	return nil
}

func (b *builder) message(md protoreflect.MessageDescriptor) (*message, error) {
	if m, ok := b.plan.messages[md.FullName()]; ok {
		return m, nil
	}
	m := &message{desc: md, fields: map[protowireNumber]*fieldPlan{}}
	b.plan.messages[md.FullName()] = m
	b.all = append(b.all, m)
	for i := 0; i < md.Fields().Len(); i++ {
		fd := md.Fields().Get(i)
		fp := &fieldPlan{desc: fd}
		inline, err := fieldTags(fd)
		if err != nil {
			return nil, err
		}
		rules := b.sel.RulesFor(string(fd.FullName()), inline)
		if i == 0 {
			m.covered = rules
		} else {
			m.covered = slices.DeleteFunc(slices.Clone(m.covered), func(r int) bool { return !slices.Contains(rules, r) })
		}
		if len(rules) > 0 && md.IsMapEntry() && fd.Number() == 1 {
			return nil, &PlanError{Path: string(fd.FullName()), Keyword: "map key", Err: ErrUnplaceableTag,
				Reason: "map keys are not encrypted; tag the map field to encrypt its values"}
		}
		if len(rules) > 0 {
			leaf, err := b.taggedLeaf(fd, rules)
			if err != nil {
				return nil, err
			}
			fp.leaf = leaf
			b.plan.tagged = true
			if fd.Kind() == protoreflect.StringKind && fd.Cardinality() != protoreflect.Repeated && fd.ContainingOneof() == nil {
				m.implicit = append(m.implicit, fp)
			}
		}
		if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
			sub, err := b.message(fd.Message())
			if err != nil {
				return nil, err
			}
			fp.sub = sub
		}
		m.fields[int32(fd.Number())] = fp
	}
	return m, nil
}

// Well-known wrappers whose value a tag on the wrapper field encrypts.
const (
	stringValue protoreflect.FullName = "google.protobuf.StringValue"
	bytesValue  protoreflect.FullName = "google.protobuf.BytesValue"
	anyMessage  protoreflect.FullName = "google.protobuf.Any"
)

// taggedLeaf checks that a tagged field can carry ciphertext: string or
// bytes, repeated or not, a map whose values are strings or bytes, or a
// google.protobuf.StringValue / BytesValue (alone, repeated or as map
// values), whose inner value is encrypted.
func (b *builder) taggedLeaf(fd protoreflect.FieldDescriptor, rules []int) (*Leaf, error) {
	vd := fd
	if fd.IsMap() {
		vd = fd.MapValue()
	}
	kind := vd.Kind()
	switch kind {
	case protoreflect.StringKind, protoreflect.BytesKind:
		return &Leaf{Path: string(fd.FullName()), Bytes: kind == protoreflect.BytesKind, Rules: rules}, nil
	}
	what := kind.String()
	if kind == protoreflect.MessageKind || kind == protoreflect.GroupKind || kind == protoreflect.EnumKind {
		switch name := descName(vd); name {
		case stringValue, bytesValue:
			return &Leaf{Path: string(fd.FullName()), Bytes: name == bytesValue, Rules: rules, wrapped: true}, nil
		default:
			what = string(name)
		}
	}
	if fd.IsMap() {
		what = "map<_, " + what + ">"
	}
	return nil, &PlanError{Path: string(fd.FullName()), Keyword: what, Err: ErrUnsupportedTaggedType,
		Reason: "the field is tagged but its type cannot carry ciphertext"}
}

func descName(fd protoreflect.FieldDescriptor) protoreflect.FullName {
	if fd.Enum() != nil {
		return fd.Enum().FullName()
	}
	return fd.Message().FullName()
}

// markDeep propagates "has a tagged field below" to a fixed point.
func (b *builder) markDeep() {
	for changed := true; changed; {
		changed = false
		for _, m := range b.all {
			if m.deep {
				continue
			}
			for _, f := range m.fields {
				if f.leaf != nil || f.sub != nil && f.sub.deep {
					m.deep, changed = true, true
					break
				}
			}
		}
	}
}

// unwalked refuses, once tags are known, the places whose values the walk
// copies without looking inside: group-encoded (delimited) message fields
// and extensions whose message holds tagged fields, and — in a tagged
// schema — google.protobuf.Any, which could pack a message with tagged
// fields.
func (b *builder) unwalked() error {
	for _, m := range b.all {
		for i := 0; i < m.desc.Fields().Len(); i++ {
			fd := m.desc.Fields().Get(i)
			f := m.fields[int32(fd.Number())]
			switch {
			case fd.Kind() == protoreflect.GroupKind && f.sub.deep:
				return &PlanError{Path: string(fd.FullName()), Keyword: "group", Err: ErrUnplaceableTag,
					Reason: "group-encoded messages are not walked; their tagged fields would be copied in clear"}
			case b.plan.tagged && fd.Kind() == protoreflect.MessageKind && fd.Message().FullName() == anyMessage:
				return &PlanError{Path: string(fd.FullName()), Keyword: string(anyMessage), Err: ErrUnplaceableTag,
					Reason: "packed messages are not walked, and this schema has tagged fields a packed message could hold"}
			}
		}
	}
	for _, x := range b.exts {
		if x.sub != nil && x.sub.deep {
			return &PlanError{Path: string(x.desc.FullName()), Keyword: "extension", Err: ErrUnplaceableTag,
				Reason: "extension fields are not rewritten; their message has tagged fields"}
		}
	}
	return nil
}

// fieldTags reads (confluent.field_meta).tags from a field's options.
func fieldTags(fd protoreflect.FieldDescriptor) ([]string, error) {
	tags, err := metaTags(fd.Options(), metaFieldMeta)
	if err != nil {
		return nil, &PlanError{Path: string(fd.FullName()), Keyword: "(confluent.field_meta).tags", Err: ErrUnplaceableTag,
			Reason: "options cannot be read: " + err.Error()}
	}
	return tags, nil
}

// metaTags reads the tags of a confluent.Meta option from options of any
// kind, whatever form the compiler left the extension in. An option that
// does not parse is an error, never "no tags".
func metaTags(opts proto.Message, xt protoreflect.ExtensionType) ([]string, error) {
	if opts == nil || !opts.ProtoReflect().IsValid() {
		return nil, nil
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(opts)
	if err != nil {
		return nil, err
	}
	parsed := opts.ProtoReflect().Type().New().Interface()
	if err := (proto.UnmarshalOptions{Resolver: metaTypes}).Unmarshal(raw, parsed); err != nil {
		return nil, err
	}
	if !proto.HasExtension(parsed, xt) {
		return nil, nil
	}
	return metaTagsOf(proto.GetExtension(parsed, xt)), nil
}

// Tagged reports whether any field of any message is tagged.
func (p *Plan) Tagged() bool { return p.tagged }

// File returns the compiled schema file.
func (p *Plan) File() protoreflect.FileDescriptor { return p.file }

// Name returns the full name of the first message, which record subject
// strategies use.
func (p *Plan) Name() string {
	if p.file.Messages().Len() == 0 {
		return ""
	}
	return string(p.file.Messages().Get(0).FullName())
}

// MessageAt resolves Confluent message indexes to a message descriptor of
// the schema file.
func (p *Plan) MessageAt(indexes []int) (protoreflect.MessageDescriptor, error) {
	if len(indexes) == 0 {
		return nil, fmt.Errorf("%w: no message index", ErrMalformed)
	}
	ms := p.file.Messages()
	var md protoreflect.MessageDescriptor
	for _, i := range indexes {
		if i < 0 || i >= ms.Len() {
			return nil, fmt.Errorf("%w: message index %v out of range", ErrMalformed, indexes)
		}
		md = ms.Get(i)
		ms = md.Messages()
	}
	return md, nil
}

// IndexesOf returns the Confluent message indexes of the message with the
// given full name in the schema file.
func (p *Plan) IndexesOf(name protoreflect.FullName) ([]int, error) {
	m, ok := p.messages[name]
	if !ok || m.desc.ParentFile().Path() != rootFile {
		return nil, fmt.Errorf("%w: message %s is not defined in the schema", ErrEncode, name)
	}
	md := m.desc
	var idx []int
	for d := protoreflect.Descriptor(md); ; d = d.Parent() {
		if _, isFile := d.(protoreflect.FileDescriptor); isFile {
			break
		}
		idx = append([]int{d.Index()}, idx...)
	}
	return idx, nil
}
