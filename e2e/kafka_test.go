package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagseal/tagseal/serde"
)

const secret = "e2e-secret"

type Customer struct {
	ID    int32  `avro:"id"`
	Name  string `avro:"name"`
	Email string `avro:"email"`
}

type CustomerKey struct {
	Email string `avro:"email"`
}

const valueSchema = `{"type":"record","name":"Customer","namespace":"e2e","fields":[
 {"name":"id","type":"int"},
 {"name":"name","type":"string","confluent:tags":["PII"]},
 {"name":"email","type":"string","confluent:tags":["PII"]}]}`

const keySchema = `{"type":"record","name":"CustomerKey","namespace":"e2e","fields":[
 {"name":"email","type":"string","confluent:tags":["PII"]}]}`

func bootstrap(t *testing.T) string {
	t.Helper()
	b := os.Getenv("TAGSEAL_KAFKA_BOOTSTRAP")
	if b == "" {
		t.Skip("TAGSEAL_KAFKA_BOOTSTRAP not set: run through scripts/with-services.sh (make test) for the Kafka broker")
	}
	return b
}

var topicSeq atomic.Int64

// newTopic creates a topic with a unique name.
func newTopic(t *testing.T, broker string, partitions int, config map[string]string) string {
	t.Helper()
	name := fmt.Sprintf("e2e-%s-%d-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), time.Now().UnixNano()%1e6, topicSeq.Add(1))
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": broker})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := admin.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: name, NumPartitions: partitions, ReplicationFactor: 1, Config: config}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Error.Code() != kafka.ErrNoError {
		t.Fatal(res[0].Error)
	}
	return name
}

func encryptRule(kek string, extra map[string]string) schemaregistry.Rule {
	p := map[string]string{"encrypt.kek.name": kek, "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "e2e"}
	for k, v := range extra {
		p[k] = v
	}
	return schemaregistry.Rule{Name: "pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"}, Params: p}
}

func registry(t *testing.T, subjects map[string]schemaregistry.SchemaInfo) schemaregistry.Client {
	t.Helper()
	c, err := schemaregistry.NewClient(schemaregistry.NewConfig("mock://" + strings.ReplaceAll(t.Name(), "/", "-")))
	if err != nil {
		t.Fatal(err)
	}
	for subject, info := range subjects {
		if _, err := c.Register(subject, info, false); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func serdes(t *testing.T, c schemaregistry.Client, typ cserde.Type, opts serde.Options) (*serde.Serializer, *serde.Deserializer) {
	t.Helper()
	sc := serde.NewSerializerConfig()
	sc.AutoRegisterSchemas, sc.UseLatestVersion = false, true
	sc.RuleConfig = map[string]string{"secret": secret}
	sc.Options = opts
	s, err := serde.NewSerializer(c, typ, sc)
	if err != nil {
		t.Fatal(err)
	}
	dc := serde.NewDeserializerConfig()
	dc.RuleConfig = map[string]string{"secret": secret}
	d, err := serde.NewDeserializer(c, typ, dc)
	if err != nil {
		t.Fatal(err)
	}
	return s, d
}

// newProducer returns a confluent-kafka-go producer whose delivery reports
// are drained; a failed delivery fails the test.
func newProducer(t *testing.T, broker string) *kafka.Producer {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": broker, "linger.ms": 5})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for e := range p.Events() {
			if m, ok := e.(*kafka.Message); ok && m.TopicPartition.Error != nil {
				t.Errorf("delivery failed: %v", m.TopicPartition.Error)
			}
		}
	}()
	t.Cleanup(p.Close)
	return p
}

func customers(n int) []*Customer {
	out := make([]*Customer, n)
	for i := range out {
		out[i] = &Customer{ID: int32(i), Name: fmt.Sprintf("Customer Name %03d", i), Email: fmt.Sprintf("customer%03d@example.com", i)}
	}
	return out
}

func assertNoPlaintext(t *testing.T, raw [][]byte, cs []*Customer) {
	t.Helper()
	for _, b := range raw {
		for _, c := range cs {
			if bytes.Contains(b, []byte(c.Name)) || bytes.Contains(b, []byte(c.Email)) {
				t.Fatal("the broker holds a tagged value in plaintext")
			}
		}
	}
}

// readRaw reads every record of a topic with franz-go, without any
// deserializer: what the broker stores.
func readRaw(t *testing.T, broker, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", len(out), want, err)
		}
		fetches.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		out = append(out, fetches.Records()...)
	}
	return out
}

// confluent-kafka-go producer and consumer with tagseal as the value serde.
func TestConfluentKafkaGo(t *testing.T) {
	broker := bootstrap(t)
	topic := newTopic(t, broker, 3, nil)
	reg := registry(t, map[string]schemaregistry.SchemaInfo{topic + "-value": {Schema: valueSchema, SchemaType: "AVRO",
		RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{encryptRule("kek-"+topic, nil)}}}})
	ser, de := serdes(t, reg, cserde.ValueSerde, serde.Options{})
	p := newProducer(t, broker)
	cs := customers(50)
	for _, c := range cs {
		value, err := ser.Serialize(topic, c)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Value: value}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if left := p.Flush(30_000); left != 0 {
		t.Fatalf("%d messages not delivered", left)
	}
	consumer, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": broker, "group.id": topic, "auto.offset.reset": "earliest"})
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	if err := consumer.Subscribe(topic, nil); err != nil {
		t.Fatal(err)
	}
	got := map[int32]Customer{}
	deadline := time.Now().Add(60 * time.Second)
	for len(got) < len(cs) && time.Now().Before(deadline) {
		msg, err := consumer.ReadMessage(time.Second)
		if err != nil {
			continue
		}
		var c Customer
		if err := de.DeserializeInto(topic, msg.Value, &c); err != nil {
			t.Fatal(err)
		}
		got[c.ID] = c
	}
	for _, c := range cs {
		if got[c.ID] != *c {
			t.Fatalf("record %d: got %+v", c.ID, got[c.ID])
		}
	}
	var raw [][]byte
	for _, r := range readRaw(t, broker, topic, len(cs)) {
		raw = append(raw, r.Value)
	}
	assertNoPlaintext(t, raw, cs)
}

// franz-go producer and consumer, with the schema GUID carried in a header.
func TestFranzGoWithHeaderSchemaIDs(t *testing.T) {
	broker := bootstrap(t)
	topic := newTopic(t, broker, 2, nil)
	reg := registry(t, map[string]schemaregistry.SchemaInfo{topic + "-value": {Schema: valueSchema, SchemaType: "AVRO",
		RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{encryptRule("kek-"+topic, nil)}}}})
	ser, de := serdes(t, reg, cserde.ValueSerde, serde.Options{SchemaIDSerializer: cserde.HeaderSchemaIDSerializer})
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cs := customers(40)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range cs {
		headers, value, err := ser.SerializeWithHeaders(topic, c)
		if err != nil {
			t.Fatal(err)
		}
		rec := &kgo.Record{Value: value}
		for _, h := range headers {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	records := readRaw(t, broker, topic, len(cs))
	var raw [][]byte
	for _, r := range records {
		raw = append(raw, r.Value)
		if len(r.Headers) != 1 || r.Headers[0].Key != cserde.ValueSchemaIDHeader {
			t.Fatalf("headers %v", r.Headers)
		}
		var headers []kafka.Header
		for _, h := range r.Headers {
			headers = append(headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		var c Customer
		if err := de.DeserializeWithHeadersInto(topic, headers, r.Value, &c); err != nil {
			t.Fatal(err)
		}
		if c != *cs[c.ID] {
			t.Fatalf("got %+v", c)
		}
	}
	assertNoPlaintext(t, raw, cs)
}

// Encrypted record keys: an AES256_SIV rule on the key schema gives each
// plaintext key one ciphertext, so partitioning and compaction still work.
func TestEncryptedKeys(t *testing.T) {
	broker := bootstrap(t)
	const distinct, total = 20, 1000
	topic := newTopic(t, broker, 4, nil)
	keySer, keyDe, valSer, valDe := keyedSerdes(t, topic)
	p := newProducer(t, broker)
	produceKeyed(t, p, topic, keySer, valSer, 0, total, distinct)
	records := readRaw(t, broker, topic, total)
	keyBytes := map[string][]byte{}
	partition := map[string]int32{}
	for _, r := range records {
		var k CustomerKey
		if err := keyDe.DeserializeInto(topic, r.Key, &k); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(r.Key, []byte(k.Email)) {
			t.Fatal("record key holds the plaintext email")
		}
		if prev, ok := keyBytes[k.Email]; ok && !bytes.Equal(prev, r.Key) {
			t.Fatalf("key %s encrypted two ways", k.Email)
		}
		keyBytes[k.Email] = r.Key
		if prev, ok := partition[k.Email]; ok && prev != r.Partition {
			t.Fatalf("key %s on partitions %d and %d", k.Email, prev, r.Partition)
		}
		partition[k.Email] = r.Partition
		var c Customer
		if err := valDe.DeserializeInto(topic, r.Value, &c); err != nil || c.Email != k.Email {
			t.Fatalf("value %+v for key %s: %v", c, k.Email, err)
		}
	}
	if len(keyBytes) != distinct {
		t.Fatalf("%d distinct encrypted keys, want %d", len(keyBytes), distinct)
	}
}

// A compacted topic keeps the latest value per encrypted key.
func TestCompactionWithEncryptedKeys(t *testing.T) {
	broker := bootstrap(t)
	const distinct, total = 10, 50
	topic := newTopic(t, broker, 2, map[string]string{
		"cleanup.policy": "compact", "segment.ms": "200", "min.cleanable.dirty.ratio": "0.001", "delete.retention.ms": "100",
	})
	keySer, keyDe, valSer, valDe := keyedSerdes(t, topic)
	p := newProducer(t, broker)
	produceKeyed(t, p, topic, keySer, valSer, 0, total, distinct)
	last := map[string]int32{}
	for i := total - distinct; i < total; i++ {
		last[fmt.Sprintf("key%02d@example.com", i%distinct)] = int32(i)
	}
	// The cleaner leaves the active segment alone: keep rolling segments
	// with writes to other keys until the old values are gone.
	deadline := time.Now().Add(120 * time.Second)
	for roll := 0; ; roll++ {
		time.Sleep(time.Second)
		for part := int32(0); part < 2; part++ {
			k := &CustomerKey{Email: fmt.Sprintf("roll-%d-%d@example.com", roll, part)}
			key, _ := keySer.Serialize(topic, k)
			value, _ := valSer.Serialize(topic, &Customer{ID: -1, Name: "roll", Email: k.Email})
			_ = p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: part}, Key: key, Value: value}, nil)
		}
		p.Flush(10_000)
		if countLatest(t, broker, topic, keyDe, valDe, last) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the compacted topic still holds older values for some keys")
		}
	}
}

func keyedSerdes(t *testing.T, topic string) (keySer *serde.Serializer, keyDe *serde.Deserializer, valSer *serde.Serializer, valDe *serde.Deserializer) {
	t.Helper()
	siv := map[string]string{"encrypt.dek.algorithm": "AES256_SIV"}
	reg := registry(t, map[string]schemaregistry.SchemaInfo{
		topic + "-key": {Schema: keySchema, SchemaType: "AVRO",
			RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{encryptRule("kek-key-"+topic, siv)}}},
		topic + "-value": {Schema: valueSchema, SchemaType: "AVRO",
			RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{encryptRule("kek-value-"+topic, nil)}}},
	})
	keySer, keyDe = serdes(t, reg, cserde.KeySerde, serde.Options{})
	valSer, valDe = serdes(t, reg, cserde.ValueSerde, serde.Options{})
	return
}

// produceKeyed writes records from..to, keyed by one of distinct emails.
func produceKeyed(t *testing.T, p *kafka.Producer, topic string, keySer, valSer *serde.Serializer, from, to, distinct int) {
	t.Helper()
	for i := from; i < to; i++ {
		k := &CustomerKey{Email: fmt.Sprintf("key%02d@example.com", i%distinct)}
		key, err := keySer.Serialize(topic, k)
		if err != nil {
			t.Fatal(err)
		}
		value, err := valSer.Serialize(topic, &Customer{ID: int32(i), Name: "Name " + k.Email, Email: k.Email})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Key: key, Value: value}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if left := p.Flush(30_000); left != 0 {
		t.Fatalf("%d messages not delivered", left)
	}
}

// countLatest reads the topic and reports whether each of the test's keys
// has exactly one record left, holding its latest value.
func countLatest(t *testing.T, broker, topic string, keyDe, valDe *serde.Deserializer, last map[string]int32) bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	seen := map[string][]int32{}
	for ctx.Err() == nil {
		fetches := cl.PollFetches(ctx)
		for _, r := range fetches.Records() {
			var k CustomerKey
			var c Customer
			if keyDe.DeserializeInto(topic, r.Key, &k) != nil || valDe.DeserializeInto(topic, r.Value, &c) != nil {
				continue
			}
			if _, ours := last[k.Email]; ours {
				seen[k.Email] = append(seen[k.Email], c.ID)
			}
		}
	}
	for email, id := range last {
		if ids := seen[email]; len(ids) != 1 || ids[0] != id {
			return false
		}
	}
	return true
}
