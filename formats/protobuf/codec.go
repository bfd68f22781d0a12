package protobuf

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// errCodecPanic marks an error recovered from a panic in protobuf-go, so
// tests and fuzz targets can tell a hidden crash from a decode error.
var errCodecPanic = errors.New("codec panic")

// Encode marshals msg, which must be a message type defined in the schema
// file, and returns its Confluent message indexes.
func (p *Plan) Encode(v any) ([]byte, []int, error) {
	msg, ok := v.(proto.Message)
	if !ok {
		return nil, nil, fmt.Errorf("%w: Protobuf values must be proto.Message, got %T", ErrEncode, v)
	}
	idx, err := p.IndexesOf(msg.ProtoReflect().Descriptor().FullName())
	if err != nil {
		return nil, nil, err
	}
	// Deterministic: fields in number order and map entries by key, so the
	// same message always has the same bytes (Kafka keys partition on them).
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrEncode, err)
	}
	return b, idx, nil
}

// Decode unmarshals the message at indexes into target (a proto.Message of
// that type), or into a new message: the generated type when one is linked
// into the program, else a dynamic message.
func (p *Plan) Decode(indexes []int, data []byte, target any) (_ any, err error) {
	defer func() {
		// dynamicpb panics on some malformed map entries; bytes from the
		// wire must never crash the caller.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %w: %v", ErrDecode, errCodecPanic, r)
		}
	}()
	md, err := p.MessageAt(indexes)
	if err != nil {
		return nil, err
	}
	var msg proto.Message
	switch t := target.(type) {
	case nil:
		if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil {
			msg = mt.New().Interface()
		} else {
			msg = dynamicpb.NewMessage(md)
		}
	case proto.Message:
		if got := t.ProtoReflect().Descriptor().FullName(); got != md.FullName() {
			return nil, fmt.Errorf("%w: payload holds %s, target is %s", ErrDecode, md.FullName(), got)
		}
		msg = t
	default:
		return nil, fmt.Errorf("%w: Protobuf targets must be proto.Message, got %T", ErrDecode, target)
	}
	if err := proto.Unmarshal(data, msg); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	return msg, nil
}
