package avro

import (
	"fmt"
	"reflect"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"
	"github.com/hamba/avro/v2"
)

// SchemaOf derives the schema to auto-register for a value: its own
// Schema() method when it has one, else Confluent's struct mapping, so
// tagseal registers exactly what Confluent's avrov2 serializer would.
func SchemaOf(v any) (string, error) {
	if s, ok := v.(interface{ Schema() avro.Schema }); ok {
		return s.Schema().String(), nil
	}
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer {
		return "", fmt.Errorf("%w: auto-registration needs a pointer to a struct, got %T", ErrEncode, v)
	}
	s, err := avrov2.StructToSchema(t.Elem())
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrEncode, err)
	}
	return s.String(), nil
}
