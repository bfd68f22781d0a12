package gcpkms_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"

	"github.com/tagseal/tagseal/kms"
	"github.com/tagseal/tagseal/kms/gcpkms"
	"github.com/tagseal/tagseal/serde"
)

// fakeKMS is a test double of the Cloud KMS REST API (encrypt and decrypt
// of symmetric crypto keys). It checks the requests it receives the way the
// real service parses them and can destroy a key.
type fakeKMS struct {
	t         *testing.T
	mu        sync.Mutex
	keys      map[string]cipher.AEAD
	destroyed map[string]bool
	calls     []string
}

func newFakeKMS(t *testing.T) (*fakeKMS, *httptest.Server) {
	f := &fakeKMS{t: t, keys: map[string]cipher.AEAD{}, destroyed: map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeKMS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name, verb, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v1/"), ":")
	if r.Method != http.MethodPost || !ok || !strings.HasPrefix(name, "projects/") || !strings.Contains(name, "/cryptoKeys/") {
		http.Error(w, `{"error":{"code":404,"message":"bad path"}}`, http.StatusNotFound)
		return
	}
	f.calls = append(f.calls, verb+" "+name)
	var req map[string]string
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":{"code":400,"message":"bad json"}}`, http.StatusBadRequest)
		return
	}
	if f.destroyed[name] {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":{"code":400,"message":"FAILED_PRECONDITION: key version is destroyed","status":"FAILED_PRECONDITION"}}`))
		return
	}
	aead := f.keys[name]
	if aead == nil {
		key := make([]byte, 32)
		rand.Read(key)
		block, _ := aes.NewCipher(key)
		aead, _ = cipher.NewGCM(block)
		f.keys[name] = aead
	}
	decode := func(field string) []byte {
		b, err := base64.URLEncoding.DecodeString(req[field])
		if err != nil {
			b, err = base64.StdEncoding.DecodeString(req[field])
		}
		if err != nil {
			f.t.Errorf("%s is not base64", field)
		}
		return b
	}
	aad := decode("additionalAuthenticatedData")
	switch verb {
	case "encrypt":
		nonce := make([]byte, 12)
		rand.Read(nonce)
		ct := aead.Seal(nonce, nonce, decode("plaintext"), aad)
		json.NewEncoder(w).Encode(map[string]string{"name": name, "ciphertext": base64.StdEncoding.EncodeToString(ct)})
	case "decrypt":
		ct := decode("ciphertext")
		if len(ct) < 12 {
			http.Error(w, `{"error":{"code":400,"message":"INVALID_ARGUMENT"}}`, http.StatusBadRequest)
			return
		}
		pt, err := aead.Open(nil, ct[:12], ct[12:], aad)
		if err != nil {
			http.Error(w, `{"error":{"code":400,"message":"INVALID_ARGUMENT: Decryption failed"}}`, http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"plaintext": base64.StdEncoding.EncodeToString(pt)})
	default:
		http.Error(w, `{"error":{"code":404,"message":"unknown verb"}}`, http.StatusNotFound)
	}
}

const keyName = "projects/tagseal/locations/global/keyRings/ring/cryptoKeys/kek"

func TestWrapUnwrapAgainstDouble(t *testing.T) {
	fake, srv := newFakeKMS(t)
	a, err := kms.NewRegistry().AEAD(gcpkms.Prefix+keyName, map[string]string{gcpkms.ConfigEndpoint: srv.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	edek, err := a.Encrypt([]byte("dek"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := a.Decrypt(edek, nil); err != nil || string(pt) != "dek" {
		t.Fatalf("%q %v", pt, err)
	}
	if len(fake.calls) != 2 || fake.calls[0] != "encrypt "+keyName || fake.calls[1] != "decrypt "+keyName {
		t.Fatalf("requests: %v", fake.calls)
	}
	fake.destroyed[keyName] = true
	if _, err := a.Decrypt(edek, nil); !errors.Is(err, kms.ErrKeyShredded) {
		t.Fatalf("destroyed key: %v", err)
	}
	if _, err := kms.NewRegistry().AEAD(gcpkms.Prefix+"not-a-resource", nil); !errors.Is(err, kms.ErrConfig) {
		t.Fatalf("malformed URI: %v", err)
	}
}

type Customer struct {
	ID    int32  `avro:"id"`
	Email string `avro:"email"`
}

func TestSerdeWithGCPDouble(t *testing.T) {
	_, srv := newFakeKMS(t)
	reg, err := schemaregistry.NewClient(schemaregistry.NewConfig("mock://gcp-serde"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register("gcp-value", schemaregistry.SchemaInfo{SchemaType: "AVRO",
		Schema: `{"type":"record","name":"Customer","fields":[{"name":"id","type":"int"},{"name":"email","type":"string","confluent:tags":["PII"]}]}`,
		RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{{Name: "pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT",
			Tags: []string{"PII"}, Params: map[string]string{"encrypt.kek.name": "kek-gcp-serde", "encrypt.kms.type": "gcp-kms", "encrypt.kms.key.id": keyName}}}}}, false); err != nil {
		t.Fatal(err)
	}
	config := map[string]string{gcpkms.ConfigEndpoint: srv.URL + "/"}
	sc := serde.NewSerializerConfig()
	sc.AutoRegisterSchemas, sc.UseLatestVersion, sc.RuleConfig = false, true, config
	s, err := serde.NewSerializer(reg, cserde.ValueSerde, sc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Serialize("gcp", &Customer{ID: 1, Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	dc := serde.NewDeserializerConfig()
	dc.RuleConfig = config
	d, err := serde.NewDeserializer(reg, cserde.ValueSerde, dc)
	if err != nil {
		t.Fatal(err)
	}
	var got Customer
	if err := d.DeserializeInto("gcp", b, &got); err != nil || got.Email != "ada@example.com" {
		t.Fatalf("%+v %v", got, err)
	}
}
