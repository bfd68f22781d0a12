package hcvault_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/hashicorp/vault/api"

	"github.com/tagseal/tagseal/serde"
)

type Card struct {
	ID    int32  `avro:"id"`
	Email string `avro:"email"`
	PAN   string `avro:"pan"`
}

const cardSchema = `{"type":"record","name":"Card","namespace":"com.acme","fields":[
 {"name":"id","type":"int"},
 {"name":"email","type":"string","confluent:tags":["PII"]},
 {"name":"pan","type":"string","confluent:tags":["PCI"]}]}`

var card = &Card{ID: 1, Email: "ada@example.com", PAN: "4111111111111111"}

func registry(t *testing.T) schemaregistry.Client {
	t.Helper()
	c, err := schemaregistry.NewClient(schemaregistry.NewConfig("mock://vault-" + strings.ReplaceAll(t.Name(), "/", "-")))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func vaultRule(name, kek, keyID string, tags []string, onFailure string) schemaregistry.Rule {
	return schemaregistry.Rule{Name: name, Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: tags,
		OnFailure: onFailure,
		Params:    map[string]string{"encrypt.kek.name": kek, "encrypt.kms.type": "hcvault", "encrypt.kms.key.id": keyID}}
}

func register(t *testing.T, c schemaregistry.Client, subject string, rules ...schemaregistry.Rule) {
	t.Helper()
	if _, err := c.Register(subject, schemaregistry.SchemaInfo{Schema: cardSchema, SchemaType: "AVRO",
		RuleSet: &schemaregistry.RuleSet{DomainRules: rules}}, false); err != nil {
		t.Fatal(err)
	}
}

func serdes(t *testing.T, c schemaregistry.Client, config map[string]string, opts serde.Options) (*serde.Serializer, *serde.Deserializer) {
	t.Helper()
	sc := serde.NewSerializerConfig()
	sc.AutoRegisterSchemas, sc.UseLatestVersion, sc.RuleConfig, sc.Options = false, true, config, opts
	s, err := serde.NewSerializer(c, cserde.ValueSerde, sc)
	if err != nil {
		t.Fatal(err)
	}
	dc := serde.NewDeserializerConfig()
	dc.RuleConfig, dc.Options = config, opts
	d, err := serde.NewDeserializer(c, cserde.ValueSerde, dc)
	if err != nil {
		t.Fatal(err)
	}
	return s, d
}

func uniqueKEK(t *testing.T, what string) string {
	return fmt.Sprintf("kek-%s-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), what, keySeq.Add(1))
}

// 10 000 records over three subjects make exactly three wraps on the
// producer and three unwraps on the consumer, counted at the wire.
func TestKMSCallsScaleWithDEKs(t *testing.T) {
	c, addr, token := vault(t)
	proxy := newCountingProxy(t, addr)
	name := newKey(t, c)
	reg := registry(t)
	kek := uniqueKEK(t, "load")
	topics := []string{"load-a", "load-b", "load-c"}
	for _, topic := range topics {
		register(t, reg, topic+"-value",
			vaultRule("pii", kek, keyID("http://"+strings.TrimPrefix(proxy.URL, "http://"), name), []string{"PII", "PCI"}, ""))
	}
	s, d := serdes(t, reg, map[string]string{"token.id": token}, serde.Options{})
	for i := 0; i < 10000; i++ {
		topic := topics[i%len(topics)]
		b, err := s.Serialize(topic, card)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Deserialize(topic, b); err != nil {
			t.Fatal(err)
		}
	}
	if w, u := proxy.wraps.Load(), proxy.unwraps.Load(); w != 3 || u != 3 {
		t.Fatalf("KMS calls: %d wraps, %d unwraps; want 3 and 3 (one DEK per subject)", w, u)
	}
}

// After warm-up, losing the KMS does not stop traffic; a cold start with
// the KMS down fails closed.
func TestVaultOutage(t *testing.T) {
	c, addr, token := vault(t)
	proxy := newCountingProxy(t, addr)
	name := newKey(t, c)
	reg := registry(t)
	register(t, reg, "outage-value", vaultRule("pii", uniqueKEK(t, "outage"), keyID(proxy.URL, name), []string{"PII", "PCI"}, ""))
	config := map[string]string{"token.id": token}
	s, d := serdes(t, reg, config, serde.Options{})
	warm, err := s.Serialize("outage", card)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Deserialize("outage", warm); err != nil {
		t.Fatal(err)
	}
	proxy.Close()
	for i := 0; i < 100; i++ {
		b, err := s.Serialize("outage", card)
		if err != nil {
			t.Fatalf("warm producer during outage: %v", err)
		}
		got := &Card{}
		if err := d.DeserializeInto("outage", b, got); err != nil || *got != *card {
			t.Fatalf("warm consumer during outage: %+v %v", got, err)
		}
	}
	_, cold := serdes(t, reg, config, serde.Options{})
	_, err = cold.Deserialize("outage", warm)
	if !errors.Is(err, serde.ErrKMSUnavailable) {
		t.Fatalf("cold consumer with the KMS down: %v, want ErrKMSUnavailable", err)
	}
	if strings.Contains(err.Error(), card.Email) || strings.Contains(err.Error(), card.PAN) {
		t.Fatal("error leaks plaintext")
	}
}

// encrypt.alternate.kms.key.ids: with the primary Vault gone, DEKs are
// wrapped and unwrapped through the alternate.
func TestAlternateKeyFailover(t *testing.T) {
	c, addr, token := vault(t)
	name := newKey(t, c)
	reg := registry(t)
	register(t, reg, "alt-value", vaultRule("pii", uniqueKEK(t, "alt"), "http://127.0.0.1:1/transit/keys/"+name, []string{"PII", "PCI"}, ""))
	config := map[string]string{"token.id": token, serde.ParamAlternateKMSKeyIDs: keyID(addr, name)}
	s, d := serdes(t, reg, config, serde.Options{})
	b, err := s.Serialize("alt", card)
	if err != nil {
		t.Fatal(err)
	}
	got := &Card{}
	if err := d.DeserializeInto("alt", b, got); err != nil || *got != *card {
		t.Fatalf("%+v %v", got, err)
	}
}

// Per-consumer visibility through Vault policy: PII is under one transit
// key, PCI under another; a consumer whose token may decrypt only the PII
// key sees PII in clear and PCI as ciphertext (read action NONE), or an
// error (ERROR).
func TestTokenPolicyVisibility(t *testing.T) {
	c, addr, token := vault(t)
	piiKey, pciKey := newKey(t, c), newKey(t, c)
	policy := writePolicy(t, c, piiKey)
	secret, err := c.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{policy}, NoParent: true})
	if err != nil {
		t.Fatal(err)
	}
	piiOnly := map[string]string{"token.id": secret.Auth.ClientToken}
	for _, readAction := range []string{"NONE", "ERROR"} {
		t.Run(readAction, func(t *testing.T) {
			reg := registry(t)
			register(t, reg, "cards-value",
				vaultRule("pii", uniqueKEK(t, "pii"), keyID(addr, piiKey), []string{"PII"}, "ERROR,"+readAction),
				vaultRule("pci", uniqueKEK(t, "pci"), keyID(addr, pciKey), []string{"PCI"}, "ERROR,"+readAction))
			producer, _ := serdes(t, reg, map[string]string{"token.id": token}, serde.Options{})
			b, err := producer.Serialize("cards", card)
			if err != nil {
				t.Fatal(err)
			}
			_, consumer := serdes(t, reg, piiOnly, serde.Options{})
			got := &Card{}
			err = consumer.DeserializeInto("cards", b, got)
			if readAction == "ERROR" {
				if !errors.Is(err, serde.ErrDEKUnwrapFailed) || !strings.Contains(err.Error(), "com.acme.Card.pan") {
					t.Fatalf("ERROR read action: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Email != card.Email {
				t.Fatalf("PII should be readable: %q", got.Email)
			}
			if got.PAN == card.PAN {
				t.Fatal("PCI must stay encrypted for this consumer")
			}
			if _, err := base64.StdEncoding.DecodeString(got.PAN); err != nil {
				t.Fatalf("PCI is not the stored ciphertext: %q", got.PAN)
			}
		})
	}
}

// Raising min_decryption_version after rotating shreds what older key
// versions wrapped: a new consumer gets ErrKeyShredded.
func TestShreddingThroughSerde(t *testing.T) {
	c, addr, token := vault(t)
	name := newKey(t, c)
	reg := registry(t)
	register(t, reg, "shred-value", vaultRule("pii", uniqueKEK(t, "shred"), keyID(addr, name), []string{"PII", "PCI"}, ""))
	config := map[string]string{"token.id": token}
	s, _ := serdes(t, reg, config, serde.Options{})
	b, err := s.Serialize("shred", card)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("transit/keys/"+name+"/rotate", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("transit/keys/"+name+"/config", map[string]any{"min_decryption_version": 2}); err != nil {
		t.Fatal(err)
	}
	_, d := serdes(t, reg, config, serde.Options{})
	if _, err := d.Deserialize("shred", b); !errors.Is(err, serde.ErrKeyShredded) {
		t.Fatalf("%v, want ErrKeyShredded", err)
	}
}
