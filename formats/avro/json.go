package avro

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"time"

	"github.com/hamba/avro/v2"
)

// FromJSON turns a JSON document into the generic values hamba/avro
// encodes with the plan's schema: records and maps as map[string]any,
// arrays as []any, ints as int32, longs as int64, bytes and fixed as the
// characters of a string (Avro's JSON encoding), unions either as
// {"branch": value} (Avro's JSON encoding) or as a bare value when one
// non-null branch fits, and logical types as their Go types.
func (p *Plan) FromJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEncode, err)
	}
	return fromJSON(p.schema, doc, "")
}

func fromJSON(s avro.Schema, v any, path string) (any, error) {
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	bad := func() (any, error) {
		return nil, fmt.Errorf("%w: %s: JSON %T does not fit Avro %s", ErrEncode, pathOr(path), v, s.Type())
	}
	switch s.Type() {
	case avro.Null:
		if v != nil {
			return bad()
		}
		return nil, nil
	case avro.Boolean:
		b, ok := v.(bool)
		if !ok {
			return bad()
		}
		return b, nil
	case avro.String:
		str, ok := v.(string)
		if !ok {
			return bad()
		}
		return str, nil
	case avro.Int, avro.Long, avro.Float, avro.Double:
		n, ok := v.(json.Number)
		if !ok {
			return bad()
		}
		return number(s, n, path)
	case avro.Bytes, avro.Fixed:
		if l := logicalOf(s); l == avro.Decimal {
			if n, ok := v.(json.Number); ok {
				r, ok := new(big.Rat).SetString(n.String())
				if !ok {
					return bad()
				}
				return r, nil
			}
		}
		str, ok := v.(string)
		if !ok {
			return bad()
		}
		raw := make([]byte, 0, len(str))
		for _, r := range str {
			if r > 0xff {
				return nil, fmt.Errorf("%w: %s: bytes in JSON are characters U+0000..U+00FF", ErrEncode, pathOr(path))
			}
			raw = append(raw, byte(r))
		}
		if f, ok := s.(*avro.FixedSchema); ok {
			if len(raw) != f.Size() {
				return nil, fmt.Errorf("%w: %s: fixed of size %d", ErrEncode, pathOr(path), f.Size())
			}
			if f.Logical() == nil {
				return fixedArray(raw), nil
			}
		}
		return raw, nil
	case avro.Enum:
		str, ok := v.(string)
		if !ok {
			return bad()
		}
		return str, nil
	case avro.Array:
		list, ok := v.([]any)
		if !ok {
			return bad()
		}
		out := make([]any, len(list))
		for i, item := range list {
			var err error
			if out[i], err = fromJSON(s.(*avro.ArraySchema).Items(), item, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return nil, err
			}
		}
		return out, nil
	case avro.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		out := make(map[string]any, len(m))
		for k, item := range m {
			var err error
			if out[k], err = fromJSON(s.(*avro.MapSchema).Values(), item, path+"."+k); err != nil {
				return nil, err
			}
		}
		return out, nil
	case avro.Record:
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		rs := s.(*avro.RecordSchema)
		out := make(map[string]any, len(rs.Fields()))
		for _, f := range rs.Fields() {
			item, present := m[f.Name()]
			if !present {
				if f.HasDefault() {
					continue // hamba fills the default
				}
				item = nil
			}
			var err error
			if out[f.Name()], err = fromJSON(f.Type(), item, rs.FullName()+"."+f.Name()); err != nil {
				return nil, err
			}
		}
		return out, nil
	case avro.Union:
		return unionFromJSON(s.(*avro.UnionSchema), v, path)
	}
	return bad()
}

func unionFromJSON(u *avro.UnionSchema, v any, path string) (any, error) {
	if v == nil && u.Nullable() {
		return nil, nil
	}
	// Avro's JSON encoding: {"branch name": value}.
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for name, inner := range m {
			if branch, _ := u.Types().Get(name); branch != nil {
				val, err := fromJSON(branch, inner, path)
				if err != nil {
					return nil, err
				}
				return map[string]any{name: val}, nil
			}
		}
	}
	// A bare value: the first non-null branch it fits.
	for _, branch := range u.Types() {
		if branch.Type() == avro.Null {
			continue
		}
		if val, err := fromJSON(branch, v, path); err == nil {
			return map[string]any{unionName(branch): val}, nil
		}
	}
	return nil, fmt.Errorf("%w: %s: JSON %T fits no branch of the union", ErrEncode, pathOr(path), v)
}

func unionName(s avro.Schema) string {
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	if l := logicalOf(s); l != "" {
		return string(s.Type()) + "." + string(l)
	}
	return string(s.Type())
}

func logicalOf(s avro.Schema) avro.LogicalType {
	if ls, ok := s.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
		return ls.Logical().Type()
	}
	return ""
}

func number(s avro.Schema, n json.Number, path string) (any, error) {
	bad := func() (any, error) {
		return nil, fmt.Errorf("%w: %s: %s does not fit Avro %s", ErrEncode, pathOr(path), n, s.Type())
	}
	switch s.Type() {
	case avro.Int, avro.Long:
		i, err := n.Int64()
		if err != nil {
			return bad()
		}
		switch logicalOf(s) {
		case avro.Date:
			return time.Unix(i*86400, 0).UTC(), nil
		case avro.TimestampMillis:
			return time.UnixMilli(i).UTC(), nil
		case avro.TimestampMicros:
			return time.UnixMicro(i).UTC(), nil
		case avro.TimeMillis:
			return time.Duration(i) * time.Millisecond, nil
		case avro.TimeMicros:
			return time.Duration(i) * time.Microsecond, nil
		}
		if s.Type() == avro.Int {
			if i < -1<<31 || i > 1<<31-1 {
				return bad()
			}
			return int32(i), nil
		}
		return i, nil
	case avro.Float:
		f, err := n.Float64()
		if err != nil {
			return bad()
		}
		return float32(f), nil
	default:
		f, err := n.Float64()
		if err != nil {
			return bad()
		}
		return f, nil
	}
}

// fixedArray returns b as a [len(b)]byte value: hamba encodes generic
// fixed values from byte arrays of their size.
func fixedArray(b []byte) any {
	a := reflect.New(reflect.ArrayOf(len(b), reflect.TypeOf(byte(0)))).Elem()
	reflect.Copy(a, reflect.ValueOf(b))
	return a.Interface()
}

func pathOr(path string) string {
	if path == "" {
		return "value"
	}
	return path
}
