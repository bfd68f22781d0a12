package serde

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"

	"google.golang.org/protobuf/proto"

	"github.com/tagseal/tagseal/formats/avro"
	"github.com/tagseal/tagseal/formats/jsonschema"
)

// Serializer encodes values with the schema it resolves in the Schema
// Registry and encrypts every tagged field on the way. It satisfies
// confluent-kafka-go's serde.Serializer and is safe for concurrent use.
type Serializer struct {
	*core
	conf      *SerializerConfig
	frameWith cserde.SchemaIDSerializerFunc
	schemas   sync.Map // reflect.Type → schema text, for auto-registration
	resolved  sync.Map // resolveKey → resolution
	latestTTL time.Duration
	hot       atomic.Pointer[hotTarget]
}

type resolveKey struct{ subject, schema string }

type resolution struct {
	meta    *schemaregistry.SchemaMetadata
	subject string
	expires time.Time // zero: never
}

var _ cserde.Serializer = (*Serializer)(nil)

// NewSerializer returns a Serializer for keys (cserde.KeySerde) or values
// (cserde.ValueSerde). A nil conf means NewSerializerConfig().
func NewSerializer(client schemaregistry.Client, serdeType cserde.Type, conf *SerializerConfig) (*Serializer, error) {
	if conf == nil {
		conf = NewSerializerConfig()
	}
	s := &Serializer{conf: conf, frameWith: conf.SchemaIDSerializer, latestTTL: conf.LatestSchemaTTL}
	if s.latestTTL == 0 {
		s.latestTTL = DefaultLatestSchemaTTL
	}
	s.core = &core{}
	if err := s.core.init(client, serdeType, conf.RuleConfig, conf.SubjectNameStrategyType, conf.SubjectNameStrategyConfig, conf.Options); err != nil {
		return nil, err
	}
	return s, nil
}

// ConfigureSerializer re-initialises the serializer with a Confluent config,
// keeping tagseal's Options. It exists to satisfy cserde.Serializer.
func (s *Serializer) ConfigureSerializer(client schemaregistry.Client, serdeType cserde.Type, conf *cserde.SerializerConfig) error {
	c := &SerializerConfig{SerializerConfig: *conf, Options: s.conf.Options}
	n, err := NewSerializer(client, serdeType, c)
	if err != nil {
		return err
	}
	s.core, s.conf, s.frameWith = n.core, n.conf, n.frameWith
	return nil
}

// Serialize encodes msg for topic; tagged fields leave encrypted. A nil msg
// yields a nil payload (a Kafka tombstone).
func (s *Serializer) Serialize(topic string, msg any) ([]byte, error) {
	_, b, err := s.SerializeWithHeaders(topic, msg)
	return b, err
}

// SerializeWithHeaders is Serialize for a configured SchemaIDSerializer that
// carries the schema GUID in a header.
func (s *Serializer) SerializeWithHeaders(topic string, msg any) ([]kafka.Header, []byte, error) {
	if msg == nil {
		return nil, nil, nil
	}
	meta, subject, p, err := s.target(topic, msg)
	if err != nil {
		return nil, nil, err
	}
	encoded, indexes, done, err := p.plan.encode(msg)
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
	if s.frameWith == nil && len(p.rules.Payload) == 0 {
		// Common case: write the frame and the rewritten body into one buffer.
		out := appendIDFrame(make([]byte, 0, 5+len(indexes)+p.sizeHint(len(encoded))), meta.ID)
		if p.plan.schemaType() == TypeProtobuf {
			out = appendMessageIndexes(out, indexes)
		}
		if p.sealsFields {
			fc := s.crypter(p, subject, true)
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
		fc := s.crypter(p, subject, true)
		body, err = p.plan.rewrite(indexes, encoded, nil, fc, true)
		fc.release()
		if err != nil {
			return nil, nil, err
		}
	} else if done != nil {
		body = append([]byte(nil), encoded...) // encoded goes back to its pool
	}
	body, err = s.encryptPayload(p, subject, body)
	if err != nil {
		return nil, nil, err
	}
	if s.frameWith == nil {
		out := appendIDFrame(make([]byte, 0, 5+len(indexes)+len(body)), meta.ID)
		if p.plan.schemaType() == TypeProtobuf {
			out = appendMessageIndexes(out, indexes)
		}
		return nil, append(out, body...), nil
	}
	id, err := cserde.NewSchemaID(p.plan.schemaType(), meta.ID, meta.GUID)
	if err != nil {
		return nil, nil, err
	}
	id.MessageIndexes = indexes
	return s.frameWith(topic, s.serdeType, body, *id)
}

// hotTarget is the last topic's resolution, checked before any map.
type hotTarget struct {
	topic   string
	meta    *schemaregistry.SchemaMetadata
	subject string
	plan    *compiled
	expires time.Time // zero: never
}

// target resolves the schema, subject and plan for a record. Producers
// mostly write one topic, so the last answer is kept in an atomic pointer.
func (s *Serializer) target(topic string, msg any) (*schemaregistry.SchemaMetadata, string, *compiled, error) {
	derived := s.conf.UseSchemaID < 0 && !s.conf.UseLatestVersion && len(s.conf.UseLatestWithMetadata) == 0
	if h := s.hot.Load(); h != nil && !derived && h.topic == topic && (h.expires.IsZero() || s.keys.now().Before(h.expires)) {
		return h.meta, h.subject, h.plan, nil
	}
	meta, subject, err := s.resolve(topic, msg)
	if err != nil {
		return nil, "", nil, err
	}
	p, err := s.plan(planKey{subject: subject, writer: schemaRef{id: meta.ID}}, &meta.SchemaInfo, &meta.SchemaInfo)
	if err != nil {
		return nil, "", nil, err
	}
	if !derived {
		h := &hotTarget{topic: topic, meta: meta, subject: subject, plan: p}
		stale := s.conf.UseSchemaID < 0 || s.guarded()
		if stale && s.latestTTL > 0 {
			h.expires = s.keys.now().Add(s.latestTTL)
		}
		if !stale || s.latestTTL > 0 {
			s.hot.Store(h)
		}
	}
	return meta, subject, p, nil
}

// resolve finds the schema to write with, as Confluent's GetSchemaID does:
// a fixed id, the latest version with given metadata, the latest version,
// or the schema derived from msg (registered when AutoRegisterSchemas).
func (s *Serializer) resolve(topic string, msg any) (*schemaregistry.SchemaMetadata, string, error) {
	conf := &s.conf.SerializerConfig
	var info schemaregistry.SchemaInfo
	derived := conf.UseSchemaID < 0 && !conf.UseLatestVersion && len(conf.UseLatestWithMetadata) == 0
	if derived {
		schema, err := s.schemaOf(msg)
		if err != nil {
			return nil, "", err
		}
		info.Schema = schema
		if s.conf.SchemaType == TypeJSONSchema {
			info.SchemaType = TypeJSONSchema
		}
	}
	subject, err := s.subject(topic, info)
	if err != nil {
		return nil, "", err
	}
	key := resolveKey{subject, info.Schema}
	if v, ok := s.resolved.Load(key); ok {
		r := v.(*resolution)
		if r.expires.IsZero() || s.keys.now().Before(r.expires) {
			return r.meta, r.subject, nil
		}
	}
	meta, resolvedSubject, err := s.lookup(topic, subject, info)
	if err != nil {
		return nil, "", err
	}
	r := &resolution{meta: meta, subject: resolvedSubject}
	// A latest lookup goes stale after LatestSchemaTTL; so does the
	// downgrade guard's view of the subject's latest version.
	if s.guarded() || conf.UseSchemaID < 0 && (conf.UseLatestVersion || len(conf.UseLatestWithMetadata) > 0) {
		if s.latestTTL < 0 {
			return meta, resolvedSubject, nil
		}
		r.expires = s.keys.now().Add(s.latestTTL)
	}
	s.resolved.Store(key, r)
	return meta, resolvedSubject, nil
}

// lookup asks the registry for the schema to write with.
func (s *Serializer) lookup(topic, subject string, info schemaregistry.SchemaInfo) (*schemaregistry.SchemaMetadata, string, error) {
	conf := &s.conf.SerializerConfig
	var meta schemaregistry.SchemaMetadata
	var err error
	switch {
	case conf.UseSchemaID >= 0:
		info, err = s.client.GetBySubjectAndID(subject, conf.UseSchemaID)
		if err != nil {
			return nil, "", registryErr(err, fmt.Sprintf("schema id %d", conf.UseSchemaID))
		}
		meta = schemaregistry.SchemaMetadata{SchemaInfo: info, ID: conf.UseSchemaID}
	case len(conf.UseLatestWithMetadata) > 0:
		meta, err = s.client.GetLatestWithMetadata(subject, conf.UseLatestWithMetadata, true)
	case conf.UseLatestVersion:
		meta, err = s.client.GetLatestSchemaMetadata(subject)
	case conf.AutoRegisterSchemas:
		if s.guarded() && subject != "" {
			// Keep the subject's encryption contract, and check before
			// registering anything that it was kept.
			if info, err = s.keepContract(subject, info); err != nil {
				return nil, "", err
			}
			if err = s.checkDowngrade(subject, &schemaregistry.SchemaMetadata{SchemaInfo: info}); err != nil {
				return nil, "", err
			}
		}
		meta, err = s.client.RegisterFullResponse(subject, info, conf.NormalizeSchemas)
	default:
		meta, err = s.client.GetIDFullResponse(subject, info, conf.NormalizeSchemas)
	}
	if err != nil {
		return nil, "", registryErr(err, "subject "+subject)
	}
	if meta.Schema == "" {
		// Registration answers may omit the schema; the local text is it.
		meta.SchemaInfo = info
	}
	if subject == "" {
		// Record strategies name the subject from the schema itself.
		if subject, err = s.subject(topic, meta.SchemaInfo); err != nil {
			return nil, "", err
		}
	}
	if s.guarded() {
		if err := s.checkDowngrade(subject, &meta); err != nil {
			return nil, "", err
		}
	}
	return &meta, subject, nil
}

// guarded reports whether the downgrade guard runs (the default).
func (s *Serializer) guarded() bool { return !s.conf.AllowEncryptionDowngrade }

func (s *Serializer) schemaOf(msg any) (string, error) {
	t := reflect.TypeOf(msg)
	if v, ok := s.schemas.Load(t); ok {
		return v.(string), nil
	}
	var schema string
	var err error
	schemaType := s.conf.SchemaType
	if _, ok := msg.(proto.Message); ok {
		schemaType = TypeProtobuf
	}
	switch schemaType {
	case "", TypeAvro:
		schema, err = avro.SchemaOf(msg)
	case TypeJSONSchema:
		schema, err = jsonschema.SchemaOf(msg)
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
