package serde

import (
	"strconv"
	"sync/atomic"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
)

// Deserializer reads what a Serializer (tagseal's or Confluent's) wrote and
// decrypts the tagged fields it holds the keys for. Fields whose rule says
// onFailure NONE for reads come back as stored (ciphertext) when they cannot
// be decrypted. It satisfies confluent-kafka-go's serde.Deserializer and is
// safe for concurrent use.
type Deserializer struct {
	*core
	conf *DeserializerConfig
	hot  atomic.Pointer[source]
}

var _ cserde.Deserializer = (*Deserializer)(nil)

// NewDeserializer returns a Deserializer for keys or values. A nil conf
// means NewDeserializerConfig().
func NewDeserializer(client schemaregistry.Client, serdeType cserde.Type, conf *DeserializerConfig) (*Deserializer, error) {
	if conf == nil {
		conf = NewDeserializerConfig()
	}
	d := &Deserializer{conf: conf}
	d.core = &core{}
	if err := d.core.init(client, serdeType, conf.RuleConfig, conf.SubjectNameStrategyType, conf.SubjectNameStrategyConfig, conf.Options); err != nil {
		return nil, err
	}
	return d, nil
}

// ConfigureDeserializer re-initialises the deserializer with a Confluent
// config, keeping tagseal's Options. It exists to satisfy cserde.Deserializer.
func (d *Deserializer) ConfigureDeserializer(client schemaregistry.Client, serdeType cserde.Type, conf *cserde.DeserializerConfig) error {
	n, err := NewDeserializer(client, serdeType, &DeserializerConfig{DeserializerConfig: *conf, Options: d.conf.Options})
	if err != nil {
		return err
	}
	d.core, d.conf = n.core, n.conf
	return nil
}

// Deserialize decodes payload into a new value: map[string]any for Avro
// records. An empty payload (tombstone) yields nil.
func (d *Deserializer) Deserialize(topic string, payload []byte) (any, error) {
	return d.deserialize(topic, nil, payload, nil)
}

// DeserializeWithHeaders is Deserialize with the schema GUID possibly in a header.
func (d *Deserializer) DeserializeWithHeaders(topic string, headers []kafka.Header, payload []byte) (any, error) {
	return d.deserialize(topic, headers, payload, nil)
}

// DeserializeInto decodes payload into msg, a non-nil pointer.
func (d *Deserializer) DeserializeInto(topic string, payload []byte, msg any) error {
	_, err := d.deserialize(topic, nil, payload, msg)
	return err
}

// DeserializeWithHeadersInto is DeserializeInto with headers.
func (d *Deserializer) DeserializeWithHeadersInto(topic string, headers []kafka.Header, payload []byte, msg any) error {
	_, err := d.deserialize(topic, headers, payload, msg)
	return err
}

func (d *Deserializer) deserialize(topic string, headers []kafka.Header, payload []byte, target any) (any, error) {
	if len(payload) == 0 {
		return nil, nil
	}
	src, _, indexes, body, err := d.open(topic, headers, payload)
	if err != nil {
		return nil, err
	}
	p, subject, reader := src.plan, src.subject, src.reader
	if body, err = d.decryptPayload(p, subject, body); err != nil {
		return nil, err
	}
	// The walk runs even when nothing is tagged: it validates lengths and
	// block counts before the decoder allocates anything.
	// Decoders copy what they keep, so the plaintext buffer is pooled.
	fc := d.crypter(p, subject, false)
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
func (d *Deserializer) open(topic string, headers []kafka.Header, payload []byte) (src *source, fr frame, indexes []int, body []byte, err error) {
	if fr, err = readFrame(d.serdeType, headers, payload); err != nil {
		return nil, fr, nil, nil, err
	}
	if src, err = d.source(topic, fr.ref); err != nil {
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
func (d *Deserializer) source(topic string, ref schemaRef) (*source, error) {
	fixed := len(d.conf.UseLatestWithMetadata) == 0 && !d.conf.UseLatestVersion
	if h := d.hot.Load(); fixed && h != nil && h.ref == ref && h.topic == topic {
		return h, nil
	}
	writer, err := d.writerSchema(topic, ref)
	if err != nil {
		return nil, err
	}
	src := &source{topic: topic, ref: ref, protobuf: writer.SchemaType == TypeProtobuf}
	if src.subject, err = d.subject(topic, writer); err != nil {
		return nil, err
	}
	key := planKey{subject: src.subject, writer: ref}
	ruleInfo := &writer
	readerMeta, err := d.readerSchema(src.subject)
	if err != nil {
		return nil, err
	}
	if readerMeta != nil {
		ruleInfo = &readerMeta.SchemaInfo
		key.reader = readerMeta.ID
		if src.reader, err = d.plan(planKey{subject: src.subject, writer: schemaRef{id: readerMeta.ID}}, &readerMeta.SchemaInfo, &readerMeta.SchemaInfo); err != nil {
			return nil, err
		}
	}
	if src.plan, err = d.plan(key, &writer, ruleInfo); err != nil {
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
func (d *Deserializer) writerSchema(topic string, ref schemaRef) (schemaregistry.SchemaInfo, error) {
	var info schemaregistry.SchemaInfo
	// The subject from the topic alone: record strategies need the writer
	// schema to name theirs, and answer "" here.
	subject, err := d.subject(topic, schemaregistry.SchemaInfo{})
	if err != nil && ref.id > 0 {
		return info, err
	}
	key := writerKey{subject: subject, ref: ref}
	if v, ok := d.writers.Load(key); ok {
		return *v.(*schemaregistry.SchemaInfo), nil
	}
	if ref.id > 0 {
		if info, err = d.client.GetBySubjectAndID(subject, ref.id); err != nil {
			return info, registryErr(err, "schema id "+strconv.Itoa(ref.id))
		}
	} else if info, err = d.client.GetByGUID(ref.guid.String()); err != nil {
		return info, registryErr(err, "schema GUID "+ref.guid.String())
	}
	d.writers.Store(key, &info)
	return info, nil
}

func (d *Deserializer) readerSchema(subject string) (*schemaregistry.SchemaMetadata, error) {
	if len(d.conf.UseLatestWithMetadata) == 0 && !d.conf.UseLatestVersion {
		return nil, nil
	}
	return d.latestSchema(subject, d.conf.UseLatestWithMetadata)
}
