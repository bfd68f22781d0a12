package tagseal

import (
	"context"
	"maps"
	"strconv"
	"sync/atomic"

	"github.com/tagseal/tagseal/registry"
)

// Deserializer reads what a Serializer (tagseal's or Confluent's) wrote and
// decrypts the tagged fields it holds the keys for. Fields whose rule says
// onFailure NONE for reads come back as stored (ciphertext) when they cannot
// be decrypted. It is safe for concurrent use; its configuration is fixed
// when it is built.
type Deserializer struct {
	*core
	conf DeserializerConfig
	hot  atomic.Pointer[source]
}

// NewDeserializer returns a Deserializer for record keys (Key) or values
// (Value) over reg, which must also be a registry.DEKRegistry unless
// conf.DEKRegistry is set. conf is copied.
func NewDeserializer(reg registry.SchemaRegistry, t Type, conf DeserializerConfig) (*Deserializer, error) {
	conf.UseLatestWithMetadata = maps.Clone(conf.UseLatestWithMetadata)
	conf.RuleConfig = maps.Clone(conf.RuleConfig)
	c, err := newCore(reg, t, conf.SubjectNameStrategy, conf.LatestSchemaTTL, conf.Keys, conf.ReadDeletedKeys)
	if err != nil {
		return nil, err
	}
	return &Deserializer{core: c, conf: conf}, nil
}

// Deserialize decodes payload into a new value: map[string]any for Avro
// records and JSON documents, a proto.Message (dynamic unless the Go type
// is linked in) for Protobuf. An empty payload (tombstone) yields nil.
func (d *Deserializer) Deserialize(ctx context.Context, topic string, payload []byte) (any, error) {
	return d.deserialize(ctx, topic, nil, payload, nil)
}

// DeserializeWithHeaders is Deserialize with the schema GUID possibly in a
// header.
func (d *Deserializer) DeserializeWithHeaders(ctx context.Context, topic string, headers []Header, payload []byte) (any, error) {
	return d.deserialize(ctx, topic, headers, payload, nil)
}

// DeserializeInto decodes payload into target, a non-nil pointer (for
// Protobuf, a proto.Message).
func (d *Deserializer) DeserializeInto(ctx context.Context, topic string, payload []byte, target any) error {
	_, err := d.deserialize(ctx, topic, nil, payload, target)
	return err
}

// DeserializeWithHeadersInto is DeserializeInto with headers.
func (d *Deserializer) DeserializeWithHeadersInto(ctx context.Context, topic string, headers []Header, payload []byte, target any) error {
	_, err := d.deserialize(ctx, topic, headers, payload, target)
	return err
}

func (d *Deserializer) deserialize(ctx context.Context, topic string, headers []Header, payload []byte, target any) (any, error) {
	if len(payload) == 0 {
		return nil, nil
	}
	src, _, indexes, body, err := d.open(ctx, topic, headers, payload)
	if err != nil {
		return nil, err
	}
	p, subject, reader := src.plan, src.subject, src.reader
	if body, err = d.decryptPayload(ctx, p, subject, body); err != nil {
		return nil, err
	}
	// The walk runs even when nothing is tagged: it validates lengths and
	// block counts before the decoder allocates anything.
	// Decoders copy what they keep, so the plaintext buffer is pooled.
	fc := d.crypter(ctx, p, subject, false)
	buf := getBuffer()
	body, err = p.plan.rewrite(indexes, body, (*buf)[:0], fc, false)
	fc.release()
	if err != nil {
		putBuffer(buf)
		return nil, err
	}
	*buf = body
	defer putBuffer(buf)
	if d.conf.Validate {
		if err := p.plan.validate(indexes, body); err != nil {
			return nil, err
		}
	}
	var readerPlan formatPlan
	if reader != nil {
		readerPlan = reader.plan
	}
	return p.plan.decode(indexes, body, readerPlan, target)
}

// open reads a payload's frame and resolves its source: plans, subject,
// Protobuf message indexes and the body after the frame.
func (d *Deserializer) open(ctx context.Context, topic string, headers []Header, payload []byte) (src *source, fr frame, indexes []int, body []byte, err error) {
	if fr, err = readFrame(d.serdeType, headers, payload); err != nil {
		return nil, fr, nil, nil, err
	}
	if src, err = d.source(ctx, topic, fr.ref); err != nil {
		return nil, fr, nil, nil, err
	}
	if src.protobuf {
		if indexes, err = fr.messageIndexes(); err != nil {
			return nil, fr, nil, nil, err
		}
	}
	return src, fr, indexes, payload[fr.n:], nil
}

// source is what a payload's schema reference resolves to for a topic.
type source struct {
	topic    string
	ref      schemaRef
	subject  string
	plan     *compiled
	reader   *compiled // reader-schema plan, when one is configured
	protobuf bool
}

// source resolves a payload's writer schema, subject and plans. Without a
// reader schema the answer cannot change, so the last one is kept in an
// atomic pointer and consumers of one topic skip every map.
func (d *Deserializer) source(ctx context.Context, topic string, ref schemaRef) (*source, error) {
	fixed := len(d.conf.UseLatestWithMetadata) == 0 && !d.conf.UseLatestVersion
	if h := d.hot.Load(); fixed && h != nil && h.ref == ref && h.topic == topic {
		return h, nil
	}
	writer, err := d.writerSchema(ctx, topic, ref)
	if err != nil {
		return nil, err
	}
	src := &source{topic: topic, ref: ref, protobuf: writer.SchemaType == TypeProtobuf}
	if src.subject, err = d.subject(ctx, topic, writer); err != nil {
		return nil, err
	}
	key := planKey{subject: src.subject, writer: ref}
	ruleInfo := &writer
	readerMeta, err := d.readerSchema(ctx, src.subject)
	if err != nil {
		return nil, err
	}
	if readerMeta != nil {
		ruleInfo = &readerMeta.Schema
		key.reader = readerMeta.ID
		if src.reader, err = d.plan(ctx, planKey{subject: src.subject, writer: schemaRef{id: readerMeta.ID}}, &readerMeta.Schema, &readerMeta.Schema); err != nil {
			return nil, err
		}
	}
	if src.plan, err = d.plan(ctx, key, &writer, ruleInfo); err != nil {
		return nil, err
	}
	if fixed {
		d.hot.Store(src)
	}
	return src, nil
}

// writerSchema returns the schema a payload was written with, fetched
// subject-qualified as Confluent does (GetBySubjectAndID): the same id
// carries each subject's own rules and metadata. Answers are kept per
// (subject, ref) for the serde's life.
func (c *core) writerSchema(ctx context.Context, topic string, ref schemaRef) (registry.Schema, error) {
	var info registry.Schema
	// The subject from the topic alone; record strategies need the writer
	// schema to name theirs: the id's schema as first registered names it,
	// then the id is fetched under that subject.
	subject, err := c.subject(ctx, topic, registry.Schema{})
	if err != nil && ref.id > 0 {
		bare, berr := c.registry.SchemaByID(ctx, "", ref.id)
		if berr != nil {
			return info, registryErr(berr, "schema id "+strconv.Itoa(ref.id))
		}
		if subject, err = c.subject(ctx, topic, bare); err != nil {
			return info, err
		}
	}
	key := writerKey{subject: subject, ref: ref}
	if v, ok := c.writers.Load(key); ok {
		return *v.(*registry.Schema), nil
	}
	if ref.id > 0 {
		if info, err = c.registry.SchemaByID(ctx, subject, ref.id); err != nil {
			return info, registryErr(err, "schema id "+strconv.Itoa(ref.id))
		}
	} else if info, err = c.registry.SchemaByGUID(ctx, ref.guid.String()); err != nil {
		return info, registryErr(err, "schema GUID "+ref.guid.String())
	}
	c.writers.Store(key, &info)
	return info, nil
}

func (d *Deserializer) readerSchema(ctx context.Context, subject string) (*registry.SubjectSchema, error) {
	if len(d.conf.UseLatestWithMetadata) == 0 && !d.conf.UseLatestVersion {
		return nil, nil
	}
	return d.latestSchema(ctx, subject, d.conf.UseLatestWithMetadata)
}
