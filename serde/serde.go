// Package serde is tagseal's drop-in for confluent-kafka-go's Schema
// Registry serdes: a Serializer and Deserializer that satisfy
// cserde.Serializer and cserde.Deserializer, so code that uses Confluent's
// avrov2, jsonschema or protobuf serdes changes one constructor.
//
// It is a thin adapter: it maps Confluent's configuration, registry and
// DEK Registry clients and kafka.Header onto the pure-Go engine in the
// module's root package (github.com/tagseal/tagseal), which franz-go,
// sarama and static (CGO_ENABLED=0) builds use directly. With a mock://
// registry URL it uses confluent-kafka-go's in-memory DEK client, so tests
// share keys with Confluent's own serdes.
package serde

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/deks"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/registry"
)

// Serializer encodes values with the schema it resolves in the Schema
// Registry and encrypts every tagged field on the way. It satisfies
// confluent-kafka-go's serde.Serializer and is safe for concurrent use.
type Serializer struct {
	*tagseal.Serializer
	options Options
	dek     deks.Client // closed by Close when the Serializer created it
}

var _ cserde.Serializer = (*Serializer)(nil)

// Deserializer reads what a Serializer (tagseal's or Confluent's) wrote and
// decrypts the tagged fields it holds the keys for. Fields whose rule says
// onFailure NONE for reads come back as stored (ciphertext) when they cannot
// be decrypted. It satisfies confluent-kafka-go's serde.Deserializer and is
// safe for concurrent use.
type Deserializer struct {
	*tagseal.Deserializer
	options Options
	dek     deks.Client
}

var _ cserde.Deserializer = (*Deserializer)(nil)

// NewSerializer returns a Serializer for keys (cserde.KeySerde) or values
// (cserde.ValueSerde). A nil conf means NewSerializerConfig(). conf is read
// once: changing it later changes nothing.
func NewSerializer(client schemaregistry.Client, serdeType cserde.Type, conf *SerializerConfig) (*Serializer, error) {
	if conf == nil {
		conf = NewSerializerConfig()
	}
	reg, dekClient, owned, err := adapt(client, conf.Options)
	if err != nil {
		return nil, err
	}
	strategy, err := strategyOf(client, serdeType, conf.SubjectNameStrategyType, conf.SubjectNameStrategyConfig, conf.Options.SubjectNameStrategy)
	if err != nil {
		return nil, err
	}
	inHeader, err := schemaIDInHeader(conf.SchemaIDSerializer)
	if err != nil {
		return nil, err
	}
	tconf := tagseal.SerializerConfig{
		AutoRegisterSchemas:      conf.AutoRegisterSchemas,
		NormalizeSchemas:         conf.NormalizeSchemas,
		UseSchemaID:              max(conf.UseSchemaID, 0),
		UseLatestVersion:         conf.UseLatestVersion,
		UseLatestWithMetadata:    conf.UseLatestWithMetadata,
		LatestSchemaTTL:          conf.LatestSchemaTTL,
		SchemaType:               conf.SchemaType,
		SubjectNameStrategy:      strategy,
		SchemaIDInHeader:         inHeader,
		Validate:                 conf.Validate,
		AllowEncryptionDowngrade: conf.AllowEncryptionDowngrade,
		Keys:                     keysOf(conf.RuleConfig, conf.Options, dekClient),
	}
	s, err := tagseal.NewSerializer(reg, typeOf(serdeType), tconf)
	if err != nil {
		return nil, err
	}
	out := &Serializer{Serializer: s, options: conf.Options}
	if owned {
		out.dek = dekClient.c
	}
	return out, nil
}

// NewDeserializer returns a Deserializer for keys or values. A nil conf
// means NewDeserializerConfig().
func NewDeserializer(client schemaregistry.Client, serdeType cserde.Type, conf *DeserializerConfig) (*Deserializer, error) {
	if conf == nil {
		conf = NewDeserializerConfig()
	}
	reg, dekClient, owned, err := adapt(client, conf.Options)
	if err != nil {
		return nil, err
	}
	strategy, err := strategyOf(client, serdeType, conf.SubjectNameStrategyType, conf.SubjectNameStrategyConfig, conf.Options.SubjectNameStrategy)
	if err != nil {
		return nil, err
	}
	tconf := tagseal.DeserializerConfig{
		UseLatestVersion:      conf.UseLatestVersion,
		UseLatestWithMetadata: conf.UseLatestWithMetadata,
		LatestSchemaTTL:       conf.LatestSchemaTTL,
		SubjectNameStrategy:   strategy,
		Validate:              conf.Validate,
		ReadDeletedKeys:       conf.ReadDeletedKeys,
		Keys:                  keysOf(conf.RuleConfig, conf.Options, dekClient),
	}
	d, err := tagseal.NewDeserializer(reg, typeOf(serdeType), tconf)
	if err != nil {
		return nil, err
	}
	out := &Deserializer{Deserializer: d, options: conf.Options}
	if owned {
		out.dek = dekClient.c
	}
	return out, nil
}

// adapt wraps Confluent's clients for the engine. The DEK client is
// Options.DEKClient, else one made for the registry's configuration (or
// Options.DEKRegistryURL); owned reports that the serde made it and must
// close it — never the process-wide mock, whose closing would erase every
// key in it.
func adapt(client schemaregistry.Client, opts Options) (schemaRegistry, dekRegistry, bool, error) {
	if client == nil {
		return schemaRegistry{}, dekRegistry{}, false, errors.New("tagseal: schema registry client missing")
	}
	if opts.DEKClient != nil {
		return schemaRegistry{client}, dekRegistry{c: opts.DEKClient}, false, nil
	}
	dekConfig := client.Config()
	if opts.DEKRegistryURL != "" {
		copied := *dekConfig
		copied.SchemaRegistryURL = opts.DEKRegistryURL
		dekConfig = &copied
	}
	fresh := func() (deks.Client, error) { return deks.NewClient(dekConfig) }
	c, err := fresh()
	if err != nil {
		return schemaRegistry{}, dekRegistry{}, false, fmt.Errorf("%w: DEK registry client: %v", ErrRegistry, err)
	}
	owned := !strings.HasPrefix(dekConfig.SchemaRegistryURL, "mock://")
	return schemaRegistry{client}, dekRegistry{c: c, fresh: fresh}, owned, nil
}

func keysOf(ruleConfig map[string]string, opts Options, dek dekRegistry) tagseal.Keys {
	return tagseal.Keys{
		RuleConfig:      ruleConfig,
		DEKCacheTTL:     opts.DEKCacheTTL,
		DEKRegistry:     dek,
		BindCiphertexts: opts.BindCiphertexts,
		Clock:           opts.Clock,
		KMSTimeout:      opts.KMSTimeout,
		Observer:        opts.Observer,
	}
}

func typeOf(t cserde.Type) tagseal.Type {
	if t == cserde.KeySerde {
		return tagseal.Key
	}
	return tagseal.Value
}

func cserdeType(t tagseal.Type) cserde.Type {
	if t == tagseal.Key {
		return cserde.KeySerde
	}
	return cserde.ValueSerde
}

// strategyOf maps Confluent's subject naming to the engine's: a custom
// cserde.SubjectNameStrategyFunc, the record strategies, the associated
// strategy (Confluent's, which asks the registry's associations API), or
// nil for the default topic strategy.
func strategyOf(client schemaregistry.Client, serdeType cserde.Type, typ cserde.SubjectNameStrategyType, config map[string]string, custom cserde.SubjectNameStrategyFunc) (tagseal.SubjectNameStrategy, error) {
	wrap := func(f cserde.SubjectNameStrategyFunc) tagseal.SubjectNameStrategy {
		return func(topic string, t tagseal.Type, s registry.Schema, _ func() (string, error)) (string, error) {
			return f(topic, cserdeType(t), toInfo(s))
		}
	}
	recordName := func(info schemaregistry.SchemaInfo) (string, error) {
		return tagseal.RecordName(context.Background(), schemaRegistry{client}, toSchema(info))
	}
	switch {
	case custom != nil:
		return wrap(custom), nil
	case typ == cserde.AssociatedNameStrategyType:
		f, err := cserde.AssociatedNameStrategy(client, config, recordName)
		if err != nil {
			return nil, err
		}
		return wrap(f), nil
	case typ == cserde.RecordNameStrategyType:
		return tagseal.RecordNameStrategy, nil
	case typ == cserde.TopicRecordNameStrategyType:
		return tagseal.TopicRecordNameStrategy, nil
	default:
		// Topic naming is the default; Confluent's v2.15 default consults
		// topic associations first and falls back to the same name.
		return nil, nil
	}
}

// schemaIDInHeader maps Confluent's schema-id framing functions: the
// prefix (default) or the GUID header. Other functions are refused rather
// than silently framed another way.
func schemaIDInHeader(f cserde.SchemaIDSerializerFunc) (bool, error) {
	switch {
	case f == nil || samePointer(f, cserde.PrefixSchemaIDSerializer):
		return false, nil
	case samePointer(f, cserde.HeaderSchemaIDSerializer):
		return true, nil
	}
	return false, fmt.Errorf("tagseal: unsupported SchemaIDSerializer: use cserde.PrefixSchemaIDSerializer or cserde.HeaderSchemaIDSerializer")
}

func samePointer(a, b cserde.SchemaIDSerializerFunc) bool {
	return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer()
}

// ConfigureSerializer re-initialises the serializer with a Confluent config,
// keeping tagseal's Options; caches start empty. It exists to satisfy
// cserde.Serializer.
func (s *Serializer) ConfigureSerializer(client schemaregistry.Client, serdeType cserde.Type, conf *cserde.SerializerConfig) error {
	n, err := NewSerializer(client, serdeType, &SerializerConfig{SerializerConfig: *conf, Options: s.options})
	if err != nil {
		return err
	}
	_ = s.Close()
	*s = *n
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
	hs, b, err := s.Serializer.SerializeWithHeaders(context.Background(), topic, msg)
	return toKafka(hs), b, err
}

// SerializeJSON serializes a record given as a JSON document (see
// tagseal.Serializer.SerializeJSON).
func (s *Serializer) SerializeJSON(topic string, doc []byte) ([]byte, error) {
	return s.Serializer.SerializeJSON(context.Background(), topic, doc)
}

// Close releases the DEK Registry client the serde created (never a client
// passed in Options, nor the process-wide mock).
func (s *Serializer) Close() error {
	if s.dek != nil {
		return s.dek.Close()
	}
	return nil
}

// ConfigureDeserializer re-initialises the deserializer with a Confluent
// config, keeping tagseal's Options. It exists to satisfy cserde.Deserializer.
func (d *Deserializer) ConfigureDeserializer(client schemaregistry.Client, serdeType cserde.Type, conf *cserde.DeserializerConfig) error {
	n, err := NewDeserializer(client, serdeType, &DeserializerConfig{DeserializerConfig: *conf, Options: d.options})
	if err != nil {
		return err
	}
	_ = d.Close()
	*d = *n
	return nil
}

// Deserialize decodes payload into a new value: map[string]any for Avro
// records. An empty payload (tombstone) yields nil.
func (d *Deserializer) Deserialize(topic string, payload []byte) (any, error) {
	return d.Deserializer.Deserialize(context.Background(), topic, payload)
}

// DeserializeWithHeaders is Deserialize with the schema GUID possibly in a header.
func (d *Deserializer) DeserializeWithHeaders(topic string, headers []kafka.Header, payload []byte) (any, error) {
	return d.Deserializer.DeserializeWithHeaders(context.Background(), topic, fromKafka(headers), payload)
}

// DeserializeInto decodes payload into msg, a non-nil pointer.
func (d *Deserializer) DeserializeInto(topic string, payload []byte, msg any) error {
	return d.Deserializer.DeserializeInto(context.Background(), topic, payload, msg)
}

// DeserializeWithHeadersInto is DeserializeInto with headers.
func (d *Deserializer) DeserializeWithHeadersInto(topic string, headers []kafka.Header, payload []byte, msg any) error {
	return d.Deserializer.DeserializeWithHeadersInto(context.Background(), topic, fromKafka(headers), payload, msg)
}

// DeserializeJSON reads a record and returns it as a JSON document (see
// tagseal.Deserializer.DeserializeJSON).
func (d *Deserializer) DeserializeJSON(topic string, payload []byte) ([]byte, error) {
	return d.Deserializer.DeserializeJSON(context.Background(), topic, payload)
}

// Inspect reads a record's frame, writer schema and encrypted fields
// without unwrapping any key. headers may carry the schema GUID.
func (d *Deserializer) Inspect(topic string, headers []kafka.Header, payload []byte) (*Inspection, error) {
	return d.Deserializer.Inspect(context.Background(), topic, fromKafka(headers), payload)
}

// Close releases the DEK Registry client the serde created.
func (d *Deserializer) Close() error {
	if d.dek != nil {
		return d.dek.Close()
	}
	return nil
}

func toKafka(hs []tagseal.Header) []kafka.Header {
	if hs == nil {
		return nil
	}
	out := make([]kafka.Header, len(hs))
	for i, h := range hs {
		out[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

func fromKafka(hs []kafka.Header) []tagseal.Header {
	if hs == nil {
		return nil
	}
	out := make([]tagseal.Header, len(hs))
	for i, h := range hs {
		out[i] = tagseal.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

// Lint checks a schema's tags and ENCRYPT rules without encrypting
// anything (see tagseal.Lint). client resolves references (it may be nil
// for a schema without any).
func Lint(client schemaregistry.Client, info schemaregistry.SchemaInfo) ([]Finding, error) {
	var reg registry.SchemaRegistry
	if client != nil {
		reg = schemaRegistry{client}
	}
	return tagseal.Lint(context.Background(), reg, toSchema(info))
}

// LintAgainst is Lint plus the serializer's downgrade check against
// subject's latest version (see tagseal.LintAgainst).
func LintAgainst(client schemaregistry.Client, subject string, info schemaregistry.SchemaInfo) ([]Finding, error) {
	var reg registry.SchemaRegistry
	if client != nil {
		reg = schemaRegistry{client}
	}
	return tagseal.LintAgainst(context.Background(), reg, subject, toSchema(info))
}
