package tagseal

import (
	"encoding/binary"
	"fmt"

	"github.com/google/uuid"
)

// The magic bytes of the wire format: a 4-byte schema id follows 0x00, a
// 16-byte schema GUID follows 0x01.
const (
	magicID   byte = 0x00
	magicGUID byte = 0x01
)

// schemaRef is a writer schema reference read from a frame or header.
type schemaRef struct {
	id   int
	guid uuid.UUID
}

// frame is what precedes the message: the writer schema reference, where
// Protobuf message indexes would follow it, and how many payload bytes the
// prefix used.
type frame struct {
	ref      schemaRef
	rest     []byte // bytes after the id or GUID (header value or payload)
	inHeader bool
	n        int // payload bytes used by the prefix
}

// readFrame finds the writer schema: a GUID header (__value_schema_id or
// __key_schema_id) if present and valid, else the payload prefix 0x00+id or
// 0x01+GUID. Unlike Confluent's SchemaID.FromBytes it never indexes past
// the payload.
func readFrame(serdeType Type, headers []Header, payload []byte) (frame, error) {
	headerKey := ValueSchemaIDHeader
	if serdeType == Key {
		headerKey = KeySchemaIDHeader
	}
	for _, h := range headers {
		if h.Key == headerKey && len(h.Value) > 0 {
			if ref, n, err := parsePrefix(h.Value); err == nil {
				return frame{ref: ref, rest: h.Value[n:], inHeader: true}, nil
			}
		}
	}
	ref, n, err := parsePrefix(payload)
	if err != nil {
		return frame{}, err
	}
	return frame{ref: ref, rest: payload[n:], n: n}, nil
}

// messageIndexes reads Protobuf message indexes after the id: a zig-zag
// varint count then that many zig-zag varints; a single 0 means [0].
func (f *frame) messageIndexes() ([]int, error) {
	b := f.rest
	count, n := binary.Varint(b)
	if n <= 0 || count < 0 || count > int64(len(b)) {
		return nil, fmt.Errorf("%w: message indexes absent or malformed", ErrMalformedPayload)
	}
	used := n
	if count == 0 {
		if !f.inHeader {
			f.n += used
		}
		return []int{0}, nil
	}
	idx := make([]int, count)
	for i := range idx {
		v, k := binary.Varint(b[used:])
		if k <= 0 || v < 0 || v > 1<<20 {
			return nil, fmt.Errorf("%w: message indexes malformed", ErrMalformedPayload)
		}
		idx[i] = int(v)
		used += k
	}
	if !f.inHeader {
		f.n += used
	}
	return idx, nil
}

// appendMessageIndexes writes Protobuf message indexes as Confluent does.
func appendMessageIndexes(dst []byte, idx []int) []byte {
	if len(idx) == 1 && idx[0] == 0 {
		return append(dst, 0)
	}
	dst = binary.AppendVarint(dst, int64(len(idx)))
	for _, i := range idx {
		dst = binary.AppendVarint(dst, int64(i))
	}
	return dst
}

func parsePrefix(b []byte) (schemaRef, int, error) {
	if len(b) == 0 {
		return schemaRef{}, 0, fmt.Errorf("%w: empty", ErrShortPayload)
	}
	switch b[0] {
	case magicID:
		if len(b) < 5 {
			return schemaRef{}, 0, fmt.Errorf("%w: %d bytes, need 5 for magic byte and schema id", ErrShortPayload, len(b))
		}
		return schemaRef{id: int(binary.BigEndian.Uint32(b[1:5]))}, 5, nil
	case magicGUID:
		if len(b) < 17 {
			return schemaRef{}, 0, fmt.Errorf("%w: %d bytes, need 17 for magic byte and schema GUID", ErrShortPayload, len(b))
		}
		g, _ := uuid.FromBytes(b[1:17])
		return schemaRef{guid: g}, 17, nil
	default:
		return schemaRef{}, 0, fmt.Errorf("%w: 0x%02x", ErrUnknownMagicByte, b[0])
	}
}

// appendIDFrame appends Confluent's 0x00 + big-endian schema id prefix.
func appendIDFrame(dst []byte, id int) []byte {
	dst = append(dst, magicID)
	return binary.BigEndian.AppendUint32(dst, uint32(id))
}
