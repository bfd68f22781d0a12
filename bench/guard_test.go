package bench

import (
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"

	"github.com/tagseal/tagseal/serde"
)

// BenchmarkGuard measures the downgrade guard on the write path: the same
// flat Avro record serialized with a fixed schema id with the guard on (the
// default) and off (AllowEncryptionDowngrade), and with auto-registration
// from the Go type, guarded. After warm-up the guard's view of the
// subject's latest version comes from a cache refreshed every
// LatestSchemaTTL, so the schema-id rows should match. (Auto-registration
// without the guard is no baseline: it registers the untagged derived
// schema and writes the fields in clear, the trap the guard closes.)
func BenchmarkGuard(b *testing.B) {
	for _, mode := range []string{"schema-id", "auto-register"} {
		subject := "guard-" + mode + "-value"
		id, err := client.Register(subject, schemaregistry.SchemaInfo{Schema: avroFlat, SchemaType: "AVRO",
			RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{{
				Name: "pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"},
				Params: map[string]string{"encrypt.kek.name": "bench-guard", "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "k"},
			}}}}, false)
		if err != nil {
			b.Fatal(err)
		}
		variants := []string{"guarded", "allowed"}
		if mode == "auto-register" {
			variants = variants[:1]
		}
		for _, variant := range variants {
			conf := serde.NewSerializerConfig()
			conf.RuleConfig = ruleConfig
			conf.AllowEncryptionDowngrade = variant == "allowed"
			if mode == "schema-id" {
				conf.AutoRegisterSchemas, conf.UseSchemaID = false, id
			}
			s, err := serde.NewSerializer(client, cserde.ValueSerde, conf)
			if err != nil {
				b.Fatal(err)
			}
			topic := "guard-" + mode
			v := newFlat()
			if _, err := s.Serialize(topic, v); err != nil {
				b.Fatal(err)
			}
			b.Run("avro-flat/"+mode+"/"+variant, func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if _, err := s.Serialize(topic, v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
