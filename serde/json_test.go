package serde_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"

	"github.com/tagseal/tagseal/serde"
)

const jsonCustomer = `{"type":"object","properties":{
 "id":{"type":"integer"},
 "name":{"type":"string","confluent:tags":["PII"]},
 "email":{"type":"string","confluent:tags":["PII"],"maxLength":40}},"required":["id"]}`

func registerJSON(t *testing.T, c schemaregistry.Client, subject, schema string, rules ...schemaregistry.Rule) {
	t.Helper()
	info := schemaregistry.SchemaInfo{Schema: schema, SchemaType: "JSON"}
	if len(rules) > 0 {
		info.RuleSet = &schemaregistry.RuleSet{DomainRules: rules}
	}
	if _, err := c.Register(subject, info, false); err != nil {
		t.Fatal(err)
	}
}

// Key order, whitespace and numbers of the producer's JSON survive; only
// the tagged strings change.
func TestJSONPreservesDocument(t *testing.T) {
	c := newClient(t)
	registerJSON(t, c, "j-value", jsonCustomer, rule(t, "local-kms", nil))
	s := newSerializer(t, c, serde.Options{})
	doc := json.RawMessage(`{"name":"Ada Lovelace","id":12345678901234567890,"extra":1.50e3,"email":"ada@example.com"}`)
	b, err := s.Serialize("j", doc)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecrets(t, "payload", b)
	body := string(b[5:])
	for _, keep := range []string{`{"name":"`, `","id":12345678901234567890,"extra":1.50e3,"email":"`} {
		if !strings.Contains(body, keep) {
			t.Fatalf("document structure changed: %s", body)
		}
	}
	v, err := newDeserializer(t, c, testSecret, serde.Options{}).Deserialize("j", b)
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if m["name"] != "Ada Lovelace" || m["email"] != "ada@example.com" {
		t.Fatalf("got %v", m)
	}
}

func TestJSONBadInput(t *testing.T) {
	c := newClient(t)
	registerJSON(t, c, "jb-value", jsonCustomer, rule(t, "local-kms", nil))
	s := newSerializer(t, c, serde.Options{Validate: true})
	d := newDeserializer(t, c, testSecret, serde.Options{})
	good, err := s.Serialize("jb", map[string]any{"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("malformed JSON", func(t *testing.T) {
		for _, body := range []string{`{"id":1,`, `{"id":1,"name":"abc}`, `[1,2`, `{"id":01}`, `{"id":1} x`, `{"name":"\u00zz"}`} {
			_, err := d.Deserialize("jb", append(append([]byte{}, good[:5]...), body...))
			checkErr(t, err, serde.ErrMalformedPayload)
		}
	})
	t.Run("fails schema", func(t *testing.T) {
		_, err := s.Serialize("jb", map[string]any{"name": "Ada Lovelace", "email": "ada@example.com"})
		checkErr(t, err, serde.ErrValidation)
		_, err = s.Serialize("jb", map[string]any{"id": 1, "name": "Ada Lovelace", "email": strings.Repeat("x", 41)})
		checkErr(t, err, serde.ErrValidation)
	})
	t.Run("tampered", func(t *testing.T) {
		raw := strings.Replace(string(good[5:]), `"name":"`, `"name":"AAAA`, 1)
		_, err := d.Deserialize("jb", append(append([]byte{}, good[:5]...), raw...))
		checkErr(t, err, serde.ErrDecryptionFailed)
		if !strings.Contains(err.Error(), "$.name") {
			t.Fatalf("error %q lacks the path", err)
		}
		raw = strings.Replace(string(good[5:]), `"name":"`, `"name":"!`, 1)
		_, err = d.Deserialize("jb", append(append([]byte{}, good[:5]...), raw...))
		checkErr(t, err, serde.ErrInvalidCiphertext)
	})
	t.Run("tagged non-string", func(t *testing.T) {
		for _, typ := range []string{`"number"`, `"integer"`, `"boolean"`, `"object","properties":{"a":{"type":"string"}}`, `"string","enum":["A","B"]`} {
			c := newClient(t)
			registerJSON(t, c, "jt-value", `{"type":"object","properties":{"secret":{"type":`+typ+`,"confluent:tags":["PII"]}}}`, rule(t, "local-kms", nil))
			_, err := newSerializer(t, c, serde.Options{}).Serialize("jt", map[string]any{"secret": 1})
			checkErr(t, err, serde.ErrUnsupportedTaggedType)
			if !strings.Contains(err.Error(), "$.secret") {
				t.Fatalf("error %q lacks the path", err)
			}
		}
		// An untyped tagged property holding a number is refused at write time.
		c := newClient(t)
		registerJSON(t, c, "ju-value", `{"type":"object","properties":{"secret":{"confluent:tags":["PII"]}}}`, rule(t, "local-kms", nil))
		_, err := newSerializer(t, c, serde.Options{}).Serialize("ju", map[string]any{"secret": 42})
		checkErr(t, err, serde.ErrUnsupportedTaggedType)
	})
	t.Run("read NONE passes ciphertext", func(t *testing.T) {
		c := newClient(t)
		r := rule(t, "local-kms", nil)
		r.OnFailure = "ERROR,NONE"
		registerJSON(t, c, "jn-value", jsonCustomer, r)
		b, err := newSerializer(t, c, serde.Options{}).Serialize("jn", map[string]any{"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		v, err := newDeserializer(t, c, "wrong-secret", serde.Options{}).Deserialize("jn", b)
		if err != nil {
			t.Fatal(err)
		}
		m := v.(map[string]any)
		if _, err := base64.StdEncoding.DecodeString(m["name"].(string)); err != nil || m["id"].(float64) != 1 {
			t.Fatalf("got %v", m)
		}
	})
}
