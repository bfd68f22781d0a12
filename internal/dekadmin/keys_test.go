package dekadmin_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/internal/dekadmin"
	"github.com/tagseal/tagseal/registry"
)

type user struct {
	ID    int32  `avro:"id"`
	Email string `avro:"email"`
}

const userSchema = `{"type":"record","name":"User","fields":[{"name":"id","type":"int"},
 {"name":"email","type":"string","confluent:tags":["PII"]}]}`

// fixture registers topics' value subjects with an encryption rule on KEK
// kek (local KMS unless params say otherwise) and returns the rule config.
func fixture(t *testing.T, reg registry.Client, kek string, params map[string]string, topics ...string) {
	t.Helper()
	p := map[string]string{tagseal.ParamKEKName: kek, tagseal.ParamKMSType: "local-kms", tagseal.ParamKMSKeyID: "kid"}
	for k, v := range params {
		p[k] = v
	}
	for _, topic := range topics {
		if _, err := reg.Register(context.Background(), topic+"-value", registry.Schema{Schema: userSchema,
			RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{{Name: "enc", Kind: "TRANSFORM", Mode: "WRITEREAD",
				Type: "ENCRYPT", Tags: []string{"PII"}, Params: p}}}}, false); err != nil {
			t.Fatal(err)
		}
	}
}

type record struct {
	topic string
	b     []byte
	want  string
}

// produce writes n records to each topic with a fresh serializer.
func produce(t *testing.T, reg registry.Client, conf map[string]string, n int, topics ...string) []record {
	t.Helper()
	ser, err := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true,
		Keys: tagseal.Keys{RuleConfig: conf}})
	if err != nil {
		t.Fatal(err)
	}
	var out []record
	for _, topic := range topics {
		for i := range n {
			email := fmt.Sprintf("%s-%d@example.com", topic, i)
			b, err := ser.Serialize(context.Background(), topic, &user{ID: int32(i), Email: email})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, record{topic, b, email})
		}
	}
	return out
}

// readAll reads every record with a fresh (cold) deserializer.
func readAll(reg registry.Client, conf map[string]string, recs []record) error {
	de, err := tagseal.NewDeserializer(reg, tagseal.Value, tagseal.DeserializerConfig{Keys: tagseal.Keys{RuleConfig: conf}})
	if err != nil {
		return err
	}
	for _, r := range recs {
		var u user
		if err := de.DeserializeInto(context.Background(), r.topic, r.b, &u); err != nil {
			return fmt.Errorf("%s: %w", r.topic, err)
		}
		if u.Email != r.want {
			return fmt.Errorf("%s: read %q, want %q", r.topic, u.Email, r.want)
		}
	}
	return nil
}

// dekVersion reads the DEK version prefix of a record's encrypted email
// (Avro after the 5-byte frame; the field is base64 of 0x00 ‖ version ‖ …).
func dekVersion(t *testing.T, b []byte) int {
	t.Helper()
	var raw struct {
		ID    int32  `avro:"id"`
		Email string `avro:"email"`
	}
	if err := avro.Unmarshal(avro.MustParse(userSchema), b[5:], &raw); err != nil {
		t.Fatal(err)
	}
	ct, err := base64.StdEncoding.DecodeString(raw.Email)
	if err != nil || len(ct) < 5 || ct[0] != 0 {
		t.Fatalf("email field is not a versioned ciphertext: %v", err)
	}
	return int(binary.BigEndian.Uint32(ct[1:5]))
}

var local = map[string]string{"secret": "dekadmin-test"}

func TestList(t *testing.T) {
	ctx := context.Background()
	mem := registry.NewMemory()
	srv := httptest.NewServer(mem)
	defer srv.Close()
	fixture(t, mem, "k-orders", nil, "orders", "payments")
	produce(t, mem, local, 1, "orders", "payments")
	if _, err := mem.CreateKEK(ctx, registry.KEK{Name: "k-empty", KmsType: "aws-kms", KmsKeyID: "arn:x", Shared: true}); err != nil {
		t.Fatal(err)
	}
	if err := mem.DeleteDEK(ctx, "k-orders", "payments-value", "", 1, false); err != nil {
		t.Fatal(err)
	}
	httpReg, err := registry.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for name, reg := range map[string]interface {
		registry.DEKRegistry
		registry.DEKAdmin
	}{"memory": mem, "http": httpReg} {
		got, err := dekadmin.List(ctx, reg, reg, "", false)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != 2 || got[0].Name != "k-empty" || !got[0].Shared || got[0].KmsType != "aws-kms" || len(got[0].DEKs) != 0 ||
			got[1].Name != "k-orders" || got[1].KmsType != "local-kms" || got[1].KmsKeyID != "kid" {
			t.Fatalf("%s: KEKs %+v", name, got)
		}
		if d := got[1].DEKs; len(d) != 1 || d[0].Subject != "orders-value" || d[0].Version != 1 || d[0].Algorithm != "AES256_GCM" ||
			d[0].Deleted || d[0].Ts == 0 || d[0].Time().IsZero() {
			t.Fatalf("%s: live DEKs %+v", name, d)
		}
		all, err := dekadmin.List(ctx, reg, reg, "k-orders", true)
		if err != nil {
			t.Fatal(err)
		}
		if d := all[0].DEKs; len(all) != 1 || len(d) != 2 || d[1].Subject != "payments-value" || !d[1].Deleted {
			t.Fatalf("%s: with deleted %+v", name, all)
		}
	}
	if _, err := dekadmin.List(ctx, mem, mem, "nope", false); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("unknown KEK: %v", err)
	}
}

// Rotate mints the next version; producers of a rotating rule switch to it
// and every record, old and new, still reads.
func TestRotate(t *testing.T) {
	ctx := context.Background()
	mem := registry.NewMemory()
	fixture(t, mem, "k", map[string]string{tagseal.ParamDEKExpiryDays: "30"}, "orders")
	fixture(t, mem, "k2", nil, "plain")
	old := produce(t, mem, local, 3, "orders")
	if err := dekadmin.CheckRotation(ctx, mem, "k", "orders-value"); err != nil {
		t.Fatal(err)
	}
	if err := dekadmin.CheckRotation(ctx, mem, "k2", "plain-value"); !errors.Is(err, dekadmin.ErrRotationUnsafe) {
		t.Fatalf("non-rotating rule: %v", err)
	}
	if err := dekadmin.CheckRotation(ctx, mem, "k", "nope-value"); !errors.Is(err, dekadmin.ErrRotationUnsafe) {
		t.Fatalf("unknown subject: %v", err)
	}
	keys := dekadmin.Keys{Config: local}
	d, err := dekadmin.Rotate(ctx, mem, keys, "k", "orders-value", "")
	if err != nil || d.Version != 2 || d.Algorithm != "AES256_GCM" || d.EncryptedKeyMaterial == "" {
		t.Fatalf("rotate: %+v %v", d, err)
	}
	// A soft-deleted latest version is not reused.
	if err := mem.DeleteDEK(ctx, "k", "orders-value", "", 2, false); err != nil {
		t.Fatal(err)
	}
	if d, err = dekadmin.Rotate(ctx, mem, keys, "k", "orders-value", ""); err != nil || d.Version != 3 {
		t.Fatalf("rotate after a deleted version: %+v %v", d, err)
	}
	fresh := produce(t, mem, local, 3, "orders")
	// The new records' ciphertexts carry DEK version 3.
	for _, r := range fresh {
		if v := dekVersion(t, r.b); v != 3 {
			t.Fatalf("new record's DEK version %d, want 3", v)
		}
	}
	if v := dekVersion(t, old[0].b); v != 1 {
		t.Fatalf("old record's DEK version %d, want 1", v)
	}
	if err := readAll(mem, local, append(old, fresh...)); err != nil {
		t.Fatal(err)
	}
	if _, err := dekadmin.Rotate(ctx, mem, dekadmin.Keys{Config: map[string]string{}}, "k", "orders-value", ""); err == nil {
		t.Fatal("rotate without the KMS secret: no error")
	}
	if _, err := dekadmin.Rotate(ctx, mem, keys, "k", "orders-value", "ROT13"); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("bad algorithm: %v", err)
	}
	if d, err := dekadmin.Rotate(ctx, mem, keys, "k", "new-value", "AES256_SIV"); err != nil || d.Version != 1 {
		t.Fatalf("first DEK of a subject: %+v %v", d, err)
	}
}

// Rewrap stores a new wrapping of every DEK version in place (local KMS:
// decrypt+encrypt) over HTTP; the records still read.
func TestRewrapLocal(t *testing.T) {
	ctx := context.Background()
	mem := registry.NewMemory()
	srv := httptest.NewServer(mem)
	defer srv.Close()
	fixture(t, mem, "k", map[string]string{tagseal.ParamDEKExpiryDays: "30"}, "orders", "payments")
	recs := produce(t, mem, local, 2, "orders", "payments")
	keys := dekadmin.Keys{Config: local}
	if _, err := dekadmin.Rotate(ctx, mem, keys, "k", "orders-value", ""); err != nil {
		t.Fatal(err)
	}
	recs = append(recs, produce(t, mem, local, 2, "orders")...)
	before, _ := dekadmin.List(ctx, mem, mem, "k", true)
	orig := map[dekadmin.DEKInfo]string{}
	for _, d := range before[0].DEKs {
		dek, err := mem.DEK(ctx, "k", d.Subject, d.Algorithm, d.Version, true)
		if err != nil {
			t.Fatal(err)
		}
		orig[d] = dek.EncryptedKeyMaterial
	}
	reg, err := registry.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var calls []int
	got, err := dekadmin.Rewrap(ctx, reg, reg, keys, "k", "", true, func(done, total int) {
		if total != 3 {
			t.Errorf("total %d, want 3", total)
		}
		calls = append(calls, done)
	})
	if err != nil || len(got) != 3 || !reflect.DeepEqual(calls, []int{1, 2, 3}) {
		t.Fatalf("rewrap: %+v %v (progress %v)", got, err, calls)
	}
	for _, d := range before[0].DEKs {
		after, err := mem.DEK(ctx, "k", d.Subject, d.Algorithm, d.Version, true)
		if err != nil {
			t.Fatal(err)
		}
		if after.EncryptedKeyMaterial == orig[d] || orig[d] == "" {
			t.Fatalf("%s v%d: wrapping unchanged", d.Subject, d.Version)
		}
	}
	if err := readAll(mem, local, recs); err != nil {
		t.Fatalf("after rewrap: %v", err)
	}
	// Only one subject.
	if got, err := dekadmin.Rewrap(ctx, mem, mem, keys, "k", "payments-value", false, nil); err != nil || len(got) != 1 {
		t.Fatalf("one subject: %+v %v", got, err)
	}
	// The wrong secret cannot unwrap: nothing is written.
	snapshot, _ := mem.DEK(ctx, "k", "orders-value", "", 1, false)
	if _, err := dekadmin.Rewrap(ctx, mem, mem, dekadmin.Keys{Config: map[string]string{"secret": "wrong"}}, "k", "", false, nil); err == nil {
		t.Fatal("rewrap with the wrong secret: no error")
	}
	if now, _ := mem.DEK(ctx, "k", "orders-value", "", 1, false); now.EncryptedKeyMaterial != snapshot.EncryptedKeyMaterial {
		t.Fatal("a failed rewrap changed a DEK")
	}
}

// A registry without ?rewrap=true (it answers a create of an existing
// version with 409) fails with ErrRewrapUnsupported and keeps the DEK.
func TestRewrapUnsupportedRegistry(t *testing.T) {
	ctx := context.Background()
	mem := registry.NewMemory()
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		q.Del("rewrap") // an older registry ignores the parameter
		r.URL.RawQuery = q.Encode()
		mem.ServeHTTP(w, r)
	}))
	defer old.Close()
	fixture(t, mem, "k", nil, "orders")
	recs := produce(t, mem, local, 1, "orders")
	before, _ := mem.DEK(ctx, "k", "orders-value", "", 1, false)
	reg, err := registry.New(old.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = dekadmin.Rewrap(ctx, reg, reg, dekadmin.Keys{Config: local}, "k", "", false, nil)
	if !errors.Is(err, dekadmin.ErrRewrapUnsupported) {
		t.Fatalf("rewrap on an old registry: %v", err)
	}
	if after, _ := mem.DEK(ctx, "k", "orders-value", "", 1, false); after.EncryptedKeyMaterial != before.EncryptedKeyMaterial {
		t.Fatal("DEK changed")
	}
	if err := readAll(mem, local, recs); err != nil {
		t.Fatal(err)
	}
}
