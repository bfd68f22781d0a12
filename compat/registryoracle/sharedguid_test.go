package registryoracle

import (
	"bytes"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"

	"github.com/tagseal/tagseal/serde"
)

// The shared-GUID scenario: identical text under two subjects whose rules
// encrypt under different KEKs gets one GUID. Confluent Go writes records
// of both topics with the GUID in the __value_schema_id header, and so
// does tagseal (writing with a fixed schema id, whose by-id answer carries
// no GUID); one tagseal Deserializer reads every record with its topic's
// subject's rules, in both orders. Confluent Go resolves a GUID without
// the subject (GetByGUID), so it is only asked to read the subject that
// registered the text first, whose rules its answer carries.
func TestSharedSchemaGUIDAcrossSubjects(t *testing.T) {
	for _, order := range [][]string{{"east", "west"}, {"west", "east"}} {
		t.Run(order[0]+"-first", func(t *testing.T) {
			// Text of this case's own, so its first subject registers it first.
			schema := `{"type":"record","name":"Customer","namespace":"scopeguid.` + order[0] + `","fields":[
				{"name":"id","type":"int"},{"name":"email","type":"string","confluent:tags":["PII"]}]}`
			topics := map[string]string{}
			var id int
			var guid string
			for _, which := range order {
				topic := "guid-" + which + "-" + order[0]
				topics[which] = topic
				m, err := client.RegisterFullResponse(topic+"-value", schemaregistry.SchemaInfo{Schema: schema,
					RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{encryptRule("pii", "guid-kek-"+topic, "PII")}}}, false)
				if err != nil {
					t.Fatal(err)
				}
				if guid != "" && (m.GUID != guid || m.ID != id) {
					t.Fatalf("id/GUID %d/%s and %d/%s for identical text", id, guid, m.ID, m.GUID)
				}
				id, guid = m.ID, m.GUID
			}
			if guid == "" {
				t.Fatal("the registry gave no GUID")
			}

			sc := avrov2.NewSerializerConfig()
			sc.AutoRegisterSchemas, sc.UseLatestVersion, sc.RuleConfig = false, true, ruleConfig
			cser, err := avrov2.NewSerializer(client, cserde.ValueSerde, sc)
			if err != nil {
				t.Fatal(err)
			}
			cser.SchemaIDSerializer = cserde.HeaderSchemaIDSerializer
			tc := serde.NewSerializerConfig()
			tc.AutoRegisterSchemas, tc.UseSchemaID, tc.RuleConfig = false, id, ruleConfig
			tc.SchemaIDSerializer = cserde.HeaderSchemaIDSerializer
			tser, err := serde.NewSerializer(client, cserde.ValueSerde, tc)
			if err != nil {
				t.Fatal(err)
			}

			type record struct {
				by, which string
				headers   []kafka.Header
				body      []byte
			}
			var written []record
			for _, which := range order {
				for by, ser := range map[string]interface {
					SerializeWithHeaders(string, any) ([]kafka.Header, []byte, error)
				}{"confluent": cser, "tagseal": tser} {
					h, b, err := ser.SerializeWithHeaders(topics[which], &scopeCustomer{ID: 7, Email: scopeSecret})
					if err != nil {
						t.Fatalf("%s serialize %s: %v", by, which, err)
					}
					if len(h) != 1 || h[0].Key != cserde.ValueSchemaIDHeader || len(h[0].Value) != 17 || h[0].Value[0] != cserde.MagicByteV1 {
						t.Fatalf("%s serialize %s: headers %v", by, which, h)
					}
					if bytes.Contains(b, []byte(scopeSecret)) {
						t.Fatalf("%s wrote the %s record in clear", by, which)
					}
					written = append(written, record{by, which, h, b})
				}
			}
			if !bytes.Equal(written[0].headers[0].Value, written[1].headers[0].Value) {
				t.Fatalf("GUID headers differ: Confluent %x, tagseal %x", written[0].headers[0].Value, written[1].headers[0].Value)
			}

			dc := serde.NewDeserializerConfig()
			dc.RuleConfig = ruleConfig
			de, err := serde.NewDeserializer(client, cserde.ValueSerde, dc)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range written {
				var got scopeCustomer
				if err := de.DeserializeWithHeadersInto(topics[r.which], r.headers, r.body, &got); err != nil {
					t.Fatalf("tagseal read %s's %s record: %v", r.by, r.which, err)
				}
				if got.Email != scopeSecret || got.ID != 7 {
					t.Fatalf("tagseal read %s's %s record as %+v", r.by, r.which, got)
				}
			}

			// Confluent Go reads tagseal's record of the first-registered subject.
			dcc := avrov2.NewDeserializerConfig()
			dcc.RuleConfig = ruleConfig
			cde, err := avrov2.NewDeserializer(client, cserde.ValueSerde, dcc)
			if err != nil {
				t.Fatal(err)
			}
			first := written[1]
			if first.by != "tagseal" {
				first = written[0]
			}
			var got scopeCustomer
			if err := cde.DeserializeWithHeadersInto(topics[first.which], first.headers, first.body, &got); err != nil || got.Email != scopeSecret {
				t.Fatalf("confluent read tagseal's %s record: %+v, %v", first.which, got, err)
			}
		})
	}
}
