package tagseal_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/registry"
)

const payloadSchema = `{"type":"record","name":"User","namespace":"payload","fields":[
 {"name":"name","type":"string"},
 {"name":"email","type":"string","confluent:tags":["PII"]},
 {"name":"ssn","type":["null","string"],"default":null,"confluent:tags":["PII"]},
 {"name":"card","type":"bytes","confluent:tags":["PII"]}]}`

type payloadUser struct {
	Name  string  `avro:"name"`
	Email string  `avro:"email"`
	SSN   *string `avro:"ssn"`
	Card  []byte  `avro:"card"`
}

func payloadRule(kek, algorithm string) registry.Rule {
	return registry.Rule{Name: "pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"},
		Params: map[string]string{tagseal.ParamKEKName: kek, tagseal.ParamKMSType: "local-kms",
			tagseal.ParamKMSKeyID: "k", tagseal.ParamDEKAlgorithm: algorithm}}
}

var payloadKeys = tagseal.Keys{RuleConfig: map[string]string{"secret": "payload-secret"}}

// payloadFixture registers the same schema text under plain-value (no
// rules: what a client without CSFLE writes with) and users-value (an
// ENCRYPT rule), which share one id, and returns a plaintext payload
// framed with that id.
func payloadFixture(t *testing.T, algorithm string) (*registry.Memory, *payloadUser, []byte) {
	t.Helper()
	ctx := context.Background()
	reg := registry.NewMemory()
	if _, err := reg.Register(ctx, "plain-value", registry.Schema{Schema: payloadSchema}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(ctx, "users-value", registry.Schema{Schema: payloadSchema,
		RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{payloadRule("kek-payload", algorithm)}}}, false); err != nil {
		t.Fatal(err)
	}
	plainSer, err := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true})
	if err != nil {
		t.Fatal(err)
	}
	ssn := "123-45-6789"
	u := &payloadUser{Name: "ada", Email: "ada@example.com", SSN: &ssn, Card: []byte("4111111111111111")}
	plain, err := plainSer.Serialize(ctx, "plain", u)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(plain, []byte("ada@example.com")) {
		t.Fatal("the fixture is not plaintext")
	}
	return reg, u, plain
}

func containsPlaintext(b []byte, u *payloadUser) bool {
	return bytes.Contains(b, []byte(u.Email)) || bytes.Contains(b, []byte(*u.SSN)) || bytes.Contains(b, u.Card)
}

func TestSealPayloadThenDeserialize(t *testing.T) {
	ctx := context.Background()
	reg, u, plain := payloadFixture(t, tagseal.AES256GCM)
	ser, err := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true, Keys: payloadKeys})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := ser.SealPayload(ctx, "users", nil, plain)
	if err != nil {
		t.Fatal(err)
	}
	if containsPlaintext(sealed, u) {
		t.Fatal("tagged plaintext left in the sealed payload")
	}
	if !bytes.Equal(sealed[:5], plain[:5]) {
		t.Fatalf("frame changed: % x → % x", plain[:5], sealed[:5])
	}
	de, err := tagseal.NewDeserializer(reg, tagseal.Value, tagseal.DeserializerConfig{Keys: payloadKeys})
	if err != nil {
		t.Fatal(err)
	}
	var got payloadUser
	if err := de.DeserializeInto(ctx, "users", sealed, &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != u.Name || got.Email != u.Email || *got.SSN != *u.SSN || !bytes.Equal(got.Card, u.Card) {
		t.Fatalf("read back %+v, want %+v", got, u)
	}

	// Sealing what is sealed changes nothing: a CSFLE client's record
	// through the proxy stays readable.
	again, err := ser.SealPayload(ctx, "users", nil, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, sealed) {
		t.Fatal("an already sealed payload was sealed again")
	}
	// So does a record written by Serialize itself.
	direct, err := ser.Serialize(ctx, "users", u)
	if err != nil {
		t.Fatal(err)
	}
	if again, err = ser.SealPayload(ctx, "users", nil, direct); err != nil || !bytes.Equal(again, direct) {
		t.Fatalf("Serialize's output was changed by SealPayload (err %v)", err)
	}

	// OpenPayload with every KEK gives back the plaintext framing.
	opened, err := de.OpenPayload(ctx, "users", nil, sealed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(opened, plain) {
		t.Fatalf("OpenPayload = % x, want % x", opened, plain)
	}
	// Without the KEK it stays as stored, and is the input itself.
	closed, err := de.OpenPayload(ctx, "users", nil, sealed, func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(closed, sealed) || containsPlaintext(closed, u) {
		t.Fatal("OpenPayload decrypted a field whose KEK was refused")
	}
	asked := ""
	if _, err := de.OpenPayload(ctx, "users", nil, sealed, func(k string) bool { asked = k; return true }); err != nil || asked != "kek-payload" {
		t.Fatalf("mayOpen asked for %q (err %v)", asked, err)
	}
}

// With a deterministic DEK (AES256_SIV), SealPayload of the plain encoding
// is byte for byte what Serialize writes.
func TestSealPayloadIsSerialize(t *testing.T) {
	ctx := context.Background()
	reg, u, plain := payloadFixture(t, tagseal.AES256SIV)
	ser, err := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true, Keys: payloadKeys})
	if err != nil {
		t.Fatal(err)
	}
	direct, err := ser.Serialize(ctx, "users", u)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := ser.SealPayload(ctx, "users", nil, plain)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sealed, direct) {
		t.Fatalf("SealPayload = % x\nSerialize   = % x", sealed, direct)
	}
}

func TestSealPayloadRefusals(t *testing.T) {
	ctx := context.Background()
	reg, _, plain := payloadFixture(t, tagseal.AES256GCM)
	ser, err := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true, Keys: payloadKeys})
	if err != nil {
		t.Fatal(err)
	}
	// A topic whose subject has no rules: the input itself comes back.
	out, err := ser.SealPayload(ctx, "plain", nil, plain)
	if err != nil || &out[0] != &plain[0] || len(out) != len(plain) {
		t.Fatalf("rule-free payload was copied or changed (err %v)", err)
	}
	if _, err := ser.SealPayload(ctx, "users", nil, []byte(`{"email":"x"}`)); !errors.Is(err, tagseal.ErrUnknownMagicByte) {
		t.Fatalf("unframed: %v", err)
	}
	if _, err := ser.SealPayload(ctx, "users", nil, []byte{0, 0}); !errors.Is(err, tagseal.ErrShortPayload) {
		t.Fatalf("short frame: %v", err)
	}
	unknown := append([]byte{0, 0, 0, 0x7f, 0}, plain[5:]...)
	if _, err := ser.SealPayload(ctx, "users", nil, unknown); !errors.Is(err, tagseal.ErrSchemaNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := ser.SealPayload(ctx, "users", nil, plain[:len(plain)-3]); !errors.Is(err, tagseal.ErrMalformedPayload) {
		t.Fatalf("truncated body: %v", err)
	}
	if out, err := ser.SealPayload(ctx, "users", nil, nil); err != nil || out != nil {
		t.Fatalf("tombstone: %v", err)
	}
}

// A record framed with an older version that lacks the subject's
// encryption contract is refused, as the serializer's downgrade guard does.
func TestSealPayloadDowngrade(t *testing.T) {
	ctx := context.Background()
	reg := registry.NewMemory()
	old, err := reg.Register(ctx, "users-value", registry.Schema{Schema: `{"type":"record","name":"User","namespace":"payload","fields":[
 {"name":"name","type":"string"},{"name":"email","type":"string"}]}`}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(ctx, "users-value", registry.Schema{Schema: payloadSchema,
		RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{payloadRule("kek-payload", tagseal.AES256GCM)}}}, false); err != nil {
		t.Fatal(err)
	}
	ser, err := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true, Keys: payloadKeys})
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte{0, 0, 0, 0, byte(old.ID), 6, 'a', 'd', 'a', 2, 'x'}
	_, err = ser.SealPayload(ctx, "users", nil, payload)
	var de *tagseal.DowngradeError
	if !errors.Is(err, tagseal.ErrEncryptionDowngrade) || !errors.As(err, &de) || de.WriterID != old.ID {
		t.Fatalf("downgrade: %v", err)
	}
	rules, err := ser.TopicRules(ctx, "users")
	if err != nil || !rules.Encrypts || len(rules.KEKs) != 1 || rules.KEKs[0] != "kek-payload" || rules.Subject != "users-value" {
		t.Fatalf("TopicRules = %+v, %v", rules, err)
	}
	if rules, err := ser.TopicRules(ctx, "other"); err != nil || rules.Encrypts || len(rules.KEKs) != 0 {
		t.Fatalf("TopicRules(other) = %+v, %v", rules, err)
	}
}

// ENCRYPT_PAYLOAD (encoding rule) on top of a field rule: the body is
// sealed whole after the fields, a sealed body is not sealed again, and
// OpenPayload opens both layers only when both KEKs are allowed.
func TestSealPayloadEncryptPayload(t *testing.T) {
	ctx := context.Background()
	reg := registry.NewMemory()
	if _, err := reg.Register(ctx, "plain-value", registry.Schema{Schema: payloadSchema}, false); err != nil {
		t.Fatal(err)
	}
	whole := payloadRule("kek-whole", tagseal.AES256GCM)
	whole.Name, whole.Type, whole.Tags = "whole", "ENCRYPT_PAYLOAD", nil
	if _, err := reg.Register(ctx, "users-value", registry.Schema{Schema: payloadSchema, RuleSet: &registry.RuleSet{
		DomainRules:   []registry.Rule{payloadRule("kek-payload", tagseal.AES256GCM)},
		EncodingRules: []registry.Rule{whole}}}, false); err != nil {
		t.Fatal(err)
	}
	plainSer, _ := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true})
	ssn := "987-65-4321"
	u := &payloadUser{Name: "grace", Email: "grace@example.com", SSN: &ssn, Card: []byte("5500000000000004")}
	plain, err := plainSer.Serialize(ctx, "plain", u)
	if err != nil {
		t.Fatal(err)
	}
	ser, _ := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true, Keys: payloadKeys})
	sealed, err := ser.SealPayload(ctx, "users", nil, plain)
	if err != nil {
		t.Fatal(err)
	}
	if containsPlaintext(sealed, u) || bytes.Contains(sealed, []byte("grace")) {
		t.Fatal("plaintext left under ENCRYPT_PAYLOAD")
	}
	de, _ := tagseal.NewDeserializer(reg, tagseal.Value, tagseal.DeserializerConfig{Keys: payloadKeys})
	var got payloadUser
	if err := de.DeserializeInto(ctx, "users", sealed, &got); err != nil || got.Email != u.Email || got.Name != u.Name {
		t.Fatalf("read back %+v, %v", got, err)
	}
	if again, err := ser.SealPayload(ctx, "users", nil, sealed); err != nil || !bytes.Equal(again, sealed) {
		t.Fatalf("a sealed payload was sealed again (err %v)", err)
	}
	if opened, err := de.OpenPayload(ctx, "users", nil, sealed, nil); err != nil || !bytes.Equal(opened, plain) {
		t.Fatalf("OpenPayload with every KEK: %v", err)
	}
	outer, err := de.OpenPayload(ctx, "users", nil, sealed, func(k string) bool { return k == "kek-whole" })
	if err != nil || !bytes.Contains(outer, []byte("grace")) || containsPlaintext(outer, u) {
		t.Fatalf("only the payload KEK: %v", err)
	}
	if inner, err := de.OpenPayload(ctx, "users", nil, sealed, func(k string) bool { return k == "kek-payload" }); err != nil || !bytes.Equal(inner, sealed) {
		t.Fatalf("only the field KEK opens nothing (the fields are inside the payload): %v", err)
	}
	rules, err := ser.TopicRules(ctx, "users")
	if err != nil || !rules.Encrypts || len(rules.KEKs) != 2 {
		t.Fatalf("TopicRules = %+v, %v", rules, err)
	}
}

// The schema GUID in the __value_schema_id header instead of the payload
// prefix: the body is sealed, the headers are only read.
func TestSealPayloadGUIDHeader(t *testing.T) {
	ctx := context.Background()
	// A GUID names content shared by users-value (rules) and plain-value
	// (none): each topic's subject decides the rules it is read with.
	reg := registry.NewMemory()
	if _, err := reg.Register(ctx, "users-value", registry.Schema{Schema: payloadSchema,
		RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{payloadRule("kek-payload", tagseal.AES256GCM)}}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(ctx, "plain-value", registry.Schema{Schema: payloadSchema}, false); err != nil {
		t.Fatal(err)
	}
	ssn := "555-12-3456"
	u := &payloadUser{Name: "ada", Email: "ada@example.com", SSN: &ssn, Card: []byte("4111111111111111")}
	plainSer, _ := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true, SchemaIDInHeader: true})
	hdrs, body, err := plainSer.SerializeWithHeaders(ctx, "plain", u)
	if err != nil || len(hdrs) != 1 || !containsPlaintext(body, u) {
		t.Fatalf("fixture: %v", err)
	}
	ser, _ := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true, Keys: payloadKeys})
	sealed, err := ser.SealPayload(ctx, "users", hdrs, body)
	if err != nil {
		t.Fatal(err)
	}
	if containsPlaintext(sealed, u) {
		t.Fatal("plaintext left")
	}
	de, _ := tagseal.NewDeserializer(reg, tagseal.Value, tagseal.DeserializerConfig{Keys: payloadKeys})
	var got payloadUser
	if err := de.DeserializeWithHeadersInto(ctx, "users", hdrs, sealed, &got); err != nil || got.Email != u.Email {
		t.Fatalf("read back %+v, %v", got, err)
	}
	if opened, err := de.OpenPayload(ctx, "users", hdrs, sealed, nil); err != nil || !bytes.Equal(opened, body) {
		t.Fatalf("OpenPayload: %v", err)
	}
}
