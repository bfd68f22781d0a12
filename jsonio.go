package tagseal

import (
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
)

// SerializeJSON serializes a record given as a JSON document, converted to
// the resolved schema's format: Avro's JSON encoding for Avro (unions as
// {"branch": value} or a bare value that fits one branch), the document
// itself for JSON Schema, and protojson for Protobuf (the schema's first
// message). It needs a schema to resolve (UseLatestVersion,
// UseLatestWithMetadata or UseSchemaID).
func (s *Serializer) SerializeJSON(ctx context.Context, topic string, doc []byte) ([]byte, error) {
	if s.derived {
		return nil, fmt.Errorf("%w: SerializeJSON needs UseLatestVersion, UseLatestWithMetadata or UseSchemaID", ErrEncode)
	}
	_, _, p, err := s.target(ctx, topic, nil)
	if err != nil {
		return nil, err
	}
	var value any
	switch plan := p.plan.(type) {
	case avroPlan:
		if value, err = plan.p.FromJSON(doc); err != nil {
			return nil, err
		}
	case jsonPlan:
		if !json.Valid(doc) {
			return nil, fmt.Errorf("%w: not a JSON document", ErrEncode)
		}
		value = json.RawMessage(doc)
	case protoPlan:
		md, err := plan.p.MessageAt([]int{0})
		if err != nil {
			return nil, err
		}
		m := dynamicpb.NewMessage(md)
		if err := protojson.Unmarshal(doc, m); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrEncode, err)
		}
		value = m
	}
	return s.Serialize(ctx, topic, value)
}

// DeserializeJSON reads a record and returns it as a JSON document: the
// plaintext document itself for JSON Schema, protojson for Protobuf, and
// encoding/json of the decoded value for Avro (bytes as base64, timestamps
// as RFC 3339).
func (d *Deserializer) DeserializeJSON(ctx context.Context, topic string, payload []byte) ([]byte, error) {
	v, err := d.Deserialize(ctx, topic, payload)
	if err != nil {
		return nil, err
	}
	if m, ok := v.(proto.Message); ok {
		return protojson.Marshal(m)
	}
	return json.Marshal(v)
}
