package testvectors

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/tagseal/tagseal"
)

// Value returns the vector's plaintext as a value tagseal's Serializer
// takes: an Avro generic value, the JSON document, or a dynamic Protobuf
// message of the record's message type.
func (v *Vector) Value() (any, error) {
	switch v.Format {
	case tagseal.TypeAvro:
		plan, err := compileAvro(v)
		if err != nil {
			return nil, err
		}
		return plan.FromJSON(v.Plaintext)
	case tagseal.TypeJSONSchema:
		return json.RawMessage(v.Plaintext), nil
	case tagseal.TypeProtobuf:
		return protoPlaintext(v)
	}
	return nil, fmt.Errorf("unknown format %q", v.Format)
}

// WriteMessage serializes the vector's plaintext with tagseal, framed as
// the vector's record is, over a fresh registry set up from the vector.
func WriteMessage(v *Vector) ([]byte, []tagseal.Header, error) {
	ctx := context.Background()
	reg, err := NewRegistry(ctx, v)
	if err != nil {
		return nil, nil, err
	}
	if v.FramingOrDefault() == FramingGUID {
		return nil, nil, fmt.Errorf("tagseal writes the schema GUID in a header only, not as a value prefix")
	}
	conf := tagseal.SerializerConfig{
		UseSchemaID: v.Record().ID,
		Keys:        tagseal.Keys{RuleConfig: map[string]string{"secret": v.LocalKMSSecret}},
	}
	if v.FramingOrDefault() == FramingGUIDHeader {
		// A schema looked up by id comes without its GUID (registry.Schema
		// has none): resolve the record's schema as the subject's latest.
		conf.UseSchemaID, conf.UseLatestVersion, conf.SchemaIDInHeader = 0, true, true
	}
	ser, err := tagseal.NewSerializer(reg, tagseal.Value, conf)
	if err != nil {
		return nil, nil, err
	}
	value, err := v.Value()
	if err != nil {
		return nil, nil, err
	}
	headers, payload, err := ser.SerializeWithHeaders(ctx, v.Topic, value)
	return payload, headers, err
}

// ReadJSON reads the vector's record with tagseal and returns the
// plaintext in the vector's JSON conventions (SPEC.md §9).
func ReadJSON(v *Vector) (json.RawMessage, error) {
	payload, headers, err := v.Message()
	if err != nil {
		return nil, err
	}
	got, err := ReadMessage(v, payload, headers)
	if err != nil {
		return nil, err
	}
	switch m := got.(type) {
	case proto.Message:
		return protojson.Marshal(m)
	}
	if v.Format == tagseal.TypeAvro {
		return json.Marshal(AvroJSON(got))
	}
	return json.Marshal(got)
}

// AvroJSON converts a generic Avro value (as tagseal and hamba/avro
// decode one) to the form of Avro's JSON encoding that json.Marshal
// writes: bytes and fixed as strings of U+0000..U+00FF characters, maps,
// records and union wrappers ({"branch": value}) as objects.
func AvroJSON(v any) any {
	switch x := v.(type) {
	case []byte:
		return latin1(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = AvroJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = AvroJSON(e)
		}
		return out
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 {
		b := make([]byte, rv.Len())
		reflect.Copy(reflect.ValueOf(b), rv)
		return latin1(b)
	}
	return v
}

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}
