package gooracle

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	_ "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/hcvault"
	"github.com/hashicorp/vault/api"

	_ "github.com/tagseal/tagseal/kms/hcvault"
	"github.com/tagseal/tagseal/serde"
)

// Both directions with a KEK in OpenBao transit: each side unwraps the DEK
// the other created.
func TestHCVaultOracle(t *testing.T) {
	addr, token := os.Getenv("TAGSEAL_VAULT_ADDR"), os.Getenv("TAGSEAL_VAULT_TOKEN")
	if addr == "" || token == "" {
		t.Skip("TAGSEAL_VAULT_ADDR/TAGSEAL_VAULT_TOKEN not set: run through scripts/with-services.sh (make test)")
	}
	cfg := api.DefaultConfig()
	cfg.Address = addr
	vc, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	vc.SetToken(token)
	if err := vc.Sys().Mount("transit", &api.MountInput{Type: "transit"}); err != nil && !strings.Contains(err.Error(), "already in use") {
		t.Fatal(err)
	}
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
