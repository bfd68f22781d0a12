package tagseal

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/tagseal/tagseal/formats/avro"
	"github.com/tagseal/tagseal/formats/jsonschema"
	"github.com/tagseal/tagseal/registry"
)

// Serializer encodes values with the schema it resolves in the Schema
// Registry and encrypts every tagged field on the way. It is safe for
// concurrent use; its configuration is fixed when it is built.
type Serializer struct {
	*core
	conf      SerializerConfig
	derived   bool     // the schema comes from each value (no id, latest or metadata chosen)
	schemas   sync.Map // reflect.Type → schema text, for auto-registration
	resolved  sync.Map // resolveKey → resolution
	latestTTL time.Duration
	hot       atomic.Pointer[hotTarget]
	seals     sync.Map // sealKey → *sealEntry, for SealPayload
}

type resolveKey struct{ subject, schema string }

type resolution struct {
	meta    *registry.SubjectSchema
	subject string
	expires time.Time // zero: never
}

// NewSerializer returns a Serializer for record keys (Key) or values
// (Value) over reg, which must also be a registry.DEKRegistry unless
// conf.DEKRegistry is set. conf is copied.
func NewSerializer(reg registry.SchemaRegistry, t Type, conf SerializerConfig) (*Serializer, error) {
	conf.UseLatestWithMetadata = maps.Clone(conf.UseLatestWithMetadata)
	conf.RuleConfig = maps.Clone(conf.RuleConfig)
	c, err := newCore(reg, t, conf.SubjectNameStrategy, conf.LatestSchemaTTL, conf.Keys, false)
	if err != nil {
		return nil, err
	}
	s := &Serializer{core: c, conf: conf, latestTTL: conf.LatestSchemaTTL,
		derived: conf.UseSchemaID <= 0 && !conf.UseLatestVersion && len(conf.UseLatestWithMetadata) == 0}
	if s.latestTTL == 0 {
		s.latestTTL = DefaultLatestSchemaTTL
	}
	return s, nil
}

// Serialize encodes v for topic; tagged fields leave encrypted. A nil v
// yields a nil payload (a Kafka tombstone). With SchemaIDInHeader, use
// SerializeWithHeaders.
func (s *Serializer) Serialize(ctx context.Context, topic string, v any) ([]byte, error) {
	if s.conf.SchemaIDInHeader {
		return nil, fmt.Errorf("tagseal: SchemaIDInHeader is set: use SerializeWithHeaders")
	}
	_, b, err := s.SerializeWithHeaders(ctx, topic, v)
	return b, err
}

// SerializeWithHeaders is Serialize that also returns the headers to send
// with the record: the schema GUID header when SchemaIDInHeader is set,
// else none.
func (s *Serializer) SerializeWithHeaders(ctx context.Context, topic string, v any) ([]Header, []byte, error) {
	if v == nil {
		return nil, nil, nil
	}
	meta, subject, p, err := s.target(ctx, topic, v)
	if err != nil {
		return nil, nil, err
	}
	encoded, indexes, done, err := p.plan.encode(v)
	if err != nil {
		return nil, nil, err
	}
	if done != nil {
		defer done.Release()
	}
	if s.conf.Validate {
		if err := p.plan.validate(indexes, encoded); err != nil {
			return nil, nil, err
		}
	}
	body := encoded
	if !s.conf.SchemaIDInHeader && len(p.rules.Payload) == 0 {
		// Common case: write the frame and the rewritten body into one buffer.
		out := appendIDFrame(make([]byte, 0, 5+len(indexes)+p.sizeHint(len(encoded))), meta.ID)
		if p.plan.schemaType() == TypeProtobuf {
			out = appendMessageIndexes(out, indexes)
		}
		if p.sealsFields {
			fc := s.crypter(ctx, p, subject, true)
			out, err = p.plan.rewrite(indexes, encoded, out, fc, true)
			fc.release()
			if err != nil {
				return nil, nil, err
			}
		} else {
			out = append(out, encoded...)
		}
		p.lastSize.Store(int64(len(out)))
		return nil, out, nil
	}
	if p.sealsFields {
		fc := s.crypter(ctx, p, subject, true)
		body, err = p.plan.rewrite(indexes, encoded, nil, fc, true)
		fc.release()
		if err != nil {
			return nil, nil, err
		}
	} else if done != nil {
		body = append([]byte(nil), encoded...) // encoded goes back to its pool
	}
	body, err = s.encryptPayload(ctx, p, subject, body)
	if err != nil {
		return nil, nil, err
	}
	if !s.conf.SchemaIDInHeader {
		out := appendIDFrame(make([]byte, 0, 5+len(indexes)+len(body)), meta.ID)
		if p.plan.schemaType() == TypeProtobuf {
			out = appendMessageIndexes(out, indexes)
		}
		return nil, append(out, body...), nil
	}
	guid, err := uuid.Parse(meta.GUID)
	if err != nil {
		// lookup fills the GUID in; a registry that has none cannot name
		// the schema in a header.
		return nil, nil, fmt.Errorf("%w: subject %s, schema id %d: the registry gave GUID %q", ErrNoSchemaGUID, subject, meta.ID, meta.GUID)
	}
	hv := append([]byte{magicGUID}, guid[:]...)
	if p.plan.schemaType() == TypeProtobuf {
		hv = appendMessageIndexes(hv, indexes)
	}
	key := ValueSchemaIDHeader
	if s.serdeType == Key {
		key = KeySchemaIDHeader
	}
	return []Header{{Key: key, Value: hv}}, body, nil
}

// hotTarget is the last topic's resolution, checked before any map.
type hotTarget struct {
	topic   string
	meta    *registry.SubjectSchema
	subject string
	plan    *compiled
	expires time.Time // zero: never
}

// target resolves the schema, subject and plan for a record. Producers
// mostly write one topic, so the last answer is kept in an atomic pointer.
func (s *Serializer) target(ctx context.Context, topic string, v any) (*registry.SubjectSchema, string, *compiled, error) {
	if h := s.hot.Load(); h != nil && !s.derived && h.topic == topic && (h.expires.IsZero() || s.keys.Now().Before(h.expires)) {
		return h.meta, h.subject, h.plan, nil
	}
	meta, subject, err := s.resolve(ctx, topic, v)
	if err != nil {
		return nil, "", nil, err
	}
	p, err := s.plan(ctx, planKey{subject: subject, writer: schemaRef{id: meta.ID}}, &meta.Schema, &meta.Schema)
	if err != nil {
		return nil, "", nil, err
	}
	if !s.derived {
		h := &hotTarget{topic: topic, meta: meta, subject: subject, plan: p}
		stale := s.conf.UseSchemaID <= 0 || s.guarded()
		if stale && s.latestTTL > 0 {
			h.expires = s.keys.Now().Add(s.latestTTL)
		}
		if !stale || s.latestTTL > 0 {
			s.hot.Store(h)
		}
	}
	return meta, subject, p, nil
}

// resolve finds the schema to write with, as Confluent's GetSchemaID does:
// a fixed id, the latest version with given metadata, the latest version,
// or the schema derived from v (registered when AutoRegisterSchemas).
func (s *Serializer) resolve(ctx context.Context, topic string, v any) (*registry.SubjectSchema, string, error) {
	var info registry.Schema
	if s.derived {
		schema, err := s.schemaOf(v)
		if err != nil {
			return nil, "", err
		}
		info.Schema = schema
		if s.conf.SchemaType == TypeJSONSchema {
			info.SchemaType = TypeJSONSchema
		}
	}
	subject, err := s.subject(ctx, topic, info)
	if err != nil {
		return nil, "", err
	}
	key := resolveKey{subject, info.Schema}
	if v, ok := s.resolved.Load(key); ok {
		r := v.(*resolution)
		if r.expires.IsZero() || s.keys.Now().Before(r.expires) {
			return r.meta, r.subject, nil
		}
	}
	meta, resolvedSubject, err := s.lookup(ctx, topic, subject, info)
	if err != nil {
		return nil, "", err
	}
	r := &resolution{meta: meta, subject: resolvedSubject}
	// A latest lookup goes stale after LatestSchemaTTL; so does the
	// downgrade guard's view of the subject's latest version.
	if s.guarded() || s.conf.UseSchemaID <= 0 && (s.conf.UseLatestVersion || len(s.conf.UseLatestWithMetadata) > 0) {
		if s.latestTTL < 0 {
			return meta, resolvedSubject, nil
		}
		r.expires = s.keys.Now().Add(s.latestTTL)
	}
	s.resolved.Store(key, r)
	return meta, resolvedSubject, nil
}

// lookup asks the registry for the schema to write with.
func (s *Serializer) lookup(ctx context.Context, topic, subject string, info registry.Schema) (*registry.SubjectSchema, string, error) {
	conf := &s.conf
	var meta registry.SubjectSchema
	var err error
	switch {
	case conf.UseSchemaID > 0:
		var sch registry.Schema
		sch, err = s.registry.SchemaByID(ctx, subject, conf.UseSchemaID)
		if err != nil {
			return nil, "", registryErr(err, fmt.Sprintf("schema id %d", conf.UseSchemaID))
		}
		meta = registry.SubjectSchema{Schema: sch, Subject: subject, ID: conf.UseSchemaID}
	case len(conf.UseLatestWithMetadata) > 0:
		meta, err = s.registry.LatestWithMetadata(ctx, subject, conf.UseLatestWithMetadata)
	case conf.UseLatestVersion:
		meta, err = s.registry.Latest(ctx, subject)
	case conf.AutoRegisterSchemas:
		if s.guarded() && subject != "" {
			// Keep the subject's encryption contract, and check before
			// registering anything that it was kept.
			if info, err = s.keepContract(ctx, subject, info); err != nil {
				return nil, "", err
			}
			if err = s.checkDowngrade(ctx, subject, &registry.SubjectSchema{Schema: info}); err != nil {
				return nil, "", err
			}
		}
		meta, err = s.registry.Register(ctx, subject, info, conf.NormalizeSchemas)
	default:
		meta, err = s.registry.Lookup(ctx, subject, info, conf.NormalizeSchemas)
	}
	if err != nil {
		return nil, "", registryErr(err, "subject "+subject)
	}
	if meta.Schema.Schema == "" {
		// Registration answers may omit the schema; the local text is it.
		meta.Schema = info
	}
	if subject == "" {
		// Record strategies name the subject from the schema itself.
		if subject, err = s.subject(ctx, topic, meta.Schema); err != nil {
			return nil, "", err
		}
	}
	if conf.SchemaIDInHeader && meta.GUID == "" {
		if err := s.lookupGUID(ctx, subject, &meta); err != nil {
			return nil, "", err
		}
	}
	if s.guarded() {
		if err := s.checkDowngrade(ctx, subject, &meta); err != nil {
			return nil, "", err
		}
	}
	return &meta, subject, nil
}

// lookupGUID fills in the GUID of meta, a schema chosen by id (whose
// answer, GET /schemas/ids/{id}, carries none) or registered by a registry
// that did not send it back: the subject's version with that content
// carries it (POST /subjects/{s}, as Confluent's serializers ask after
// GetBySubjectAndID). A registry older than Confluent Platform 8 gives no
// GUID at all; the header cannot then be written (ErrNoSchemaGUID).
func (s *Serializer) lookupGUID(ctx context.Context, subject string, meta *registry.SubjectSchema) error {
	content := registry.Schema{SchemaType: meta.SchemaType, Schema: meta.Schema.Schema, References: meta.References}
	found, err := s.registry.Lookup(ctx, subject, content, s.conf.NormalizeSchemas)
	if err != nil {
		return registryErr(err, fmt.Sprintf("GUID of schema id %d under subject %s", meta.ID, subject))
	}
	if found.ID != meta.ID {
		return fmt.Errorf("%w: subject %s has schema id %d's content as id %d", ErrNoSchemaGUID, subject, meta.ID, found.ID)
	}
	if found.GUID == "" {
		return fmt.Errorf("%w: subject %s, schema id %d: the registry gives schemas no GUID", ErrNoSchemaGUID, subject, meta.ID)
	}
	meta.GUID = found.GUID
	if meta.Version == 0 {
		meta.Version = found.Version
	}
	return nil
}

// guarded reports whether the downgrade guard runs (the default).
func (s *Serializer) guarded() bool { return !s.conf.AllowEncryptionDowngrade }

func (s *Serializer) schemaOf(v any) (string, error) {
	t := reflect.TypeOf(v)
	if cached, ok := s.schemas.Load(t); ok {
		return cached.(string), nil
	}
	var schema string
	var err error
	schemaType := s.conf.SchemaType
	if _, ok := v.(proto.Message); ok {
		schemaType = TypeProtobuf
	}
	switch schemaType {
	case "", TypeAvro:
		schema, err = avro.SchemaOf(v)
	case TypeJSONSchema:
		schema, err = jsonschema.SchemaOf(v)
	case TypeProtobuf:
		err = fmt.Errorf("%w: auto-registration of Protobuf schemas; register the .proto and set UseLatestVersion or UseSchemaID", ErrUnsupportedFormat)
	default:
		err = fmt.Errorf("%w: cannot derive a %q schema from a Go value", ErrUnsupportedFormat, s.conf.SchemaType)
	}
	if err != nil {
		return "", err
	}
	s.schemas.Store(t, schema)
	return schema, nil
}
