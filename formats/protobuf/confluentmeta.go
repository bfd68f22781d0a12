package protobuf

import (
	"context"
	"embed"
	"fmt"
	"io"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/protoutil"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// The .proto files every registered Protobuf schema may import without a
// reference, as Confluent's serdes provide them: confluent/meta.proto (the
// field_meta, message_meta, … options that carry tags) and
// confluent/type/decimal.proto. They are copied from confluent-kafka-go
// v2.15 (Apache-2.0) and compiled here, not imported from its Go packages,
// so this package needs no cgo — and they are never registered in
// protoregistry.GlobalFiles, so a program that also links Confluent's
// generated copies has no registration conflict.
//
//go:embed confluent/meta.proto confluent/type/decimal.proto
var builtinFS embed.FS

// builtins maps an import path to its source. Confluent's Go package
// registers the decimal file as confluent/types/decimal.proto, its other
// clients as confluent/type/decimal.proto: both resolve.
var builtins = func() map[string]string {
	read := func(name string) string {
		b, err := builtinFS.ReadFile(name)
		if err != nil {
			panic(err) // embedded at build time
		}
		return string(b)
	}
	decimal := read("confluent/type/decimal.proto")
	return map[string]string{
		"confluent/meta.proto":          read("confluent/meta.proto"),
		"confluent/type/decimal.proto":  decimal,
		"confluent/types/decimal.proto": decimal,
	}
}()

// builtinResolver finds the built-in files.
var builtinResolver = &protocompile.SourceResolver{Accessor: func(path string) (io.ReadCloser, error) {
	if s, ok := builtins[path]; ok {
		return io.NopCloser(strings.NewReader(s)), nil
	}
	return nil, fmt.Errorf("no built-in %q: %w", path, protoregistry.NotFound)
}}

// The confluent.Meta options as dynamic extension types, and a resolver
// holding them, for reading tags out of compiled options.
var (
	metaFileMeta, metaMessageMeta, metaFieldMeta, metaEnumMeta, metaEnumValueMeta protoreflect.ExtensionType
	metaTypes                                                                     = new(protoregistry.Types)
	metaTagsField                                                                 protoreflect.FieldDescriptor
)

func init() {
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(builtinResolver),
		Reporter: reporter.NewReporter(nil, nil),
	}
	files, err := c.Compile(context.Background(), "confluent/meta.proto")
	if err != nil {
		panic(fmt.Sprintf("protobuf: built-in confluent/meta.proto: %v", err)) // embedded at build time
	}
	fd, err := protodesc.NewFile(protoutil.ProtoFromFileDescriptor(files[0]), protoregistry.GlobalFiles)
	if err != nil {
		panic(fmt.Sprintf("protobuf: built-in confluent/meta.proto: %v", err))
	}
	ext := func(name protoreflect.Name) protoreflect.ExtensionType {
		xt := dynamicpb.NewExtensionType(fd.Extensions().ByName(name))
		if err := metaTypes.RegisterExtension(xt); err != nil {
			panic(err)
		}
		return xt
	}
	metaFileMeta, metaMessageMeta, metaFieldMeta = ext("file_meta"), ext("message_meta"), ext("field_meta")
	metaEnumMeta, metaEnumValueMeta = ext("enum_meta"), ext("enum_value_meta")
	metaTagsField = fd.Messages().ByName("Meta").Fields().ByName("tags")
}

// metaTagsOf returns the tags of a confluent.Meta value read with one of
// the extension types above.
func metaTagsOf(v any) []string {
	m, ok := v.(proto.Message)
	if !ok || m == nil {
		return nil
	}
	list := m.ProtoReflect().Get(metaTagsField).List()
	tags := make([]string, list.Len())
	for i := range tags {
		tags[i] = list.Get(i).String()
	}
	return tags
}
