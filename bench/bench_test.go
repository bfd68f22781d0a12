package bench

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	_ "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption"
	_ "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/localkms"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"
	cjson "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/jsonschema"
	cproto "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/protobuf"
	"github.com/hamba/avro/v2"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/tagseal/tagseal"
	pbformat "github.com/tagseal/tagseal/formats/protobuf"
	"github.com/tagseal/tagseal/registry"
	"github.com/tagseal/tagseal/serde"
	"github.com/tagseal/tagseal/tags"
)

var ruleConfig = map[string]string{"secret": "bench-secret"}

// client is shared: Confluent's rule executors are process-wide and accept
// one registry configuration only.
var client = func() schemaregistry.Client {
	c, err := schemaregistry.NewClient(schemaregistry.NewConfig("mock://bench"))
	if err != nil {
		panic(err)
	}
	return c
}()

// record is one benchmark input: its schema, a fresh value, a target.
type record struct {
	name, format, schema string
	value                func() any // fresh value: Confluent encrypts in place
	target               func() any
	bytes                int64 // payload size for MB/s, or 0
}

func protoValue(schema, message string, doc map[string]any) func() any {
	plan, err := pbformat.Compile(schema, nil, &tags.RuleSet{})
	if err != nil {
		panic(err)
	}
	idx, err := plan.IndexesOf(protoreflectName(message))
	if err != nil {
		panic(err)
	}
	md, _ := plan.MessageAt(idx)
	b, _ := json.Marshal(doc)
	proto1 := dynamicpb.NewMessage(md)
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, proto1); err != nil {
		panic(err)
	}
	return func() any { return proto.Clone(proto1) }
}

func protoTarget(fn func() any) func() any {
	proto1 := fn().(*dynamicpb.Message)
	return func() any { return dynamicpb.NewMessage(proto1.Descriptor()) }
}

var (
	nestedProtoDoc = func() map[string]any {
		m := asJSON(newNested())
		var notes []any
		for _, l := range newNested().Lines {
			notes = append(notes, l.Note)
		}
		m["line_notes"] = notes
		delete(m, "lines")
		return m
	}()
	protoFlatValue   = protoValue(protoFlat, "bench.Flat", asJSON(newFlat()))
	protoNestedValue = protoValue(protoNested, "bench.Nested", nestedProtoDoc)
)

var records = []record{
	{"avro-flat", "AVRO", avroFlat, func() any { return newFlat() }, func() any { return &Flat{} }, 0},
	{"avro-nested", "AVRO", avroNested, func() any { return newNested() }, func() any { return &Nested{} }, 0},
	{"avro-64KiB", "AVRO", avroBig, func() any { return newBig() }, func() any { return &Big{} }, int64(len(bigBlob))},
	{"json-flat", "JSON", jsonFlat, func() any { return newFlat() }, func() any { return &Flat{} }, 0},
	{"json-nested", "JSON", jsonNested, func() any { return newNested() }, func() any { return &Nested{} }, 0},
	{"protobuf-flat", "PROTOBUF", protoFlat, protoFlatValue, protoTarget(protoFlatValue), 0},
	{"protobuf-nested", "PROTOBUF", protoNested, protoNestedValue, protoTarget(protoNestedValue), 0},
}

// serializer and deserializer are what the benchmarks call: Confluent's
// serdes, tagseal's Confluent adapter (serde) and the pure-Go API (through
// pureSerde) all provide them.
type serializer interface {
	Serialize(topic string, msg any) ([]byte, error)
}

type deserializer interface {
	Deserialize(topic string, payload []byte) (any, error)
	DeserializeInto(topic string, payload []byte, msg any) error
}

// pureSerde calls the pure-Go API (package tagseal) with a background
// context, as a producer loop would.
type pureSerde struct {
	s *tagseal.Serializer
	d *tagseal.Deserializer
}

func (p pureSerde) Serialize(topic string, msg any) ([]byte, error) {
	return p.s.Serialize(context.Background(), topic, msg)
}

func (p pureSerde) Deserialize(topic string, payload []byte) (any, error) {
	return p.d.Deserialize(context.Background(), topic, payload)
}

func (p pureSerde) DeserializeInto(topic string, payload []byte, msg any) error {
	return p.d.DeserializeInto(context.Background(), topic, payload, msg)
}

// memory is the pure API's registry: embedded, no HTTP.
var memory = registry.NewMemory()

type impl struct {
	name string
	ser  serializer
	de   deserializer
	// fresh: the serializer mutates its input, so every op gets a new value.
	fresh bool
}

var setupOnce = map[string]*sync.Once{}
var impls = map[string][]impl{}
var mu sync.Mutex

func setup(b *testing.B, r record) []impl {
	b.Helper()
	mu.Lock()
	defer mu.Unlock()
	if im, ok := impls[r.name]; ok {
		return im
	}
	_, err := client.Register(r.name+"-value", schemaregistry.SchemaInfo{Schema: r.schema, SchemaType: r.format,
		RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{{
			Name: "pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"},
			Params: map[string]string{"encrypt.kek.name": "bench-" + r.name, "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "k"},
		}}}}, false)
	if err != nil {
		b.Fatal(err)
	}
	var cser cserde.Serializer
	var cde cserde.Deserializer
	switch r.format {
	case "AVRO":
		sc := avrov2.NewSerializerConfig()
		sc.AutoRegisterSchemas, sc.UseLatestVersion, sc.RuleConfig = false, true, ruleConfig
		cser, err = avrov2.NewSerializer(client, cserde.ValueSerde, sc)
		if err == nil {
			dc := avrov2.NewDeserializerConfig()
			dc.RuleConfig = ruleConfig
			cde, err = avrov2.NewDeserializer(client, cserde.ValueSerde, dc)
		}
	case "JSON":
		sc := cjson.NewSerializerConfig()
		sc.AutoRegisterSchemas, sc.UseLatestVersion, sc.RuleConfig = false, true, ruleConfig
		cser, err = cjson.NewSerializer(client, cserde.ValueSerde, sc)
		if err == nil {
			dc := cjson.NewDeserializerConfig()
			dc.RuleConfig = ruleConfig
			cde, err = cjson.NewDeserializer(client, cserde.ValueSerde, dc)
		}
	case "PROTOBUF":
		sc := cproto.NewSerializerConfig()
		sc.AutoRegisterSchemas, sc.UseLatestVersion, sc.RuleConfig = false, true, ruleConfig
		cser, err = cproto.NewSerializer(client, cserde.ValueSerde, sc)
		if err == nil {
			dc := cproto.NewDeserializerConfig()
			dc.RuleConfig = ruleConfig
			var d *cproto.Deserializer
			d, err = cproto.NewDeserializer(client, cserde.ValueSerde, dc)
			d.MessageFactory = func(string, string) (any, error) { return r.target(), nil }
			cde = d
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	tsc := serde.NewSerializerConfig()
	tsc.AutoRegisterSchemas, tsc.UseLatestVersion, tsc.RuleConfig = false, true, ruleConfig
	tser, err := serde.NewSerializer(client, cserde.ValueSerde, tsc)
	if err != nil {
		b.Fatal(err)
	}
	tdc := serde.NewDeserializerConfig()
	tdc.RuleConfig = ruleConfig
	tde, err := serde.NewDeserializer(client, cserde.ValueSerde, tdc)
	if err != nil {
		b.Fatal(err)
	}
	// The pure API over the embedded registry, with the same schema and rule.
	ctx := context.Background()
	var pureRules registry.RuleSet
	rs, _ := json.Marshal(schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{{
		Name: "pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"},
		Params: map[string]string{"encrypt.kek.name": "bench-" + r.name, "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "k"},
	}}})
	if err := json.Unmarshal(rs, &pureRules); err != nil {
		b.Fatal(err)
	}
	if _, err := memory.Register(ctx, r.name+"-value", registry.Schema{Schema: r.schema, SchemaType: r.format, RuleSet: &pureRules}, false); err != nil {
		b.Fatal(err)
	}
	keys := tagseal.Keys{RuleConfig: ruleConfig}
	pser, err := tagseal.NewSerializer(memory, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true, Keys: keys})
	if err != nil {
		b.Fatal(err)
	}
	pde, err := tagseal.NewDeserializer(memory, tagseal.Value, tagseal.DeserializerConfig{Keys: keys})
	if err != nil {
		b.Fatal(err)
	}
	pure := pureSerde{pser, pde}
	impls[r.name] = []impl{{"confluent", cser, cde, true}, {"tagseal", tser, tde, false}, {"purego", pure, pure, false}}
	return impls[r.name]
}

// deserialize reads payload with the implementation's idiom: Confluent's
// Protobuf DeserializeInto leaves the target encrypted, so it uses Deserialize.
func deserialize(im impl, r record, payload []byte) error {
	if im.name == "confluent" && r.format == "PROTOBUF" {
		_, err := im.de.Deserialize(r.name, payload)
		return err
	}
	return im.de.DeserializeInto(r.name, payload, r.target())
}

// BenchmarkSerde runs serialize and deserialize for every record with
// Confluent's CSFLE serdes and tagseal's, side by side.
func BenchmarkSerde(b *testing.B) {
	for _, r := range records {
		ims := setup(b, r)
		payload, err := ims[1].ser.Serialize(r.name, r.value())
		if err != nil {
			b.Fatal(err)
		}
		for _, im := range ims {
			b.Run(r.name+"/serialize/"+im.name, func(b *testing.B) {
				b.ReportAllocs()
				if r.bytes > 0 {
					b.SetBytes(r.bytes)
				}
				v := r.value()
				for i := 0; i < b.N; i++ {
					if im.fresh {
						v = r.value()
					}
					if _, err := im.ser.Serialize(r.name, v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		// The pure API reads what it wrote into its own registry; the
		// Confluent and serde rows read one tagseal payload.
		purePayload, err := ims[2].ser.Serialize(r.name, r.value())
		if err != nil {
			b.Fatal(err)
		}
		for _, im := range ims {
			payload := payload
			if im.name == "purego" {
				payload = purePayload
			}
			b.Run(r.name+"/deserialize/"+im.name, func(b *testing.B) {
				b.ReportAllocs()
				if r.bytes > 0 {
					b.SetBytes(r.bytes)
				}
				for i := 0; i < b.N; i++ {
					if err := deserialize(im, r, payload); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkFloor is plain hamba/avro encoding of the flat record (no
// registry, no encryption), and the cost of building a fresh flat value,
// which the Confluent rows pay on every op.
func BenchmarkFloor(b *testing.B) {
	schema := avro.MustParse(avroFlat)
	v := newFlat()
	b.Run("avro-flat/serialize/hamba-marshal", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := avro.Marshal(schema, v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("avro-flat/new-value", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sink = newFlat()
		}
	})
}

var sink any

// BenchmarkParallel measures scaling: compare ns/op with -cpu 1 and -cpu 2.
func BenchmarkParallel(b *testing.B) {
	r := records[0]
	ims := setup(b, r)
	payload, err := ims[1].ser.Serialize(r.name, r.value())
	if err != nil {
		b.Fatal(err)
	}
	im := ims[1]
	b.Run(r.name+"/serialize/tagseal", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			v := r.value()
			for pb.Next() {
				if _, err := im.ser.Serialize(r.name, v); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run(r.name+"/deserialize/tagseal", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := deserialize(im, r, payload); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
