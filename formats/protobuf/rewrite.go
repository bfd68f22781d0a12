package protobuf

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tagseal/tagseal/internal/leaf"
)

// Transformer receives each tagged value; see leaf.Transformer.
type Transformer = leaf.Transformer

const maxDepth = 100 // as protobuf-go's default recursion limit

// Rewrite walks the message at indexes in in and appends to out a copy in
// which every tagged string/bytes value is replaced by fn's result. With
// fillAbsent (writes), tagged singular string fields the message leaves
// unset are written as fn("") at the end of their message, as Confluent's
// serializers do.
func (p *Plan) Rewrite(indexes []int, in, out []byte, fn Transformer, fillAbsent bool) ([]byte, error) {
	md, err := p.MessageAt(indexes)
	if err != nil {
		return nil, err
	}
	w := &rewriter{fn: fn, fill: fillAbsent}
	return w.message(p.messages[md.FullName()], in, out, nil, 0, 0)
}

type rewriter struct {
	fn      Transformer
	fill    bool
	scratch []byte
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// message rewrites one encoded message. inherited is the leaf of the field
// holding this message, which applies to its field number inheritedNum: a
// tagged map field's entry (its value, 2), or a tagged
// google.protobuf.StringValue / BytesValue (its value, 1).
func (w *rewriter) message(m *message, in, out []byte, inherited *Leaf, inheritedNum protowire.Number, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, malformed("nesting deeper than %d", maxDepth)
	}
	last := 0
	var seen []bool
	if w.fill && len(m.implicit) > 0 {
		seen = make([]bool, len(m.implicit))
	}
	// A tagged StringValue's value is filled in when absent, like a tagged
	// string field, so an empty value is ciphertext too.
	fillWrapped := w.fill && inherited != nil && inheritedNum == 1 && inherited.wrapped && !inherited.Bytes
	for pos := 0; pos < len(in); {
		start := pos
		num, typ, n := protowire.ConsumeTag(in[pos:])
		if n < 0 {
			return nil, malformed("bad tag at offset %d", pos)
		}
		pos += n
		vlen := protowire.ConsumeFieldValue(num, typ, in[pos:])
		if vlen < 0 {
			return nil, malformed("bad value of field %d at offset %d", num, pos)
		}
		f := m.fields[int32(num)]
		if f != nil && !wireTypeFits(f.desc, typ) {
			return nil, malformed("field %s has wire type %d", f.desc.FullName(), typ)
		}
		if f == nil || typ != protowire.BytesType {
			if f != nil && (f.leaf != nil || inherited != nil && num == inheritedNum) && !f.desc.IsMap() {
				return nil, malformed("tagged field %s has wire type %d", f.desc.FullName(), typ)
			}
			pos += vlen
			continue
		}
		value, vn := protowire.ConsumeBytes(in[pos:])
		end := pos + vn
		leaf := f.leaf
		if inherited != nil && num == inheritedNum {
			leaf = inherited
			if num == 1 {
				fillWrapped = false
			}
		}
		switch {
		case f.desc.IsMap() && (leaf != nil || f.sub.deep):
			entry, err := w.message(f.sub, value, nil, f.leaf, 2, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, in[last:start]...)
			out = protowire.AppendTag(out, num, protowire.BytesType)
			out = protowire.AppendBytes(out, entry)
		case leaf != nil && f.sub == nil:
			for i, imp := range m.implicit {
				if seen != nil && imp == f {
					seen[i] = true
				}
			}
			res, err := w.fn.Transform(leaf.Path, !leaf.Bytes, leaf.Rules, value, w.scratch[:0])
			if err != nil {
				return nil, err
			}
			out = append(out, in[last:start]...)
			out = protowire.AppendTag(out, num, protowire.BytesType)
			out = protowire.AppendBytes(out, res)
			w.scratch = res[:0]
		case leaf != nil && leaf.wrapped:
			sub, err := w.message(f.sub, value, nil, leaf, 1, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, in[last:start]...)
			out = protowire.AppendTag(out, num, protowire.BytesType)
			out = protowire.AppendBytes(out, sub)
		case f.sub != nil && f.sub.deep:
			sub, err := w.message(f.sub, value, nil, nil, 0, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, in[last:start]...)
			out = protowire.AppendTag(out, num, protowire.BytesType)
			out = protowire.AppendBytes(out, sub)
		default:
			pos = end
			continue
		}
		pos, last = end, end
	}
	out = append(out, in[last:]...)
	if fillWrapped {
		res, err := w.fn.Transform(inherited.Path, true, inherited.Rules, nil, w.scratch[:0])
		if err != nil {
			return nil, err
		}
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendBytes(out, res)
		w.scratch = res[:0]
	}
	for i, imp := range m.implicit {
		if seen != nil && !seen[i] {
			res, err := w.fn.Transform(imp.leaf.Path, true, imp.leaf.Rules, nil, w.scratch[:0])
			if err != nil {
				return nil, err
			}
			out = protowire.AppendTag(out, imp.desc.Number(), protowire.BytesType)
			out = protowire.AppendBytes(out, res)
			w.scratch = res[:0]
		}
	}
	return out, nil
}

// wireTypeFits reports whether a wire type can encode a field of fd's kind
// (repeated scalars may also be packed).
func wireTypeFits(fd protoreflect.FieldDescriptor, typ protowire.Type) bool {
	packable := fd.Cardinality() == protoreflect.Repeated && !fd.IsMap()
	switch fd.Kind() {
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		return typ == protowire.BytesType
	case protoreflect.GroupKind:
		return typ == protowire.StartGroupType
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return typ == protowire.Fixed32Type || packable && typ == protowire.BytesType
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return typ == protowire.Fixed64Type || packable && typ == protowire.BytesType
	default: // varint kinds
		return typ == protowire.VarintType || packable && typ == protowire.BytesType
	}
}
