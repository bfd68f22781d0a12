package avro

import (
	"encoding"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
)

// SchemaOf derives the schema to auto-register for a value: its own
// Schema() method when it has one, else Confluent's struct mapping, so
// tagseal registers exactly the text Confluent's avrov2 serializer would
// (and so gets the same schema id).
func SchemaOf(v any) (string, error) {
	if s, ok := v.(interface{ Schema() avro.Schema }); ok {
		return s.Schema().String(), nil
	}
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer {
		return "", fmt.Errorf("%w: auto-registration needs a pointer to a struct, got %T", ErrEncode, v)
	}
	s, err := structToSchema(t.Elem(), map[reflect.Type]bool{})
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrEncode, err)
	}
	return s.String(), nil
}

// structToSchema maps a Go type to an Avro schema the way
// confluent-kafka-go's avrov2.StructToSchema (v2.15, Apache-2.0) does,
// rule for rule, without importing it (its package links librdkafka).
// Unlike it, a recursive type is an error rather than endless recursion.
func structToSchema(t reflect.Type, onPath map[reflect.Type]bool) (avro.Schema, error) {
	switch t.Kind() {
	case reflect.Struct:
		if t.ConvertibleTo(reflect.TypeOf(time.Time{})) {
			return avro.NewPrimitiveSchema(avro.Long, avro.NewPrimitiveLogicalSchema(avro.TimestampMillis)), nil
		}
		if t.Implements(reflect.TypeOf((*encoding.TextMarshaler)(nil)).Elem()) {
			subtype := strings.Split(t.String(), ".")
			return avro.NewPrimitiveSchema(avro.String, nil, avro.WithProps(map[string]any{"subtype": strings.ToLower(subtype[len(subtype)-1])})), nil
		}
		if onPath[t] {
			return nil, fmt.Errorf("recursive type %s cannot be derived; register its schema", t)
		}
		onPath[t] = true
		defer delete(onPath, t)
		var fields []*avro.Field
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			s, err := structToSchema(f.Type, onPath)
			if err != nil {
				return nil, fmt.Errorf("StructToSchema: %w", err)
			}
			name := f.Tag.Get("avro")
			if name == "" {
				name = f.Name
			} else if name == "-" {
				continue
			}
			var field *avro.Field
			if def := defaultFor(s); def != nil {
				field, err = avro.NewField(name, s, avro.WithDefault(def))
			} else {
				field, err = avro.NewField(name, s)
			}
			if err != nil {
				return nil, fmt.Errorf("avro.NewField: %w", err)
			}
			fields = append(fields, field)
		}
		name := t.Name()
		if name == "" {
			name = "anonymous"
		}
		return avro.NewRecordSchema(name, "", fields)
	case reflect.Map:
		s, err := structToSchema(t.Elem(), onPath)
		if err != nil {
			return nil, fmt.Errorf("StructToSchema: %w", err)
		}
		return avro.NewMapSchema(s), nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			elem := strings.ToLower(t.Elem().String())
			switch {
			case strings.Contains(elem, "decimal"):
				return avro.NewPrimitiveSchema(avro.Bytes, avro.NewPrimitiveLogicalSchema(avro.Decimal)), nil
			case strings.Contains(elem, "uuid"):
				return avro.NewPrimitiveSchema(avro.String, avro.NewPrimitiveLogicalSchema(avro.UUID)), nil
			}
			return avro.NewPrimitiveSchema(avro.Bytes, nil), nil
		}
		s, err := structToSchema(t.Elem(), onPath)
		if err != nil {
			return nil, fmt.Errorf("StructToSchema: %w", err)
		}
		return avro.NewArraySchema(s), nil
	case reflect.Pointer:
		s, err := structToSchema(t.Elem(), onPath)
		if err != nil {
			return nil, fmt.Errorf("StructToSchema: %w", err)
		}
		union, err := avro.NewUnionSchema([]avro.Schema{avro.NewPrimitiveSchema(avro.Null, nil), s})
		if err != nil {
			return nil, fmt.Errorf("avro.NewUnionSchema: %v, type: %s", err, s.String())
		}
		return union, nil
	case reflect.Bool:
		return avro.NewPrimitiveSchema(avro.Boolean, nil), nil
	case reflect.Uint8, reflect.Int8:
		return avro.NewPrimitiveSchema(avro.Bytes, nil), nil
	case reflect.Int, reflect.Int16, reflect.Int32, reflect.Uint, reflect.Uint16, reflect.Uint32:
		name := strings.ToLower(t.String())
		switch {
		case strings.Contains(name, "date"):
			return avro.NewPrimitiveSchema(avro.Int, avro.NewPrimitiveLogicalSchema(avro.Date)), nil
		case strings.Contains(name, "time"):
			return avro.NewPrimitiveSchema(avro.Int, avro.NewPrimitiveLogicalSchema(avro.TimeMillis)), nil
		}
		return avro.NewPrimitiveSchema(avro.Int, nil), nil
	case reflect.Int64, reflect.Uint64:
		if strings.Contains(strings.ToLower(t.String()), "duration") {
			return avro.NewPrimitiveSchema(avro.Fixed, avro.NewPrimitiveLogicalSchema(avro.Duration)), nil
		}
		return avro.NewPrimitiveSchema(avro.Long, nil), nil
	case reflect.Float32:
		return avro.NewPrimitiveSchema(avro.Float, nil), nil
	case reflect.Float64:
		return avro.NewPrimitiveSchema(avro.Double, nil), nil
	case reflect.String:
		return avro.NewPrimitiveSchema(avro.String, nil), nil
	default:
		return nil, fmt.Errorf("unknown type %s", t.Kind().String())
	}
}

// defaultFor is the field default Confluent's mapping gives each type.
func defaultFor(s avro.Schema) any {
	switch s.Type() {
	case avro.String, avro.Bytes, avro.Enum, avro.Fixed:
		return ""
	case avro.Boolean:
		return false
	case avro.Int:
		return int(0)
	case avro.Long:
		return int64(0)
	case avro.Float:
		return float32(0.0)
	case avro.Double:
		return float64(0.0)
	case avro.Map:
		return make(map[string]any)
	case avro.Array:
		return []any{}
	default:
		return nil
	}
}
