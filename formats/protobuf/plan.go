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
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/protoutil"
	"github.com/bufbuild/protocompile/reporter"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/confluent"
	_ "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/confluent/types" // confluent/type/decimal.proto
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

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
)

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
			protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
				fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
				if err != nil || !strings.HasPrefix(path, "confluent/") {
					return protocompile.SearchResult{}, protoregistry.NotFound
				}
				return protocompile.SearchResult{Desc: fd}, nil
			}),
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
	b := &builder{plan: p, sel: sel}
	if err := b.file(p.file, map[string]bool{}); err != nil {
		return nil, err
	}
	b.markDeep()
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
	if global, err := protoregistry.GlobalFiles.FindFileByPath(fd.Path()); err == nil && !fromRegistry {
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
	plan *Plan
	sel  RuleSelector
	all  []*message
}

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
	return b.messages(fd.Messages())
}

func (b *builder) messages(ms protoreflect.MessageDescriptors) error {
	for i := 0; i < ms.Len(); i++ {
		if _, err := b.message(ms.Get(i)); err != nil {
			return err
		}
		if err := b.messages(ms.Get(i).Messages()); err != nil {
			return err
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
		rules := b.sel.RulesFor(string(fd.FullName()), inlineTags(fd))
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

// taggedLeaf checks that a tagged field can carry ciphertext: string or
// bytes, repeated or not, or a map whose values are strings or bytes.
func (b *builder) taggedLeaf(fd protoreflect.FieldDescriptor, rules []int) (*Leaf, error) {
	kind := fd.Kind()
	if fd.IsMap() {
		kind = fd.MapValue().Kind()
	}
	switch kind {
	case protoreflect.StringKind, protoreflect.BytesKind:
		return &Leaf{Path: string(fd.FullName()), Bytes: kind == protoreflect.BytesKind, Rules: rules}, nil
	}
	what := kind.String()
	if fd.IsMap() {
		what = "map<_, " + what + ">"
	}
	return nil, fmt.Errorf("%w: field %s is tagged but has type %s", ErrUnsupportedTaggedType, fd.FullName(), what)
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

var fieldMetaTypes = func() *protoregistry.Types {
	t := new(protoregistry.Types)
	_ = t.RegisterExtension(confluent.E_FieldMeta)
	return t
}()

// inlineTags reads (confluent.field_meta).tags from a field's options,
// whatever form the compiler left the extension in.
func inlineTags(fd protoreflect.FieldDescriptor) []string {
	opts, ok := fd.Options().(*descriptorpb.FieldOptions)
	if !ok || opts == nil {
		return nil
	}
	raw, err := proto.Marshal(opts)
	if err != nil {
		return nil
	}
	parsed := &descriptorpb.FieldOptions{}
	if err := (proto.UnmarshalOptions{Resolver: fieldMetaTypes}).Unmarshal(raw, parsed); err != nil {
		return nil
	}
	if !proto.HasExtension(parsed, confluent.E_FieldMeta) {
		return nil
	}
	meta, _ := proto.GetExtension(parsed, confluent.E_FieldMeta).(*confluent.Meta)
	return meta.GetTags()
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
