package serde_test

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/hamba/avro/v2"

	"github.com/tagseal/tagseal/serde"
)

// checkErr asserts err wraps want and leaks no tagged plaintext.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %q does not wrap %q", err, want)
	}
	assertNoSecrets(t, "error message", []byte(err.Error()))
}

// goodPayload writes ada under a fresh subject and returns the client,
// topic and payload.
func goodPayload(t *testing.T, extra map[string]string) (schemaregistry.Client, string, []byte) {
	t.Helper()
	c := newClient(t)
	topic := "bad-input"
	registerSchema(t, c, topic+"-value", customerSchema, rule(t, "local-kms", extra))
	b, err := newSerializer(t, c, serde.Options{}).Serialize(topic, ada)
	if err != nil {
		t.Fatal(err)
	}
	return c, topic, b
}

// fieldSpan returns the offsets of the n-th string in ada's Customer
// encoding (0: name, 1: email), skipping the frame and the id varint.
func fieldSpan(t *testing.T, payload []byte, n int) (start, end int) {
	t.Helper()
	pos := 5
	_, k := binary.Varint(payload[pos:])
	pos += k
	for i := 0; ; i++ {
		l, k := binary.Varint(payload[pos:])
		pos += k
		if i == n {
			return pos, pos + int(l)
		}
		pos += int(l)
	}
}

func TestFrameErrors(t *testing.T) {
	c, topic, good := goodPayload(t, nil)
	d := newDeserializer(t, c, testSecret, serde.Options{})
	cases := []struct {
		name    string
		payload []byte
		want    error
	}{
		{"one byte", []byte{0}, serde.ErrShortPayload},
		{"id cut", []byte{0, 0, 0, 1}, serde.ErrShortPayload},
		{"guid cut", []byte{1, 2, 3, 4, 5, 6, 7, 8}, serde.ErrShortPayload},
		{"magic 2", append([]byte{2}, good[1:]...), serde.ErrUnknownMagicByte},
		{"magic 0xff", []byte{0xff, 0, 0, 0, 1, 2}, serde.ErrUnknownMagicByte},
		{"unknown id", append([]byte{0, 0x7f, 0xff, 0xff, 0xff}, good[5:]...), serde.ErrSchemaNotFound},
		{"unknown guid", append([]byte{1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, good[5:]...), serde.ErrSchemaNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Deserialize(topic, tc.payload)
			checkErr(t, err, tc.want)
		})
	}
}

// Every truncation of a valid payload is refused as malformed, never a panic.
func TestTruncatedAvro(t *testing.T) {
	c, topic, good := goodPayload(t, nil)
	d := newDeserializer(t, c, testSecret, serde.Options{})
	for cut := 5; cut < len(good); cut++ {
		_, err := d.Deserialize(topic, good[:cut])
		checkErr(t, err, serde.ErrMalformedPayload)
	}
	// Trailing garbage is refused too.
	_, err := d.Deserialize(topic, append(append([]byte{}, good...), 0x02, 0x41))
	checkErr(t, err, serde.ErrMalformedPayload)
}

func TestTamperedCiphertext(t *testing.T) {
	c, topic, good := goodPayload(t, nil)
	d := newDeserializer(t, c, testSecret, serde.Options{})
	start, end := fieldSpan(t, good, 1)
	raw, err := base64.StdEncoding.DecodeString(string(good[start:end]))
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0x01
	tampered := append([]byte{}, good...)
	copy(tampered[start:end], base64.StdEncoding.EncodeToString(raw))
	_, err = d.Deserialize(topic, tampered)
	checkErr(t, err, serde.ErrDecryptionFailed)
	var fe *serde.FieldError
	if !errors.As(err, &fe) || fe.Path != "com.acme.Customer.email" {
		t.Fatalf("error %v does not name the field path", err)
	}
}

func TestBadBase64(t *testing.T) {
	c, topic, good := goodPayload(t, nil)
	d := newDeserializer(t, c, testSecret, serde.Options{})
	start, _ := fieldSpan(t, good, 0)
	bad := append([]byte{}, good...)
	bad[start+3] = '!'
	_, err := d.Deserialize(topic, bad)
	checkErr(t, err, serde.ErrInvalidCiphertext)
	if !strings.Contains(err.Error(), "com.acme.Customer.name") {
		t.Fatalf("error %q does not name the field path", err)
	}
}

func TestDEKVersionNotFound(t *testing.T) {
	c, topic, good := goodPayload(t, map[string]string{serde.ParamDEKExpiryDays: "30"})
	d := newDeserializer(t, c, testSecret, serde.Options{})
	start, end := fieldSpan(t, good, 0)
	raw, err := base64.StdEncoding.DecodeString(string(good[start:end]))
	if err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint32(raw[1:5]) != 1 {
		t.Fatalf("first DEK version = %d", binary.BigEndian.Uint32(raw[1:5]))
	}
	binary.BigEndian.PutUint32(raw[1:5], 99)
	bad := append([]byte{}, good...)
	copy(bad[start:end], base64.StdEncoding.EncodeToString(raw))
	_, err = d.Deserialize(topic, bad)
	checkErr(t, err, serde.ErrDEKNotFound)
}

func TestKEKAbsentOnRead(t *testing.T) {
	c := newClient(t)
	topic := "ghost"
	r := rule(t, "", nil)
	delete(r.Params, serde.ParamKMSType)
	delete(r.Params, serde.ParamKMSKeyID)
	id := registerSchema(t, c, topic+"-value", customerSchema, r)
	// Hand-encode a record whose tagged fields hold well-formed ciphertext
	// shapes; the KEK it names was never registered.
	body, err := avro.Marshal(avro.MustParse(customerSchema), &Customer{ID: 1,
		Name: base64.StdEncoding.EncodeToString(make([]byte, 40)), Email: base64.StdEncoding.EncodeToString(make([]byte, 40))})
	if err != nil {
		t.Fatal(err)
	}
	payload := append(binary.BigEndian.AppendUint32([]byte{0}, uint32(id)), body...)
	_, err = newDeserializer(t, c, testSecret, serde.Options{}).Deserialize(topic, payload)
	checkErr(t, err, serde.ErrKEKNotFound)

	// A producer whose rule cannot create the KEK fails closed.
	_, err = newSerializer(t, c, serde.Options{}).Serialize(topic, ada)
	checkErr(t, err, serde.ErrKEKNotFound)
}

func TestWrongLocalSecret(t *testing.T) {
	c, topic, good := goodPayload(t, nil)
	_, err := newDeserializer(t, c, "not-the-secret", serde.Options{}).Deserialize(topic, good)
	checkErr(t, err, serde.ErrDEKUnwrapFailed)
}

// With onFailure "ERROR,NONE", a consumer without the key gets the stored
// ciphertext for tagged fields and plaintext for the rest.
func TestReadActionNonePassesCiphertext(t *testing.T) {
	readNoneRan.Store(true)
	c := newClient(t)
	topic := "none"
	r := rule(t, "local-kms", nil)
	r.OnFailure = "ERROR,NONE"
	registerSchema(t, c, topic+"-value", customerSchema, r)
	payload, err := newSerializer(t, c, serde.Options{}).Serialize(topic, ada)
	if err != nil {
		t.Fatal(err)
	}
	got := &Customer{}
	if err := newDeserializer(t, c, "not-the-secret", serde.Options{}).DeserializeInto(topic, payload, got); err != nil {
		t.Fatalf("read action NONE must not fail: %v", err)
	}
	if got.ID != ada.ID || got.Age != ada.Age {
		t.Fatalf("untagged fields lost: %+v", got)
	}
	for _, v := range []string{got.Name, got.Email} {
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(raw) < 28 {
			t.Fatalf("tagged field is not the stored ciphertext: %q", v)
		}
	}
	assertNoSecrets(t, "undecryptable record", []byte(got.Name+got.Email))

	// The key holder still reads plaintext.
	got = &Customer{}
	if err := newDeserializer(t, c, testSecret, serde.Options{}).DeserializeInto(topic, payload, got); err != nil || *got != *ada {
		t.Fatalf("key holder read %+v, %v", got, err)
	}
}

func TestUnsupportedTaggedTypeRefusedAtPlan(t *testing.T) {
	for _, typ := range []string{`"int"`, `"long"`, `"float"`, `"double"`, `"boolean"`,
		`{"type":"enum","name":"E","symbols":["A"]}`, `{"type":"fixed","name":"F","size":4}`,
		`{"type":"record","name":"R","fields":[{"name":"x","type":"string"}]}`, `{"type":"array","items":"int"}`,
		`["null","int"]`} {
		t.Run(typ, func(t *testing.T) {
			c := newClient(t)
			schema := `{"type":"record","name":"Bad","namespace":"com.acme","fields":[{"name":"name","type":"string"},
			 {"name":"secret","type":` + typ + `,"confluent:tags":["PII"]}]}`
			registerSchema(t, c, "bad-value", schema, rule(t, "local-kms", nil))
			_, err := newSerializer(t, c, serde.Options{}).Serialize("bad", map[string]any{"name": "x", "secret": 1})
			checkErr(t, err, serde.ErrUnsupportedTaggedType)
			if !strings.Contains(err.Error(), "com.acme.Bad.secret") {
				t.Fatalf("error %q does not name the field path", err)
			}
		})
	}
}

// A tagged multi-branch union encrypts its string branch and refuses, at
// write time, a value in a branch that cannot carry ciphertext.
func TestTaggedUnionNonCarrierBranch(t *testing.T) {
	c := newClient(t)
	schema := `{"type":"record","name":"U","namespace":"com.acme","fields":[
	 {"name":"v","type":["null","long","string"],"confluent:tags":["PII"]}]}`
	registerSchema(t, c, "u-value", schema, rule(t, "local-kms", nil))
	s := newSerializer(t, c, serde.Options{})
	if _, err := s.Serialize("u", map[string]any{"v": map[string]any{"string": "Ada Lovelace"}}); err != nil {
		t.Fatalf("string branch: %v", err)
	}
	if _, err := s.Serialize("u", map[string]any{"v": nil}); err != nil {
		t.Fatalf("null branch: %v", err)
	}
	_, err := s.Serialize("u", map[string]any{"v": map[string]any{"long": int64(4242)}})
	checkErr(t, err, serde.ErrUnsupportedTaggedType)
}

func TestValueNotMatchingSchema(t *testing.T) {
	c, topic, _ := goodPayload(t, nil)
	_, err := newSerializer(t, c, serde.Options{}).Serialize(topic, map[string]any{"id": "not-an-int"})
	checkErr(t, err, serde.ErrEncode)
}
