package serde_test

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/deks"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"

	"github.com/tagseal/tagseal/serde"
)

func TestRoundTripIntoMap(t *testing.T) {
	c, topic, payload := goodPayload(t, nil)
	assertNoSecrets(t, "payload", payload)
	v, err := newDeserializer(t, c, testSecret, serde.Options{}).Deserialize(topic, payload)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": 7, "name": "Ada Lovelace", "email": "ada@example.com", "age": 36}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %#v, want %#v", v, want)
	}
}

func TestTombstones(t *testing.T) {
	c, topic, _ := goodPayload(t, nil)
	b, err := newSerializer(t, c, serde.Options{}).Serialize(topic, nil)
	if err != nil || b != nil {
		t.Fatalf("nil message → %v, %v", b, err)
	}
	v, err := newDeserializer(t, c, testSecret, serde.Options{}).Deserialize(topic, nil)
	if err != nil || v != nil {
		t.Fatalf("empty payload → %v, %v", v, err)
	}
}

// After warm-up, serializing and deserializing make no KMS call; a cold
// start under concurrency makes exactly one wrap and one unwrap.
func TestDEKCacheSingleFlightAndNoKMSOnHotPath(t *testing.T) {
	c := newClient(t)
	topic := "hot"
	registerSchema(t, c, topic+"-value", customerSchema, rule(t, "counting-kms", nil))
	s := newSerializer(t, c, serde.Options{})
	d := newDeserializer(t, c, testSecret, serde.Options{})
	wraps0, unwraps0 := counting.wraps.Load(), counting.unwraps.Load()

	payloads := make([][]byte, 32)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range payloads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := s.Serialize(topic, ada)
			if err != nil {
				errs <- err
			}
			payloads[i] = b
		}()
	}
	wg.Wait()
	for i := range payloads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := &Customer{}
			if err := d.DeserializeInto(topic, payloads[i], got); err != nil || *got != *ada {
				errs <- errors.Join(err, errors.New("wrong value"))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if w := counting.wraps.Load() - wraps0; w != 1 {
		t.Fatalf("cold start wrapped %d times, want 1", w)
	}
	if u := counting.unwraps.Load() - unwraps0; u != 1 {
		t.Fatalf("cold start unwrapped %d times, want 1", u)
	}
	for i := 0; i < 200; i++ {
		b, err := s.Serialize(topic, ada)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Deserialize(topic, b); err != nil {
			t.Fatal(err)
		}
	}
	if w, u := counting.wraps.Load()-wraps0, counting.unwraps.Load()-unwraps0; w != 1 || u != 1 {
		t.Fatalf("hot path called the KMS: %d wraps, %d unwraps", w, u)
	}
}

// A KMS outage after warm-up does not stop traffic, even past the DEK TTL;
// a cold start with the KMS down fails closed.
func TestKMSOutage(t *testing.T) {
	c := newClient(t)
	topic := "outage"
	registerSchema(t, c, topic+"-value", customerSchema, rule(t, "counting-kms", nil))
	now := time.Now()
	clock := func() time.Time { return now }
	opts := serde.Options{DEKCacheTTL: time.Minute, Clock: clock}
	s := newSerializer(t, c, opts)
	d := newDeserializer(t, c, testSecret, opts)
	warm, err := s.Serialize(topic, ada)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Deserialize(topic, warm); err != nil {
		t.Fatal(err)
	}
	counting.down.Store(true)
	defer counting.down.Store(false)
	now = now.Add(time.Hour) // past the TTL: refresh fails, cached DEK stays
	b, err := s.Serialize(topic, ada)
	if err != nil {
		t.Fatalf("warm serializer during outage: %v", err)
	}
	got := &Customer{}
	if err := d.DeserializeInto(topic, b, got); err != nil || *got != *ada {
		t.Fatalf("warm deserializer during outage: %+v, %v", got, err)
	}
	_, err = newDeserializer(t, c, testSecret, serde.Options{}).Deserialize(topic, b)
	checkErr(t, err, serde.ErrKMSUnavailable)
}

func TestCustomAndRecordSubjectStrategies(t *testing.T) {
	c := newClient(t)
	registerSchema(t, c, "custom-subject", customerSchema, rule(t, "local-kms", nil))
	strategy := func(topic string, _ cserde.Type, _ schemaregistry.SchemaInfo) (string, error) {
		return "custom-subject", nil
	}
	s := newSerializer(t, c, serde.Options{SubjectNameStrategy: strategy})
	b, err := s.Serialize("any-topic", ada)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecrets(t, "payload", b)
	got := &Customer{}
	if err := newDeserializer(t, c, testSecret, serde.Options{SubjectNameStrategy: strategy}).DeserializeInto("other", b, got); err != nil || *got != *ada {
		t.Fatalf("%+v %v", got, err)
	}

	// Record name strategy with auto-registration derives the subject from
	// the schema's full name.
	conf := serde.NewSerializerConfig()
	conf.SubjectNameStrategyType = cserde.TopicRecordNameStrategyType
	rs, err := serde.NewSerializer(c, cserde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rs.Serialize("orders", ada); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetLatestSchemaMetadata("orders-Customer"); err != nil {
		t.Fatalf("topic-record subject not registered: %v", err)
	}
}

func TestAutoRegisterAndUseSchemaID(t *testing.T) {
	c := newClient(t)
	conf := serde.NewSerializerConfig()
	s, err := serde.NewSerializer(c, cserde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Serialize("auto", ada)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := c.GetLatestSchemaMetadata("auto-value")
	if err != nil {
		t.Fatal(err)
	}
	got := &Customer{}
	if err := newDeserializer(t, c, testSecret, serde.Options{}).DeserializeInto("auto", b, got); err != nil || *got != *ada {
		t.Fatalf("%+v %v", got, err)
	}

	// UseSchemaID pins the tagged schema even though a later version exists.
	id := registerSchema(t, c, "pinned-value", customerSchema, rule(t, "local-kms", nil))
	registerSchema(t, c, "pinned-value", `{"type":"record","name":"Customer","namespace":"com.acme","fields":[{"name":"id","type":"int"}]}`)
	pc := serde.NewSerializerConfig()
	pc.AutoRegisterSchemas = false
	pc.UseSchemaID = id
	pc.RuleConfig = map[string]string{"secret": testSecret}
	ps, err := serde.NewSerializer(c, cserde.ValueSerde, pc)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := ps.Serialize("pinned", ada)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecrets(t, "pinned payload", pb)
	if meta.ID == id {
		t.Fatal("ids should differ")
	}
}

func TestUseLatestWithMetadata(t *testing.T) {
	c := newClient(t)
	for _, app := range []string{"v1", "v2"} {
		info := schemaregistry.SchemaInfo{Schema: customerSchema, SchemaType: "AVRO",
			Metadata: &schemaregistry.Metadata{Properties: map[string]string{"app": app}}}
		if app == "v1" {
			info.RuleSet = &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{rule(t, "local-kms", nil)}}
		}
		if _, err := c.Register("meta-value", info, false); err != nil {
			t.Fatal(err)
		}
	}
	conf := serde.NewSerializerConfig()
	conf.AutoRegisterSchemas = false
	conf.UseLatestWithMetadata = map[string]string{"app": "v1"}
	conf.RuleConfig = map[string]string{"secret": testSecret}
	s, err := serde.NewSerializer(c, cserde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Serialize("meta", ada)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecrets(t, "payload written with the v1 (encrypting) schema", b)
}

// The schema GUID can travel in a header instead of the payload prefix.
func TestHeaderSchemaID(t *testing.T) {
	c, topic, _ := goodPayload(t, nil)
	s := newSerializer(t, c, serde.Options{SchemaIDSerializer: cserde.HeaderSchemaIDSerializer})
	headers, b, err := s.SerializeWithHeaders(topic, ada)
	if err != nil {
		t.Fatal(err)
	}
	if len(headers) != 1 || headers[0].Key != cserde.ValueSchemaIDHeader || headers[0].Value[0] != 1 {
		t.Fatalf("headers = %v", headers)
	}
	assertNoSecrets(t, "payload", b)
	got := &Customer{}
	if err := newDeserializer(t, c, testSecret, serde.Options{}).DeserializeWithHeadersInto(topic, headers, b, got); err != nil || *got != *ada {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestKeySerde(t *testing.T) {
	c := newClient(t)
	siv := rule(t, "local-kms", map[string]string{serde.ParamDEKAlgorithm: serde.AES256SIV})
	registerSchema(t, c, "keys-key", customerSchema, siv)
	conf := serde.NewSerializerConfig()
	conf.AutoRegisterSchemas = false
	conf.UseLatestVersion = true
	conf.RuleConfig = map[string]string{"secret": testSecret}
	s, err := serde.NewSerializer(c, cserde.KeySerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Serialize("keys", ada)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Serialize("keys", ada)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Fatal("AES256_SIV keys must encrypt deterministically (partitioning, compaction)")
	}
	assertNoSecrets(t, "key", a)
}

// A new schema version is picked up once LatestSchemaTTL has passed.
func TestLatestSchemaTTL(t *testing.T) {
	c := newClient(t)
	plain := `{"type":"record","name":"Customer","namespace":"com.acme","fields":[
	 {"name":"id","type":"int"},{"name":"name","type":"string"},{"name":"email","type":"string"},{"name":"age","type":"int"}]}`
	registerSchema(t, c, "ttl-value", plain)
	now := time.Now()
	s := newSerializer(t, c, serde.Options{LatestSchemaTTL: time.Minute, Clock: func() time.Time { return now }})
	b, err := s.Serialize("ttl", ada)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "Ada Lovelace") {
		t.Fatal("version 1 has no rule: plaintext expected")
	}
	registerSchema(t, c, "ttl-value", customerSchema, rule(t, "local-kms", nil))
	now = now.Add(2 * time.Minute)
	b, err = s.Serialize("ttl", ada)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecrets(t, "payload after the encrypting version was picked up", b)
}

// A deserializer with UseLatestVersion decrypts with the writer's plan and
// decodes into the latest (reader) schema.
func TestReaderSchema(t *testing.T) {
	c, topic, payload := goodPayload(t, nil)
	evolved := `{"type":"record","name":"Customer","namespace":"com.acme","fields":[
	 {"name":"id","type":"int"},
	 {"name":"name","type":"string","confluent:tags":["PII"]},
	 {"name":"email","type":"string","confluent:tags":["PII"]},
	 {"name":"age","type":"int"},
	 {"name":"country","type":"string","default":"unknown"}]}`
	registerSchema(t, c, topic+"-value", evolved, rule(t, "local-kms", nil))
	conf := serde.NewDeserializerConfig()
	conf.UseLatestVersion = true
	conf.RuleConfig = map[string]string{"secret": testSecret}
	d, err := serde.NewDeserializer(c, cserde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	v, err := d.Deserialize(topic, payload)
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if m["country"] != "unknown" || m["email"] != "ada@example.com" {
		t.Fatalf("got %v", m)
	}
}

// encrypt.alternate.kms.key.ids: when the KEK's key is unreachable, the
// alternates wrap and unwrap the DEK.
func TestAlternateKMSKeyIDs(t *testing.T) {
	c := newClient(t)
	r := rule(t, "failover-kms", nil)
	r.Params[serde.ParamKMSKeyID] = "broken"
	registerSchema(t, c, "alt-value", customerSchema, r)
	conf := serde.NewSerializerConfig()
	conf.AutoRegisterSchemas = false
	conf.UseLatestVersion = true
	conf.RuleConfig = map[string]string{"secret": testSecret, serde.ParamAlternateKMSKeyIDs: "also-broken, good"}
	s, err := serde.NewSerializer(c, cserde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Serialize("alt", ada)
	if err != nil {
		t.Fatal(err)
	}
	dconf := serde.NewDeserializerConfig()
	dconf.RuleConfig = conf.RuleConfig
	d, err := serde.NewDeserializer(c, cserde.ValueSerde, dconf)
	if err != nil {
		t.Fatal(err)
	}
	got := &Customer{}
	if err := d.DeserializeInto("alt", b, got); err != nil || *got != *ada {
		t.Fatalf("%+v %v", got, err)
	}
	// Without alternates the DEK cannot be unwrapped: fail closed.
	_, err = newSerializer(t, c, serde.Options{}).Serialize("alt", ada)
	checkErr(t, err, serde.ErrKMSUnavailable)
}

// countingRegistry counts every call a serde makes to the Schema Registry.
type countingRegistry struct {
	schemaregistry.Client
	calls atomic.Int64
}

func (c *countingRegistry) GetLatestSchemaMetadata(subject string) (schemaregistry.SchemaMetadata, error) {
	c.calls.Add(1)
	return c.Client.GetLatestSchemaMetadata(subject)
}

func (c *countingRegistry) GetBySubjectAndID(subject string, id int) (schemaregistry.SchemaInfo, error) {
	c.calls.Add(1)
	return c.Client.GetBySubjectAndID(subject, id)
}

func (c *countingRegistry) GetSchemaMetadataIncludeDeleted(subject string, version int, deleted bool) (schemaregistry.SchemaMetadata, error) {
	c.calls.Add(1)
	return c.Client.GetSchemaMetadataIncludeDeleted(subject, version, deleted)
}

// countingDEKs counts every call to the DEK Registry.
type countingDEKs struct {
	deks.Client
	calls atomic.Int64
}

func (c *countingDEKs) GetKek(name string, deleted bool) (deks.Kek, error) {
	c.calls.Add(1)
	return c.Client.GetKek(name, deleted)
}

func (c *countingDEKs) GetDek(kek, subject, alg string, deleted bool) (deks.Dek, error) {
	c.calls.Add(1)
	return c.Client.GetDek(kek, subject, alg, deleted)
}

func (c *countingDEKs) GetDekVersion(kek, subject string, version int, alg string, deleted bool) (deks.Dek, error) {
	c.calls.Add(1)
	return c.Client.GetDekVersion(kek, subject, version, alg, deleted)
}

func (c *countingDEKs) RegisterKek(name, kmsType, kmsKeyID string, props map[string]string, doc string, shared bool) (deks.Kek, error) {
	c.calls.Add(1)
	return c.Client.RegisterKek(name, kmsType, kmsKeyID, props, doc, shared)
}

func (c *countingDEKs) RegisterDekVersion(kek, subject string, version int, alg, material string) (deks.Dek, error) {
	c.calls.Add(1)
	return c.Client.RegisterDekVersion(kek, subject, version, alg, material)
}

// After warm-up, records cost no Schema Registry, DEK Registry or KMS call,
// in every format.
func TestHotPathMakesNoRemoteCalls(t *testing.T) {
	inner := newClient(t)
	reg := &countingRegistry{Client: inner}
	dekInner, err := deks.NewClient(inner.Config())
	if err != nil {
		t.Fatal(err)
	}
	dek := &countingDEKs{Client: dekInner}
	registerSchema(t, inner, "hot-avro-value", customerSchema, rule(t, "counting-kms", nil))
	registerJSON(t, inner, "hot-json-value", jsonCustomer, rule(t, "counting-kms", nil))
	registerProto(t, inner, "hot-proto-value", protoSchema, rule(t, "counting-kms", nil))
	opts := serde.Options{DEKClient: dek}
	s := newSerializer(t, reg, opts)
	d := newDeserializer(t, reg, testSecret, opts)
	values := map[string]any{
		"hot-avro":  ada,
		"hot-json":  map[string]any{"id": 7, "name": "Ada Lovelace", "email": "ada@example.com"},
		"hot-proto": protoCustomer(t),
	}
	round := func() {
		for topic, v := range values {
			b, err := s.Serialize(topic, v)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.Deserialize(topic, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	round() // warm-up
	regCalls, dekCalls := reg.calls.Load(), dek.calls.Load()
	kms := counting.wraps.Load() + counting.unwraps.Load()
	if regCalls == 0 || dekCalls == 0 {
		t.Fatal("the counters must see the warm-up calls")
	}
	for i := 0; i < 300; i++ {
		round()
	}
	if n := reg.calls.Load() - regCalls; n != 0 {
		t.Errorf("hot path made %d Schema Registry calls", n)
	}
	if n := dek.calls.Load() - dekCalls; n != 0 {
		t.Errorf("hot path made %d DEK Registry calls", n)
	}
	if n := counting.wraps.Load() + counting.unwraps.Load() - kms; n != 0 {
		t.Errorf("hot path made %d KMS calls", n)
	}
}
