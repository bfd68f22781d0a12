package registryoracle

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/registry"
)

// TestUsageLimitRotationReadByConfluentGo: a tagseal serializer whose rule
// allows 100 encryptions per DEK version writes 250 records with one
// tagged field each. It rotates at the limit, as expiry does, so the DEK
// Registry ends with three versions, and Confluent Go's deserializer (its
// rules/encryption executor) reads every record back, each under the
// version named in its ciphertext prefix.
func TestUsageLimitRotationReadByConfluentGo(t *testing.T) {
	ctx := context.Background()
	const topic, kek = "usage-limit", "usage-limit-kek"
	rule := encryptRule("pii", kek, "PII")
	rule.Params[tagseal.ParamDEKExpiryDays] = "30"
	rule.Params[tagseal.ParamDEKMaxEncryptions] = "100"
	if _, err := client.Register(topic+"-value", schemaregistry.SchemaInfo{SchemaType: "AVRO", Schema: `{"type":"record","name":"Customer","namespace":"scope","fields":[
			{"name":"id","type":"int"},{"name":"email","type":"string","confluent:tags":["PII"]}]}`,
		RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{rule}}}, false); err != nil {
		t.Fatal(err)
	}
	pureReg, err := registry.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ser, err := tagseal.NewSerializer(pureReg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true, Keys: tagseal.Keys{RuleConfig: ruleConfig}})
	if err != nil {
		t.Fatal(err)
	}
	dc := avrov2.NewDeserializerConfig()
	dc.RuleConfig = ruleConfig
	de, err := avrov2.NewDeserializer(client, cserde.ValueSerde, dc)
	if err != nil {
		t.Fatal(err)
	}
	const records = 250
	payloads := make([][]byte, records)
	for i := range payloads {
		c := &scopeCustomer{ID: int32(i), Email: fmt.Sprintf("customer-%d@example.com", i)}
		if payloads[i], err = ser.Serialize(ctx, topic, c); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if bytes.Contains(payloads[i], []byte(c.Email)) {
			t.Fatalf("record %d: tagged value in clear", i)
		}
	}
	versions, err := memory.DEKVersions(ctx, kek, topic+"-value", tagseal.AES256GCM, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) < 3 {
		t.Fatalf("DEK versions %v after %d encryptions at a limit of 100: want at least 3", versions, records)
	}
	for i, b := range payloads {
		var got scopeCustomer
		if err := de.DeserializeInto(topic, b, &got); err != nil {
			t.Fatalf("Confluent Go read record %d: %v", i, err)
		}
		if want := fmt.Sprintf("customer-%d@example.com", i); got.ID != int32(i) || got.Email != want {
			t.Fatalf("Confluent Go read record %d as %+v, want email %s", i, got, want)
		}
	}
	t.Logf("%d records, DEK versions %v, all read by Confluent Go", records, versions)
}
