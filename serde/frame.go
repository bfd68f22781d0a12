package serde

import (
	"encoding/binary"
	"fmt"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/google/uuid"
)

// schemaRef is a writer schema reference read from a frame or header.
type schemaRef struct {
	id   int
	guid uuid.UUID
}

// readFrame finds the writer schema: a GUID header (__value_schema_id or
// __key_schema_id) if present and valid, else the payload prefix 0x00+id or
// 0x01+GUID. It returns how many payload bytes the frame used. Unlike
// Confluent's SchemaID.FromBytes it never indexes past the payload.
func readFrame(serdeType cserde.Type, headers []kafka.Header, payload []byte) (schemaRef, int, error) {
	headerKey := cserde.ValueSchemaIDHeader
	if serdeType == cserde.KeySerde {
		headerKey = cserde.KeySchemaIDHeader
	}
	for _, h := range headers {
		if h.Key == headerKey && len(h.Value) > 0 {
			if ref, _, err := parsePrefix(h.Value); err == nil {
				return ref, 0, nil
			}
		}
	}
	return parsePrefix(payload)
}

func parsePrefix(b []byte) (schemaRef, int, error) {
	if len(b) == 0 {
		return schemaRef{}, 0, fmt.Errorf("%w: empty", ErrShortPayload)
	}
	switch b[0] {
	case cserde.MagicByteV0:
		if len(b) < 5 {
			return schemaRef{}, 0, fmt.Errorf("%w: %d bytes, need 5 for magic byte and schema id", ErrShortPayload, len(b))
		}
		return schemaRef{id: int(binary.BigEndian.Uint32(b[1:5]))}, 5, nil
	case cserde.MagicByteV1:
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
	dst = append(dst, cserde.MagicByteV0)
	return binary.BigEndian.AppendUint32(dst, uint32(id))
}
