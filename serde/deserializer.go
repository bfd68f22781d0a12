package serde

import (
	"strconv"

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
	fr, err := readFrame(d.serdeType, headers, payload)
	if err != nil {
		return nil, err
	}
	writer, key, err := d.writerSchema(topic, fr.ref)
	if err != nil {
		return nil, err
	}
	var indexes []int
	if writer.SchemaType == TypeProtobuf {
		if indexes, err = fr.messageIndexes(); err != nil {
			return nil, err
		}
	}
	body := payload[fr.n:]
	subject, err := d.subject(topic, writer)
	if err != nil {
		return nil, err
	}
	ruleInfo := &writer
	var reader *compiled
	if readerMeta, err := d.readerSchema(subject); err != nil {
		return nil, err
	} else if readerMeta != nil {
		ruleInfo = &readerMeta.SchemaInfo
		key.reader = strconv.Itoa(readerMeta.ID)
		if reader, err = d.plan(planKey{writer: key.reader}, readerMeta.ID, &readerMeta.SchemaInfo, &readerMeta.SchemaInfo); err != nil {
			return nil, err
		}
	}
	p, err := d.plan(key, fr.ref.id, &writer, ruleInfo)
	if err != nil {
		return nil, err
	}
	if body, err = d.decryptPayload(p, subject, body); err != nil {
		return nil, err
	}
	// The walk runs even when nothing is tagged: it validates lengths and
	// block counts before the decoder allocates anything.
	if body, err = p.plan.rewrite(indexes, body, make([]byte, 0, len(body)), d.decryptLeaf(p, subject), false); err != nil {
		return nil, err
	}
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

func (d *Deserializer) writerSchema(topic string, ref schemaRef) (schemaregistry.SchemaInfo, planKey, error) {
	if ref.id > 0 {
		subject, err := d.subject(topic, schemaregistry.SchemaInfo{})
		if err != nil {
			return schemaregistry.SchemaInfo{}, planKey{}, err
		}
		info, err := d.client.GetBySubjectAndID(subject, ref.id)
		if err != nil {
			return info, planKey{}, registryErr(err, "schema id "+strconv.Itoa(ref.id))
		}
		return info, planKey{writer: strconv.Itoa(ref.id)}, nil
	}
	info, err := d.client.GetByGUID(ref.guid.String())
	if err != nil {
		return info, planKey{}, registryErr(err, "schema GUID "+ref.guid.String())
	}
	return info, planKey{writer: ref.guid.String()}, nil
}

func (d *Deserializer) readerSchema(subject string) (*schemaregistry.SchemaMetadata, error) {
	var meta schemaregistry.SchemaMetadata
	var err error
	switch {
	case len(d.conf.UseLatestWithMetadata) > 0:
		meta, err = d.client.GetLatestWithMetadata(subject, d.conf.UseLatestWithMetadata, true)
	case d.conf.UseLatestVersion:
		meta, err = d.client.GetLatestSchemaMetadata(subject)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, registryErr(err, "subject "+subject)
	}
	return &meta, nil
}
