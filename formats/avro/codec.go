package avro

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/hamba/avro/v2"

	"github.com/tagseal/tagseal/internal/fmterr"
)

var (
	// ErrEncode is returned when a Go value does not fit the schema.
	ErrEncode = fmterr.ErrEncode
	// ErrDecode is returned when plaintext Avro cannot be decoded into the target.
	ErrDecode = fmterr.ErrDecode
)

// newAPI returns a codec configuration as Confluent's avrov2 serde uses.
// Every schema gets its own: hamba/avro caches encoders and decoders per
// frozen config by a key two schemas with a record of the same full name
// can share (seen with a recursive record under a map of any), and an
// encoder cached for one version of a record then writes another
// version's fields in the wrong order — so the rewriter encrypted a
// public value and copied a tagged one in clear. Within one schema full
// names are unique, so a config per schema cannot mix them up.
func newAPI() avro.API { return avro.Config{}.Freeze() }

// Encode encodes v (a struct, pointer to struct, or map[string]any) with the
// plan's schema, appending to nothing. hamba/avro error text names types and
// fields, never values.
func (p *Plan) Encode(v any) (b []byte, err error) {
	defer recoverAs(ErrEncode, &err)
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Kind() != reflect.Struct {
		v = rv.Elem().Interface()
	}
	b, err = p.api.Marshal(p.schema, v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEncode, err)
	}
	return b, nil
}

// Encoded is an encoding held in a pooled buffer: call Release once its
// bytes are no longer needed.
type Encoded struct {
	w    *avro.Writer
	pool *sync.Pool
}

// codec is a plan's own codec configuration and writer pool.
type codec struct {
	api     avro.API
	writers sync.Pool
	// resolved caches, per reader schema, the resolution of this writer
	// schema to it with its own configuration.
	resolved sync.Map // [32]byte reader cache fingerprint → *resolvedSchema
}

type resolvedSchema struct {
	schema avro.Schema
	api    avro.API
}

func newCodec() *codec {
	c := &codec{api: newAPI()}
	c.writers.New = func() any {
		return &Encoded{w: avro.NewWriter(nil, 512, avro.WithWriterConfig(c.api)), pool: &c.writers}
	}
	return c
}

// Bytes returns the encoding; valid until Release.
func (e *Encoded) Bytes() []byte { return e.w.Buffer() }

// Release returns the buffer to the pool.
func (e *Encoded) Release() {
	if cap(e.w.Buffer()) <= 1<<20 {
		e.pool.Put(e)
	}
}

// EncodePooled is Encode into a pooled buffer, sparing the copy and the
// allocation of the result.
func (p *Plan) EncodePooled(v any) (e *Encoded, err error) {
	defer recoverAs(ErrEncode, &err)
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Kind() != reflect.Struct {
		v = rv.Elem().Interface()
	}
	e = p.writers.Get().(*Encoded)
	e.w.Reset(nil)
	e.w.Error = nil
	e.w.WriteVal(p.schema, v)
	if err := e.w.Error; err != nil {
		e.Release()
		return nil, fmt.Errorf("%w: %v", ErrEncode, err)
	}
	return e, nil
}

// Decode decodes plaintext Avro into target (a non-nil pointer), or into a
// fresh map[string]any (any for non-record schemas) when target is nil. With
// a reader plan, the writer's data is resolved to the reader's schema.
func (p *Plan) Decode(data []byte, reader *Plan, target any) (_ any, err error) {
	defer recoverAs(ErrDecode, &err)
	schema, api := p.schema, p.api
	if reader != nil && reader.schema.CacheFingerprint() != p.schema.CacheFingerprint() {
		key := reader.schema.CacheFingerprint()
		r, ok := p.resolved.Load(key)
		if !ok {
			resolved, err := avro.NewSchemaCompatibility().Resolve(reader.schema, p.schema)
			if err != nil {
				return nil, fmt.Errorf("%w: reader schema: %v", ErrDecode, err)
			}
			r, _ = p.resolved.LoadOrStore(key, &resolvedSchema{schema: resolved, api: newAPI()})
		}
		schema, api = r.(*resolvedSchema).schema, r.(*resolvedSchema).api
	}
	if target == nil {
		var v any
		if err := api.Unmarshal(schema, data, &v); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDecode, err)
		}
		return v, nil
	}
	if err := api.Unmarshal(schema, data, target); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	return target, nil
}

// errCodecPanic marks an error recovered from a hamba/avro panic, so tests
// and fuzz targets can tell a crash the recovery hid from an ordinary
// decode error.
var errCodecPanic = errors.New("codec panic")

// recoverAs turns a panic inside hamba/avro (seen in older releases on some
// schemas) into a typed error: input bytes must never crash the caller.
func recoverAs(sentinel error, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %w: %v", sentinel, errCodecPanic, r)
	}
}
