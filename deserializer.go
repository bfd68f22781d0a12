package tagseal

import (
	"context"
	"errors"
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
	written, err := d.writerSchema(ctx, topic, ref)
	if err != nil {
		return nil, err
	}
	writer := written.Schema
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

// writerSchema returns the schema a payload was written with, as the
// subject of topic sees it: the same id or GUID carries each subject's own
// rules and metadata. A numeric id is fetched subject-qualified, as
// Confluent does (GetBySubjectAndID). A GUID names schema content, not a
// subject version, so its text is looked up under the subject, which
// answers with that subject's version of it (ID and Subject set); only when
// the subject has no version with that content does the registry's
// unqualified answer stand (ID 0, not kept), as it does for an id the
// subject never had. Answers are kept per (subject, ref) for the serde's
// life.
func (c *core) writerSchema(ctx context.Context, topic string, ref schemaRef) (registry.SubjectSchema, error) {
	var bare *registry.Schema // the unqualified answer, once fetched
	fetchBare := func() (*registry.Schema, error) {
		if bare != nil {
			return bare, nil
		}
		var s registry.Schema
		var err error
		if ref.id > 0 {
			if s, err = c.registry.SchemaByID(ctx, "", ref.id); err != nil {
				return nil, registryErr(err, "schema id "+strconv.Itoa(ref.id))
			}
		} else if s, err = c.registry.SchemaByGUID(ctx, ref.guid.String()); err != nil {
			return nil, registryErr(err, "schema GUID "+ref.guid.String())
		}
		bare = &s
		return bare, nil
	}
	// The subject from the topic alone; record strategies need the writer
	// schema to name theirs: the schema as first registered names it, then
	// it is fetched under that subject.
	subject, err := c.subject(ctx, topic, registry.Schema{})
	if err != nil {
		b, berr := fetchBare()
		if berr != nil {
			return registry.SubjectSchema{}, berr
		}
		if subject, err = c.subject(ctx, topic, *b); err != nil {
			return registry.SubjectSchema{}, err
		}
	}
	key := writerKey{subject: subject, ref: ref}
	if v, ok := c.writers.Load(key); ok {
		return *v.(*registry.SubjectSchema), nil
	}
	var info registry.SubjectSchema
	if ref.id > 0 {
		s, err := c.registry.SchemaByID(ctx, subject, ref.id)
		if err != nil {
			return info, registryErr(err, "schema id "+strconv.Itoa(ref.id))
		}
		info = registry.SubjectSchema{Schema: s, Subject: subject, ID: ref.id}
	} else {
		b, err := fetchBare()
		if err != nil {
			return info, err
		}
		content := registry.Schema{SchemaType: b.SchemaType, Schema: b.Schema, References: b.References}
		meta, err := c.registry.Lookup(ctx, subject, content, false)
		switch {
		case err == nil && meta.Schema.Schema != "":
			info = meta
			info.Subject = subject
			if info.GUID == "" {
				info.GUID = ref.guid.String()
			}
		case err == nil || errors.Is(err, registry.ErrNotFound):
			// Not kept: once the subject registers the content, its
			// own version applies.
			return registry.SubjectSchema{Schema: *b, GUID: ref.guid.String()}, nil
		default:
			return info, registryErr(err, "schema GUID "+ref.guid.String()+" under subject "+subject)
		}
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
