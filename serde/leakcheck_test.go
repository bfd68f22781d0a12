package serde_test

import (
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/deks"
	aeadsubtle "github.com/tink-crypto/tink-go/v2/aead/subtle"
	daeadsubtle "github.com/tink-crypto/tink-go/v2/daead/subtle"
	gcmpb "github.com/tink-crypto/tink-go/v2/proto/aes_gcm_go_proto"
	sivpb "github.com/tink-crypto/tink-go/v2/proto/aes_siv_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/tagseal/tagseal/kms"
	"github.com/tagseal/tagseal/serde"
)

// leafOpener decrypts one stored field value on its own, without tagseal's
// planner, rewriter or keyring: it reads the DEK from the DEK Registry,
// unwraps it with the local KMS and opens the value with Tink's primitive.
// Leak tests use it as the independent check that a leaf the reference
// selector picks holds ciphertext of its marker.
type leafOpener struct {
	dekClient deks.Client
	secret    string
	keys      map[string]func(ct []byte) ([]byte, error) // kek\x00subject\x00algorithm → open
}

// newLeafOpener returns an opener over the DEK Registry behind client's
// config (for mock:// URLs the process-wide in-memory one).
func newLeafOpener(t testing.TB, client schemaregistry.Client, secret string) *leafOpener {
	t.Helper()
	dc, err := deks.NewClient(client.Config())
	if err != nil {
		t.Fatal(err)
	}
	return &leafOpener{dekClient: dc, secret: secret, keys: map[string]func([]byte) ([]byte, error){}}
}

// open decrypts stored (base64 text for string leaves, raw bytes for bytes
// leaves) written under the latest DEK of (kek, subject, algorithm) by a
// rule without DEK expiry (so without a version prefix). algorithm "" is
// AES256_GCM.
func (o *leafOpener) open(kek, subject, algorithm string, stored []byte, asString bool) ([]byte, error) {
	if algorithm == "" {
		algorithm = "AES256_GCM"
	}
	ct := stored
	if asString {
		var err error
		if ct, err = base64.StdEncoding.DecodeString(string(stored)); err != nil {
			return nil, fmt.Errorf("leaf is not base64: %w", err)
		}
	}
	key := kek + "\x00" + subject + "\x00" + algorithm
	fn, ok := o.keys[key]
	if !ok {
		var err error
		if fn, err = o.cipher(kek, subject, algorithm); err != nil {
			return nil, err
		}
		o.keys[key] = fn
	}
	return fn(ct)
}

func (o *leafOpener) cipher(kek, subject, algorithm string) (func([]byte) ([]byte, error), error) {
	dek, err := o.dekClient.GetDek(kek, subject, algorithm, false)
	if err != nil {
		return nil, fmt.Errorf("no DEK for %s/%s/%s: %w", kek, subject, algorithm, err)
	}
	wrapped, err := base64.StdEncoding.DecodeString(dek.EncryptedKeyMaterial)
	if err != nil {
		return nil, err
	}
	kekAEAD, err := kms.NewLocalAEAD(o.secret)
	if err != nil {
		return nil, err
	}
	material, err := kekAEAD.Decrypt(wrapped, nil)
	if err != nil {
		return nil, fmt.Errorf("unwrap DEK: %w", err)
	}
	switch algorithm {
	case "AES128_GCM", "AES256_GCM":
		var k gcmpb.AesGcmKey
		if err := proto.Unmarshal(material, &k); err != nil {
			return nil, err
		}
		a, err := aeadsubtle.NewAESGCM(k.GetKeyValue())
		if err != nil {
			return nil, err
		}
		return func(ct []byte) ([]byte, error) { return a.Decrypt(ct, nil) }, nil
	case "AES256_SIV":
		var k sivpb.AesSivKey
		if err := proto.Unmarshal(material, &k); err != nil {
			return nil, err
		}
		d, err := daeadsubtle.NewAESSIV(k.GetKeyValue())
		if err != nil {
			return nil, err
		}
		return func(ct []byte) ([]byte, error) { return d.DecryptDeterministically(ct, nil) }, nil
	default:
		return nil, fmt.Errorf("unknown algorithm %q", algorithm)
	}
}

// TestLeafOpener proves the independent opener reads what the serializer
// writes, so leak tests that rely on it can fail only for a real leak.
func TestLeafOpener(t *testing.T) {
	c := newClient(t)
	registerSchema(t, c, "leafopener-value", customerSchema, rule(t, "local-kms", nil))
	b, err := newSerializer(t, c, serde.Options{}).Serialize("leafopener", ada)
	if err != nil {
		t.Fatal(err)
	}
	// Avro: after the 5-byte frame, id (zig-zag varint 7 = 0x0e), then the
	// name string (length varint + base64 text).
	body := b[5:]
	if body[0] != 0x0e {
		t.Fatalf("unexpected id encoding %x", body[0])
	}
	n := int(body[1]) >> 1
	stored := body[2 : 2+n]
	pt, err := newLeafOpener(t, c, testSecret).open(kekName(t), "leafopener-value", "", stored, true)
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != ada.Name {
		t.Fatalf("opened %q, want the name", pt)
	}
	if _, err := newLeafOpener(t, c, "wrong").open(kekName(t), "leafopener-value", "", stored, true); err == nil {
		t.Fatal("opened with the wrong secret")
	}
}
