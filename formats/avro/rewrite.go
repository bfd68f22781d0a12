package avro

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/tagseal/tagseal/internal/leaf"
)

// Transformer receives each tagged value; see leaf.Transformer.
type Transformer = leaf.Transformer

// maxDepth bounds nesting so hostile input on a recursive schema cannot
// exhaust the stack.
const maxDepth = 512

// maxZeroSizeItems bounds block counts of items that encode to zero bytes.
const maxZeroSizeItems = 1 << 20

// Rewrite walks the Avro encoding in in once and appends to out a copy in
// which every tagged string/bytes value is replaced by fn's result. Untagged
// bytes are copied in bulk. The walk also validates the structure (lengths,
// block counts, union indexes, nesting), so its output is safe to hand to a
// decoder even when nothing is tagged.
func (p *Plan) Rewrite(in, out []byte, fn Transformer) ([]byte, error) {
	w := rewriter{in: in, out: out, fn: fn}
	if err := w.walk(p.root, 0); err != nil {
		return nil, err
	}
	if w.pos != len(in) {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(in)-w.pos)
	}
	w.out = append(w.out, in[w.last:]...)
	return w.out, nil
}

type rewriter struct {
	in      []byte
	pos     int
	last    int // start of the input not yet copied to out
	out     []byte
	scratch []byte
	fn      Transformer
}

func (w *rewriter) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format+" at offset %d", append([]any{ErrMalformed}, append(args, w.pos)...)...)
}

func (w *rewriter) varint() (int64, error) {
	v, n := binary.Varint(w.in[w.pos:])
	if n <= 0 {
		return 0, w.errorf("bad varint")
	}
	w.pos += n
	return v, nil
}

func (w *rewriter) skip(n int) error {
	if n < 0 || n > len(w.in)-w.pos {
		return w.errorf("truncated")
	}
	w.pos += n
	return nil
}

func (w *rewriter) walk(n *node, depth int) error {
	if depth > maxDepth {
		return w.errorf("nesting deeper than %d", maxDepth)
	}
	if n.refused != "" {
		return fmt.Errorf("%w: field %s holds a union branch that cannot be encrypted", ErrUnsupportedTaggedType, n.refused)
	}
	switch n.kind {
	case kNull:
		return nil
	case kBoolean:
		return w.skip(1)
	case kVarint:
		_, err := w.varint()
		return err
	case kFloat:
		return w.skip(4)
	case kDouble:
		return w.skip(8)
	case kFixed:
		return w.skip(n.size)
	case kString, kBytes:
		return w.value(n)
	case kRecord:
		for _, f := range n.fields {
			if err := w.walk(f, depth+1); err != nil {
				return err
			}
		}
		return nil
	case kArray, kMap:
		return w.blocks(n, depth)
	case kUnion:
		idx, err := w.varint()
		if err != nil {
			return err
		}
		if idx < 0 || idx >= int64(len(n.branches)) {
			return w.errorf("union index %d out of range", idx)
		}
		return w.walk(n.branches[idx], depth+1)
	}
	return w.errorf("unknown node")
}

func (w *rewriter) value(n *node) error {
	start := w.pos
	length, err := w.varint()
	if err != nil {
		return err
	}
	if length < 0 || length > int64(len(w.in)-w.pos) {
		return w.errorf("truncated string/bytes")
	}
	end := w.pos + int(length)
	if n.leaf == nil {
		w.pos = end
		return nil
	}
	res, err := w.fn.Transform(n.leaf.Path, n.leaf.Kind == String, n.leaf.Rules, w.in[w.pos:end], w.scratch[:0])
	if err != nil {
		return err
	}
	w.out = append(w.out, w.in[w.last:start]...)
	w.out = binary.AppendVarint(w.out, int64(len(res)))
	w.out = append(w.out, res...)
	w.scratch = res[:0]
	w.pos, w.last = end, end
	return nil
}

func (w *rewriter) blocks(n *node, depth int) error {
	for {
		count, err := w.varint()
		if err != nil {
			return err
		}
		if count == 0 {
			return nil
		}
		if count < 0 {
			if count == math.MinInt64 {
				return w.errorf("bad block count")
			}
			count = -count
			if _, err := w.varint(); err != nil { // block size in bytes
				return err
			}
		}
		per := n.elem.minSize
		if n.kind == kMap {
			per++ // key length
		}
		if per == 0 && count > maxZeroSizeItems || per > 0 && count > int64(len(w.in)-w.pos)/int64(per) {
			return w.errorf("block count %d exceeds payload", count)
		}
		for i := int64(0); i < count; i++ {
			if n.kind == kMap {
				klen, err := w.varint()
				if err != nil {
					return err
				}
				if klen < 0 {
					return w.errorf("negative map key length")
				}
				if err := w.skip(int(min(klen, math.MaxInt32))); err != nil {
					return err
				}
			}
			if err := w.walk(n.elem, depth+1); err != nil {
				return err
			}
		}
	}
}
