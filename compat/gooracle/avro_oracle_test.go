package gooracle

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	_ "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption"
	_ "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/localkms"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"

	"github.com/tagseal/tagseal/serde"
)

// secret is the local-kms secret every serde in this process uses:
// Confluent's executors are process-wide and refuse a second secret.
const secret = "oracle-test-secret"

// ruleConfig is shared by every serde in the process: Confluent's executors
// are process-wide. It carries the OpenBao token when the README test
// command started the server.
var ruleConfig = func() map[string]string {
	c := map[string]string{"secret": secret}
	if token := os.Getenv("TAGSEAL_VAULT_TOKEN"); token != "" {
		c["token.id"] = token
	}
	return c
}()

// client is the one mock registry shared by tagseal and Confluent.
var client = mustClient()

func mustClient() schemaregistry.Client {
	c, err := schemaregistry.NewClient(schemaregistry.NewConfig("mock://oracle"))
	if err != nil {
		panic(err)
	}
	return c
}

func encryptRule(name, kek string, tags []string, extra map[string]string) schemaregistry.Rule {
	params := map[string]string{
		"encrypt.kek.name":   kek,
		"encrypt.kms.type":   "local-kms",
		"encrypt.kms.key.id": "oracle-key",
	}
	for k, v := range extra {
		params[k] = v
	}
	return schemaregistry.Rule{Name: name, Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: tags, Params: params}
}

func register(t *testing.T, subject string, info schemaregistry.SchemaInfo) int {
	t.Helper()
	if info.SchemaType == "" {
		info.SchemaType = "AVRO"
	}
	id, err := client.Register(subject, info, false)
	if err != nil {
		t.Fatalf("register %s: %v", subject, err)
	}
	return id
}

// The record types of the oracle table.
type Customer struct {
	ID    int32  `avro:"id"`
	Name  string `avro:"name"`
	Email string `avro:"email"`
	Age   int32  `avro:"age"`
}

type Street struct {
	Line string `avro:"line"`
	Zip  string `avro:"zip"`
}
type Address struct {
	Street Street `avro:"street"`
	City   string `avro:"city"`
}
type Person struct {
	Name    string  `avro:"name"`
	Address Address `avro:"address"`
}

type Item struct {
	SKU  string `avro:"sku"`
	Note string `avro:"note"`
}
type Order struct {
	ID    int64  `avro:"id"`
	Items []Item `avro:"items"`
}

type Attrs struct {
	Attrs map[string]string `avro:"attrs"`
	Plain string            `avro:"plain"`
}

type Phones struct {
	Phone *string `avro:"phone"`
	Fax   *string `avro:"fax"`
}

type Contact struct {
	Contact any `avro:"contact"`
}

type Account struct {
	User string `avro:"user"`
	SSN  string `avro:"ssn"`
}

type Blob struct {
	Name string `avro:"name"`
	Data []byte `avro:"data"`
}

type Dual struct {
	Email  string `avro:"email"`
	Salary string `avro:"salary"`
	Note   string `avro:"note"`
}

type Shipment struct {
	ID      string     `avro:"id"`
	Address RefAddress `avro:"address"`
}
type RefAddress struct {
	Street string `avro:"street"`
	City   string `avro:"city"`
}

func ptr[T any](v T) *T { return &v }

type oracleCase struct {
	name      string
	info      schemaregistry.SchemaInfo
	setup     func(t *testing.T, topic string) []schemaregistry.Reference
	value     any // pointer to a struct
	target    func() any
	secrets   []string // plaintexts that must not appear in the payload
	identical bool     // deterministic: both sides must write the same bytes
}

const customerSchema = `{"type":"record","name":"Customer","namespace":"com.acme","fields":[
 {"name":"id","type":"int"},
 {"name":"name","type":"string","confluent:tags":["PII"]},
 {"name":"email","type":"string","confluent:tags":["PII"]},
 {"name":"age","type":"int"}]}`

func oracleCases() []oracleCase {
	pii := []schemaregistry.Rule{encryptRule("encrypt-pii", "", []string{"PII"}, nil)}
	withKEK := func(rules []schemaregistry.Rule, kek string) []schemaregistry.Rule {
		if len(rules) == 0 {
			return nil
		}
		out := make([]schemaregistry.Rule, len(rules))
		for i, r := range rules {
			p := map[string]string{}
			for k, v := range r.Params {
				p[k] = v
			}
			if p["encrypt.kek.name"] == "" {
				p["encrypt.kek.name"] = kek
			}
			r.Params = p
			out[i] = r
		}
		return out
	}
	customer := &Customer{ID: 7, Name: "Ada Lovelace", Email: "ada@example.com", Age: 36}
	cases := []oracleCase{
		{
			name:    "flat",
			info:    schemaregistry.SchemaInfo{Schema: customerSchema, RuleSet: &schemaregistry.RuleSet{DomainRules: pii}},
			value:   customer,
			target:  func() any { return &Customer{} },
			secrets: []string{"Ada Lovelace", "ada@example.com"},
		},
		{
			name: "nested-3-deep",
			info: schemaregistry.SchemaInfo{Schema: `{"type":"record","name":"Person","namespace":"com.acme","fields":[
			 {"name":"name","type":"string","confluent:tags":["PII"]},
			 {"name":"address","type":{"type":"record","name":"Address","fields":[
			   {"name":"street","type":{"type":"record","name":"Street","fields":[
			     {"name":"line","type":"string","confluent:tags":["PII"]},
			     {"name":"zip","type":"string"}]}},
			   {"name":"city","type":"string","confluent:tags":["PII"]}]}}]}`,
				RuleSet: &schemaregistry.RuleSet{DomainRules: pii}},
			value:   &Person{Name: "Grace Hopper", Address: Address{Street: Street{Line: "1 Navy Way", Zip: "20001"}, City: "Arlington"}},
			target:  func() any { return &Person{} },
			secrets: []string{"Grace Hopper", "1 Navy Way", "Arlington"},
		},
		{
			name: "array-of-records",
			info: schemaregistry.SchemaInfo{Schema: `{"type":"record","name":"Order","namespace":"com.acme","fields":[
			 {"name":"id","type":"long"},
			 {"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[
			   {"name":"sku","type":"string"},
			   {"name":"note","type":"string","confluent:tags":["PII"]}]}}}]}`,
				RuleSet: &schemaregistry.RuleSet{DomainRules: pii}},
			value:   &Order{ID: 99, Items: []Item{{SKU: "A-1", Note: "gift for Bob Smith"}, {SKU: "B-2", Note: "call 555-0100"}}},
			target:  func() any { return &Order{} },
			secrets: []string{"gift for Bob Smith", "call 555-0100"},
		},
		{
			name: "tagged-map",
			info: schemaregistry.SchemaInfo{Schema: `{"type":"record","name":"Attrs","namespace":"com.acme","fields":[
			 {"name":"attrs","type":{"type":"map","values":"string"},"confluent:tags":["PII"]},
			 {"name":"plain","type":"string"}]}`,
				RuleSet: &schemaregistry.RuleSet{DomainRules: pii}},
			value:   &Attrs{Attrs: map[string]string{"passport": "X1234567", "dob": "1990-01-01"}, Plain: "visible"},
			target:  func() any { return &Attrs{} },
			secrets: []string{"X1234567", "1990-01-01"},
		},
		{
			name: "nullable-union",
			info: schemaregistry.SchemaInfo{Schema: `{"type":"record","name":"Phones","namespace":"com.acme","fields":[
			 {"name":"phone","type":["null","string"],"default":null,"confluent:tags":["PII"]},
			 {"name":"fax","type":["null","string"],"default":null,"confluent:tags":["PII"]}]}`,
				RuleSet: &schemaregistry.RuleSet{DomainRules: pii}},
			value:   &Phones{Phone: ptr("+1-202-555-0143")},
			target:  func() any { return &Phones{} },
			secrets: []string{"+1-202-555-0143"},
		},
		{
			name: "multi-branch-union",
			info: schemaregistry.SchemaInfo{Schema: `{"type":"record","name":"Contact","namespace":"com.acme","fields":[
			 {"name":"contact","type":["null","long","string"],"confluent:tags":["PII"]}]}`,
				RuleSet: &schemaregistry.RuleSet{DomainRules: pii}},
			value:   &Contact{Contact: "lin@example.org"},
			target:  func() any { return &Contact{} },
			secrets: []string{"lin@example.org"},
		},
		{
			name: "schema-reference",
			info: schemaregistry.SchemaInfo{Schema: `{"type":"record","name":"Shipment","namespace":"com.acme","fields":[
			 {"name":"id","type":"string"},
			 {"name":"address","type":"com.acme.RefAddress"}]}`,
				RuleSet: &schemaregistry.RuleSet{DomainRules: pii}},
			setup: func(t *testing.T, topic string) []schemaregistry.Reference {
				register(t, topic+"-address", schemaregistry.SchemaInfo{Schema: `{"type":"record","name":"RefAddress","namespace":"com.acme","fields":[
				 {"name":"street","type":"string","confluent:tags":["PII"]},
				 {"name":"city","type":"string"}]}`})
				return []schemaregistry.Reference{{Name: "com.acme.RefAddress", Subject: topic + "-address", Version: 1}}
			},
			value:   &Shipment{ID: "S-1", Address: RefAddress{Street: "221B Baker Street", City: "London"}},
			target:  func() any { return &Shipment{} },
			secrets: []string{"221B Baker Street"},
		},
		{
			name: "metadata-tags-only",
			info: schemaregistry.SchemaInfo{Schema: `{"type":"record","name":"Account","namespace":"com.acme","fields":[
			 {"name":"user","type":"string"},{"name":"ssn","type":"string"}]}`,
				Metadata: &schemaregistry.Metadata{Tags: map[string][]string{"**.ssn": {"PII"}}},
				RuleSet:  &schemaregistry.RuleSet{DomainRules: pii}},
			value:   &Account{User: "visible-user", SSN: "078-05-1120"},
			target:  func() any { return &Account{} },
			secrets: []string{"078-05-1120"},
		},
		{
			name: "bytes-field",
			info: schemaregistry.SchemaInfo{Schema: `{"type":"record","name":"Blob","namespace":"com.acme","fields":[
			 {"name":"name","type":"string"},{"name":"data","type":"bytes","confluent:tags":["PII"]}]}`,
				RuleSet: &schemaregistry.RuleSet{DomainRules: pii}},
			value:   &Blob{Name: "scan", Data: []byte("fingerprint-template-0xCAFE")},
			target:  func() any { return &Blob{} },
			secrets: []string{"fingerprint-template-0xCAFE"},
		},
		{
			name: "two-rules-two-keks",
			info: schemaregistry.SchemaInfo{Schema: `{"type":"record","name":"Dual","namespace":"com.acme","fields":[
			 {"name":"email","type":"string","confluent:tags":["PII"]},
			 {"name":"salary","type":"string","confluent:tags":["SENSITIVE"]},
			 {"name":"note","type":"string"}]}`,
				RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{
					encryptRule("pii", "", []string{"PII"}, nil),
					encryptRule("sensitive", "", []string{"SENSITIVE"}, map[string]string{"encrypt.kek.name": "SECOND"}),
				}}},
			value:   &Dual{Email: "eve@example.net", Salary: "123456.78", Note: "ok"},
			target:  func() any { return &Dual{} },
			secrets: []string{"eve@example.net", "123456.78"},
		},
		{
			name: "dek-rotation",
			info: schemaregistry.SchemaInfo{Schema: customerSchema, RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{
				encryptRule("pii", "", []string{"PII"}, map[string]string{"encrypt.dek.expiry.days": "1"})}}},
			value:   customer,
			target:  func() any { return &Customer{} },
			secrets: []string{"Ada Lovelace", "ada@example.com"},
		},
		{
			name: "aes256-siv",
			info: schemaregistry.SchemaInfo{Schema: customerSchema, RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{
				encryptRule("pii", "", []string{"PII"}, map[string]string{"encrypt.dek.algorithm": "AES256_SIV"})}}},
			value:     customer,
			target:    func() any { return &Customer{} },
			secrets:   []string{"Ada Lovelace", "ada@example.com"},
			identical: true,
		},
		{
			name: "aes128-gcm",
			info: schemaregistry.SchemaInfo{Schema: customerSchema, RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{
				encryptRule("pii", "", []string{"PII"}, map[string]string{"encrypt.dek.algorithm": "AES128_GCM"})}}},
			value:   customer,
			target:  func() any { return &Customer{} },
			secrets: []string{"Ada Lovelace", "ada@example.com"},
		},
		{
			name: "metadata-properties-params",
			info: schemaregistry.SchemaInfo{Schema: customerSchema,
				Metadata: &schemaregistry.Metadata{Properties: map[string]string{
					"encrypt.kek.name": "PROPS", "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "oracle-key"}},
				RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{
					{Name: "pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"}}}}},
			value:   customer,
			target:  func() any { return &Customer{} },
			secrets: []string{"Ada Lovelace", "ada@example.com"},
		},
		{
			name: "encrypt-payload",
			info: schemaregistry.SchemaInfo{Schema: customerSchema, RuleSet: &schemaregistry.RuleSet{EncodingRules: []schemaregistry.Rule{
				{Name: "payload", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT_PAYLOAD", Params: map[string]string{
					"encrypt.kek.name": "", "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "oracle-key"}}}}},
			value:   customer,
			target:  func() any { return &Customer{} },
			secrets: []string{"Ada Lovelace", "ada@example.com"},
		},
	}
	for i := range cases {
		c := &cases[i]
		kek := "kek-" + c.name
		if rs := c.info.RuleSet; rs != nil {
			rs.DomainRules = withKEK(rs.DomainRules, kek)
			rs.EncodingRules = withKEK(rs.EncodingRules, kek)
			for j := range rs.DomainRules {
				if rs.DomainRules[j].Params["encrypt.kek.name"] == "SECOND" {
					rs.DomainRules[j].Params["encrypt.kek.name"] = kek + "-second"
				}
			}
		}
		if c.info.Metadata != nil && c.info.Metadata.Properties != nil {
			c.info.Metadata.Properties["encrypt.kek.name"] = kek
		}
	}
	return cases
}

func confluentPair(t *testing.T) (*avrov2.Serializer, *avrov2.Deserializer) {
	t.Helper()
	sc := avrov2.NewSerializerConfig()
	sc.AutoRegisterSchemas = false
	sc.UseLatestVersion = true
	sc.RuleConfig = ruleConfig
	ser, err := avrov2.NewSerializer(client, cserde.ValueSerde, sc)
	if err != nil {
		t.Fatal(err)
	}
	dc := avrov2.NewDeserializerConfig()
	dc.RuleConfig = ruleConfig
	de, err := avrov2.NewDeserializer(client, cserde.ValueSerde, dc)
	if err != nil {
		t.Fatal(err)
	}
	return ser, de
}

func tagsealPair(t *testing.T, opts serde.Options) (*serde.Serializer, *serde.Deserializer) {
	t.Helper()
	sc := serde.NewSerializerConfig()
	sc.AutoRegisterSchemas = false
	sc.UseLatestVersion = true
	sc.RuleConfig = ruleConfig
	sc.Options = opts
	ser, err := serde.NewSerializer(client, cserde.ValueSerde, sc)
	if err != nil {
		t.Fatal(err)
	}
	dc := serde.NewDeserializerConfig()
	dc.RuleConfig = ruleConfig
	dc.Options = opts
	de, err := serde.NewDeserializer(client, cserde.ValueSerde, dc)
	if err != nil {
		t.Fatal(err)
	}
	return ser, de
}

func assertNoPlaintext(t *testing.T, payload []byte, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if bytes.Contains(payload, []byte(s)) {
			t.Errorf("payload contains plaintext of a tagged field (%d bytes)", len(s))
		}
	}
}

// TestAvroOracle runs every case both ways: tagseal writes and Confluent
// reads, and Confluent writes and tagseal reads.
func TestAvroOracle(t *testing.T) {
	for _, c := range oracleCases() {
		t.Run(c.name, func(t *testing.T) {
			topic := "oracle-" + c.name
			if c.setup != nil {
				c.info.References = c.setup(t, topic)
			}
			register(t, topic+"-value", c.info)
			tser, tde := tagsealPair(t, serde.Options{})
			cser, cde := confluentPair(t)

			twoWay(t, topic, c, tser, tde, cser, cde)
		})
	}
}

// twoWay runs one oracle case in both directions: tagseal writes and
// Confluent reads, then Confluent writes and tagseal reads; deterministic
// cases must produce the same bytes on both sides.
func twoWay(t *testing.T, topic string, c oracleCase, tser *serde.Serializer, tde *serde.Deserializer, cser cserde.Serializer, cde cserde.Deserializer) {
	t.Run("tagseal-to-confluent", func(t *testing.T) {
		payload, err := tser.Serialize(topic, c.value)
		if err != nil {
			t.Fatalf("tagseal serialize: %v", err)
		}
		assertNoPlaintext(t, payload, c.secrets)
		got := c.target()
		if err := cde.DeserializeInto(topic, payload, got); err != nil {
			t.Fatalf("confluent deserialize: %v", err)
		}
		if !reflect.DeepEqual(got, c.value) {
			t.Fatalf("confluent read %+v, want %+v", got, c.value)
		}
	})
	t.Run("confluent-to-tagseal", func(t *testing.T) {
		// Confluent's transform mutates the message in place: give it a copy.
		payload, err := cser.Serialize(topic, deepCopy(t, c.value))
		if err != nil {
			t.Fatalf("confluent serialize: %v", err)
		}
		assertNoPlaintext(t, payload, c.secrets)
		got := c.target()
		if err := tde.DeserializeInto(topic, payload, got); err != nil {
			t.Fatalf("tagseal deserialize: %v", err)
		}
		if !reflect.DeepEqual(got, c.value) {
			t.Fatalf("tagseal read %+v, want %+v", got, c.value)
		}
		if c.identical {
			ours, err := tser.Serialize(topic, c.value)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ours, payload) {
				t.Fatalf("deterministic payloads differ:\n tagseal   %x\n confluent %x", ours, payload)
			}
		}
	})
}

// deepCopy round-trips a value through tagseal-independent reflection so
// Confluent's in-place transform cannot touch the expected value.
func deepCopy(t *testing.T, v any) any {
	t.Helper()
	return copyValue(reflect.ValueOf(v)).Interface()
}

func copyValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		n := reflect.New(v.Type().Elem())
		n.Elem().Set(copyValue(v.Elem()))
		return n
	case reflect.Struct:
		n := reflect.New(v.Type()).Elem()
		for i := 0; i < v.NumField(); i++ {
			n.Field(i).Set(copyValue(v.Field(i)))
		}
		return n
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			n.Index(i).Set(copyValue(v.Index(i)))
		}
		return n
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		n := reflect.MakeMap(v.Type())
		for it := v.MapRange(); it.Next(); {
			n.SetMapIndex(it.Key(), copyValue(it.Value()))
		}
		return n
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		n := reflect.New(v.Type()).Elem()
		n.Set(copyValue(v.Elem()))
		return n
	}
	return v
}

// TestRotationOracle moves tagseal's clock past the DEK expiry: the new
// ciphertext carries DEK version 2, and Confluent reads it.
func TestRotationOracle(t *testing.T) {
	topic := "oracle-rotation-clock"
	register(t, topic+"-value", schemaregistry.SchemaInfo{Schema: customerSchema, RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{
		encryptRule("pii", "kek-rotation-clock", []string{"PII"}, map[string]string{"encrypt.dek.expiry.days": "1"})}}})
	customer := &Customer{ID: 1, Name: "Rosalind Franklin", Email: "rf@example.com", Age: 37}
	_, cde := confluentPair(t)
	for _, step := range []struct {
		version uint32
		shift   time.Duration
	}{{1, 0}, {2, 49 * time.Hour}} {
		ser, _ := tagsealPair(t, serde.Options{Clock: func() time.Time { return time.Now().Add(step.shift) }})
		payload, err := ser.Serialize(topic, customer)
		if err != nil {
			t.Fatal(err)
		}
		if v := versionOfFirstString(t, payload); v != step.version {
			t.Fatalf("DEK version in ciphertext = %d, want %d", v, step.version)
		}
		got := &Customer{}
		if err := cde.DeserializeInto(topic, payload, got); err != nil {
			t.Fatalf("confluent read of version %d: %v", step.version, err)
		}
		if *got != *customer {
			t.Fatalf("got %+v", got)
		}
	}
}

// versionOfFirstString decodes the Customer payload's "name" field (after
// the 5-byte frame and the id varint) and returns its DEK version prefix.
func versionOfFirstString(t *testing.T, payload []byte) uint32 {
	t.Helper()
	body := payload[5:]
	_, n := binary.Varint(body)
	body = body[n:]
	l, m := binary.Varint(body)
	raw, err := base64.StdEncoding.DecodeString(string(body[m : m+int(l)]))
	if err != nil || len(raw) < 5 || raw[0] != 0 {
		t.Fatalf("name field is not version-prefixed ciphertext: %v", err)
	}
	return binary.BigEndian.Uint32(raw[1:5])
}

// Named-type references and recursion are rewritten everywhere by tagseal;
// Confluent Go v2.15 leaves such occurrences in plaintext, so these cases
// are proven tagseal→tagseal with a no-plaintext check instead.
type Home struct {
	Billing  RefAddress   `avro:"billing"`
	Shipping RefAddress   `avro:"shipping"`
	Others   []RefAddress `avro:"others"`
}

type Node struct {
	Secret string `avro:"secret"`
	Next   *Node  `avro:"next"`
}

func TestNamedTypeReuseAndRecursion(t *testing.T) {
	cases := []struct {
		name    string
		schema  string
		value   any
		target  func() any
		secrets []string
		// confluent is what confluent-kafka-go does with the schema:
		// "leaks" (serializes, some occurrence in plaintext) or
		// "cannot serialize".
		confluent string
	}{
		{
			name: "named-type-twice",
			schema: `{"type":"record","name":"Home","namespace":"com.acme","fields":[
			 {"name":"billing","type":{"type":"record","name":"RefAddress","fields":[
			   {"name":"street","type":"string","confluent:tags":["PII"]},{"name":"city","type":"string"}]}},
			 {"name":"shipping","type":"RefAddress"},
			 {"name":"others","type":{"type":"array","items":"com.acme.RefAddress"}}]}`,
			value: &Home{Billing: RefAddress{"1 Billing Rd", "A"}, Shipping: RefAddress{"2 Shipping Ave", "B"},
				Others: []RefAddress{{"3 Other St", "C"}}},
			target:    func() any { return &Home{} },
			secrets:   []string{"1 Billing Rd", "2 Shipping Ave", "3 Other St"},
			confluent: "leaks",
		},
		{
			name: "recursive",
			schema: `{"type":"record","name":"Node","namespace":"com.acme","fields":[
			 {"name":"secret","type":"string","confluent:tags":["PII"]},
			 {"name":"next","type":["null","Node"],"default":null}]}`,
			value:     &Node{Secret: "level-one", Next: &Node{Secret: "level-two", Next: &Node{Secret: "level-three"}}},
			target:    func() any { return &Node{} },
			secrets:   []string{"level-one", "level-two", "level-three"},
			confluent: "cannot serialize",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			topic := "tagseal-only-" + c.name
			register(t, topic+"-value", schemaregistry.SchemaInfo{Schema: c.schema, RuleSet: &schemaregistry.RuleSet{
				DomainRules: []schemaregistry.Rule{encryptRule("pii", "kek-"+c.name, []string{"PII"}, nil)}}})
			ser, de := tagsealPair(t, serde.Options{})
			payload, err := ser.Serialize(topic, c.value)
			if err != nil {
				t.Fatal(err)
			}
			assertNoPlaintext(t, payload, c.secrets)
			got := c.target()
			if err := de.DeserializeInto(topic, payload, got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.value) {
				t.Fatalf("got %+v, want %+v", got, c.value)
			}
			// The Confluent behaviour README.md documents ("including the
			// reuses that confluent-kafka-go v2.15 leaves in plaintext"):
			// its serializer leaves an occurrence in plaintext or cannot
			// serialize the schema at all. If Confluent starts encrypting
			// every occurrence, the claim is stale and this fails.
			cser, _ := confluentPair(t)
			cp, err := cser.Serialize(topic, copyValue(reflect.ValueOf(c.value)).Interface())
			switch {
			case err != nil:
				if c.confluent != "cannot serialize" {
					t.Fatalf("confluent-kafka-go now fails on this schema (%v); README.md says it %s: update the claim", errors.Unwrap(err), c.confluent)
				}
			default:
				leaked := 0
				for _, s := range c.secrets {
					if strings.Contains(string(cp), s) {
						leaked++
					}
				}
				if c.confluent != "leaks" || leaked == 0 {
					t.Fatalf("confluent-kafka-go serialized this schema leaving %d of %d tagged occurrences in plaintext; README.md says it %s: the claim is stale",
						leaked, len(c.secrets), c.confluent)
				}
			}
		})
	}
}

// Schema GUIDs in headers: tagseal writes the header, Confluent reads it,
// and the other way round.
func TestHeaderGUIDOracle(t *testing.T) {
	topic := "oracle-header-guid"
	register(t, topic+"-value", schemaregistry.SchemaInfo{Schema: customerSchema, RuleSet: &schemaregistry.RuleSet{
		DomainRules: []schemaregistry.Rule{encryptRule("pii", "kek-header-guid", []string{"PII"}, nil)}}})
	customer := &Customer{ID: 3, Name: "Barbara Liskov", Email: "bl@example.com", Age: 80}
	tser, tde := tagsealPair(t, serde.Options{SchemaIDSerializer: cserde.HeaderSchemaIDSerializer})
	cser, cde := confluentPair(t)
	cser.SchemaIDSerializer = cserde.HeaderSchemaIDSerializer

	headers, payload, err := tser.SerializeWithHeaders(topic, customer)
	if err != nil {
		t.Fatal(err)
	}
	got := &Customer{}
	if err := cde.DeserializeWithHeadersInto(topic, headers, payload, got); err != nil || *got != *customer {
		t.Fatalf("confluent read %+v, %v", got, err)
	}
	headers, payload, err = cser.SerializeWithHeaders(topic, &Customer{ID: 3, Name: "Barbara Liskov", Email: "bl@example.com", Age: 80})
	if err != nil {
		t.Fatal(err)
	}
	got = &Customer{}
	if err := tde.DeserializeWithHeadersInto(topic, headers, payload, got); err != nil || *got != *customer {
		t.Fatalf("tagseal read %+v, %v", got, err)
	}
}

// Ciphertexts bound with Options.BindCiphertexts carry associated data
// Confluent does not supply: Confluent's deserializer must refuse them, as
// the README states.
func TestBoundCiphertextsAreNotConfluentReadable(t *testing.T) {
	topic := "oracle-bound"
	register(t, topic+"-value", schemaregistry.SchemaInfo{Schema: customerSchema, RuleSet: &schemaregistry.RuleSet{
		DomainRules: []schemaregistry.Rule{encryptRule("pii", "kek-bound", []string{"PII"}, nil)}}})
	tser, _ := tagsealPair(t, serde.Options{BindCiphertexts: true})
	_, cde := confluentPair(t)
	payload, err := tser.Serialize(topic, &Customer{ID: 1, Name: "Bound Name", Email: "bound@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cde.DeserializeInto(topic, payload, &Customer{}); err == nil {
		t.Fatal("Confluent read a bound ciphertext; the binding would be meaningless")
	}
}
