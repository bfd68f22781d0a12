package gooracle

import (
	"reflect"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	_ "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/hcvault"

	"github.com/tagseal/tagseal/internal/vaulttest"
	_ "github.com/tagseal/tagseal/kms/hcvault"
	"github.com/tagseal/tagseal/serde"
)

// Both directions with a KEK in OpenBao transit: each side unwraps the DEK
// the other created.
func TestHCVaultOracle(t *testing.T) {
	vc, addr, _ := vaulttest.Server(t)
	for _, dir := range []string{"tagseal-first", "confluent-first"} {
		t.Run(dir, func(t *testing.T) {
			key := "oracle-" + dir
			if _, err := vc.Logical().Write("transit/keys/"+key, map[string]any{}); err != nil {
				t.Fatal(err)
			}
			topic := "hcvault-oracle-" + dir
			rule := encryptRule("pii", "kek-hcvault-"+dir, []string{"PII"}, map[string]string{
				"encrypt.kms.type": "hcvault", "encrypt.kms.key.id": addr + "/transit/keys/" + key})
			register(t, topic+"-value", schemaregistry.SchemaInfo{Schema: customerSchema,
				RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{rule}}})
			tser, tde := tagsealPair(t, serde.Options{})
			cser, cde := confluentPair(t)
			want := &Customer{ID: 5, Name: "Katherine Johnson", Email: "kj@example.com", Age: 101}
			secrets := []string{want.Name, want.Email}
			first, second := func() ([]byte, error) { return tser.Serialize(topic, want) }, func(p []byte) (any, error) {
				got := &Customer{}
				return got, cde.DeserializeInto(topic, p, got)
			}
			if dir == "confluent-first" {
				first = func() ([]byte, error) { c := *want; return cser.Serialize(topic, &c) }
				second = func(p []byte) (any, error) {
					got := &Customer{}
					return got, tde.DeserializeInto(topic, p, got)
				}
			}
			payload, err := first()
			if err != nil {
				t.Fatal(err)
			}
			assertNoPlaintext(t, payload, secrets)
			got, err := second(payload)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}
