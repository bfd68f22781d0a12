package bench

import (
	"fmt"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	_ "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption"
	_ "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/localkms"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"

	"github.com/tagseal/tagseal/serde"
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

type Flat struct {
	ID    int64  `avro:"id"`
	Name  string `avro:"name"`
	Email string `avro:"email"`
	Phone string `avro:"phone"`
	Tier  string `avro:"tier"`
	Score int32  `avro:"score"`
}

type Addr struct {
	Street string `avro:"street"`
	City   string `avro:"city"`
	Zip    string `avro:"zip"`
}
type Nested struct {
	ID   int64  `avro:"id"`
	Name string `avro:"name"`
	Home Addr   `avro:"home"`
	Work Addr2  `avro:"work"`
}
type Addr2 struct {
	Street string `avro:"street"`
	City   string `avro:"city"`
}

type Line struct {
	SKU  string `avro:"sku"`
	Note string `avro:"note"`
	Qty  int32  `avro:"qty"`
}
type Lines struct {
	ID    int64  `avro:"id"`
	Lines []Line `avro:"lines"`
}

type record struct {
	name   string
	schema string
	value  func() any
	target func() any
}

var records = []record{
	{"flat", `{"type":"record","name":"Flat","namespace":"b","fields":[
	  {"name":"id","type":"long"},
	  {"name":"name","type":"string","confluent:tags":["PII"]},
	  {"name":"email","type":"string","confluent:tags":["PII"]},
	  {"name":"phone","type":"string","confluent:tags":["PII"]},
	  {"name":"tier","type":"string"},{"name":"score","type":"int"}]}`,
		func() any {
			return &Flat{ID: 1, Name: "Ada Lovelace", Email: "ada@example.com", Phone: "+44 20 7946 0000", Tier: "gold", Score: 97}
		},
		func() any { return &Flat{} }},
	{"nested", `{"type":"record","name":"Nested","namespace":"b","fields":[
	  {"name":"id","type":"long"},
	  {"name":"name","type":"string","confluent:tags":["PII"]},
	  {"name":"home","type":{"type":"record","name":"Addr","fields":[
	    {"name":"street","type":"string","confluent:tags":["PII"]},{"name":"city","type":"string"},{"name":"zip","type":"string","confluent:tags":["PII"]}]}},
	  {"name":"work","type":{"type":"record","name":"Addr2","fields":[
	    {"name":"street","type":"string","confluent:tags":["PII"]},{"name":"city","type":"string"}]}}]}`,
		func() any {
			return &Nested{ID: 2, Name: "Grace Hopper", Home: Addr{"1 Navy Way", "Arlington", "22201"}, Work: Addr2{"2 Pentagon", "Washington"}}
		},
		func() any { return &Nested{} }},
	{"array", `{"type":"record","name":"Lines","namespace":"b","fields":[
	  {"name":"id","type":"long"},
	  {"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[
	    {"name":"sku","type":"string"},{"name":"note","type":"string","confluent:tags":["PII"]},{"name":"qty","type":"int"}]}}}]}`,
		func() any {
			ls := &Lines{ID: 3}
			for i := 0; i < 10; i++ {
				ls.Lines = append(ls.Lines, Line{SKU: fmt.Sprintf("SKU-%d", i), Note: "deliver to Alan Turing", Qty: int32(i)})
			}
			return ls
		},
		func() any { return &Lines{} }},
}

type impl struct {
	name string
	ser  cserde.Serializer
	de   cserde.Deserializer
}

func setup(b *testing.B, r record) []impl {
	b.Helper()
	_, err := client.Register(r.name+"-value", schemaregistry.SchemaInfo{Schema: r.schema, SchemaType: "AVRO",
		RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{{
			Name: "pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"},
			Params: map[string]string{"encrypt.kek.name": "bench-" + r.name, "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "k"},
		}}}}, false)
	if err != nil {
		b.Fatal(err)
	}
	csc := avrov2.NewSerializerConfig()
	csc.AutoRegisterSchemas, csc.UseLatestVersion, csc.RuleConfig = false, true, ruleConfig
	cser, err := avrov2.NewSerializer(client, cserde.ValueSerde, csc)
	if err != nil {
		b.Fatal(err)
	}
	cdc := avrov2.NewDeserializerConfig()
	cdc.RuleConfig = ruleConfig
	cde, err := avrov2.NewDeserializer(client, cserde.ValueSerde, cdc)
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
	return []impl{{"confluent", cser, cde}, {"tagseal", tser, tde}}
}

// BenchmarkSerialize encrypts and encodes one record per op.
func BenchmarkSerialize(b *testing.B) {
	for _, r := range records {
		for _, im := range setup(b, r) {
			b.Run(r.name+"/"+im.name, func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					// Confluent encrypts in place: give both a fresh value.
					if _, err := im.ser.Serialize(r.name, r.value()); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDeserialize decrypts and decodes one record per op.
func BenchmarkDeserialize(b *testing.B) {
	for _, r := range records {
		impls := setup(b, r)
		payload, err := impls[1].ser.Serialize(r.name, r.value())
		if err != nil {
			b.Fatal(err)
		}
		for _, im := range impls {
			b.Run(r.name+"/"+im.name, func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if err := im.de.DeserializeInto(r.name, payload, r.target()); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
