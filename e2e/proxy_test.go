package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"

	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/jsonschema"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tagseal/tagseal/proxy"
)

// tagseal proxy against the real broker: plain Kafka clients (Kafka's
// console producer and consumer, franz-go, confluent-kafka-go without any
// serde) go through the proxy, which encrypts tagged fields on produce and
// decrypts them on fetch for granted listeners; Confluent's own CSFLE serdes
// connected directly to the broker prove the bytes are Confluent's. The
// registry is the test binary's registry.Memory over HTTP (pureRegistry).

// proxySecret is pureSecret: Confluent's encryption executor is
// process-wide and refuses a second value for a RuleConfig key, so every
// test of this binary that uses Confluent's CSFLE serdes shares one secret.
const proxySecret = pureSecret

// personSchema is a JSON Schema with three tagged fields.
const personSchema = `{"type":"object","title":"Person","properties":{
 "id":{"type":"integer"},
 "name":{"type":"string","confluent:tags":["PII"]},
 "email":{"type":"string","confluent:tags":["PII"]},
 "city":{"type":"string","confluent:tags":["PII"]}},
 "required":["id","name","email","city"]}`

type person struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	City  string `json:"city"`
}

func people(topic string, n int) []person {
	out := make([]person, n)
	for i := range out {
		out[i] = person{ID: i, Name: fmt.Sprintf("Secret Name %d of %s", i, topic), Email: fmt.Sprintf("p%d@%s.example", i, topic), City: fmt.Sprintf("Hidden City %d", i)}
	}
	return out
}

// srClient is a Confluent Schema Registry client on the shared registry.
func srClient(t *testing.T) schemaregistry.Client {
	t.Helper()
	c, err := schemaregistry.NewClient(schemaregistry.NewConfig(pureRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// registerPerson registers personSchema with an ENCRYPT rule under the
// topic's value subject and returns its schema id. Kafka's console
// producer reads text lines, so every byte of the framed id must be ASCII
// and no line break: other ids are skipped by registering filler schemas.
func registerPerson(t *testing.T, c schemaregistry.Client, topic string) int {
	t.Helper()
	for i := 0; ; i++ {
		id, err := c.Register(topic+"-value", schemaregistry.SchemaInfo{Schema: personSchema, SchemaType: "JSON",
			RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{{Name: "pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT",
				Tags: []string{"PII"}, Params: map[string]string{"encrypt.kek.name": kekName(topic), "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "proxy"}}}}}, false)
		if err != nil {
			t.Fatal(err)
		}
		if lineSafeID(id) {
			return id
		}
		if i > 300 {
			t.Fatalf("no line-safe schema id (last %d)", id)
		}
		// Burn an id with a distinct schema under a throwaway subject, then
		// register again under a new topic-specific name.
		if _, err := c.Register(fmt.Sprintf("filler-%s-%d", topic, i), schemaregistry.SchemaInfo{Schema: fmt.Sprintf(`{"type":"object","title":"F%d%s"}`, i, topic), SchemaType: "JSON"}, false); err != nil {
			t.Fatal(err)
		}
		if err := deleteSubject(c, topic+"-value"); err != nil {
			t.Fatal(err)
		}
	}
}

// kekName is a KEK name for the topic within the registry's 64 characters.
func kekName(topic string) string {
	h := fnv.New64a()
	h.Write([]byte(topic))
	return fmt.Sprintf("proxy-%x", h.Sum64())
}

func deleteSubject(c schemaregistry.Client, subject string) error {
	if _, err := c.DeleteSubject(subject, false); err != nil {
		return err
	}
	_, err := c.DeleteSubject(subject, true)
	return err
}

func lineSafeID(id int) bool {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(id))
	for _, c := range b {
		if c >= 0x80 || c == '\n' || c == '\r' {
			return false
		}
	}
	return true
}

// frame is what a Confluent serializer without encryption writes: magic
// byte, schema id, JSON.
func frame(id int, v any) []byte {
	b := []byte{0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(id))
	j, _ := json.Marshal(v)
	return append(b, j...)
}

// unframe decodes a framed JSON person.
func unframe(t *testing.T, b []byte) person {
	t.Helper()
	var p person
	if len(b) < 5 || b[0] != 0 {
		t.Fatalf("record not framed: %q", b)
	}
	if err := json.Unmarshal(b[5:], &p); err != nil {
		t.Fatalf("record body: %v", err)
	}
	return p
}

// startE2EProxy runs a proxy from YAML text, as `tagseal proxy` does: a
// listener "granted" whose clients may decrypt everything and one,
// "denied", whose clients see ciphertext.
func startE2EProxy(t *testing.T) *proxy.Proxy {
	t.Helper()
	broker := bootstrap(t)
	t.Setenv("TAGSEAL_E2E_PROXY_SECRET", proxySecret)
	conf, err := proxy.ParseConfig([]byte(fmt.Sprintf(`
upstream:
  bootstrap: [%q]
listeners:
  - name: granted
    address: 127.0.0.1:0
    decrypt: ["*"]
  - name: denied
    address: 127.0.0.1:0
registry:
  url: %s
kms:
  ruleConfig:
    secret: ${TAGSEAL_E2E_PROXY_SECRET}
policy: reject
`, broker, pureRegistry())))
	if err != nil {
		t.Fatal(err)
	}
	opts, err := conf.Options()
	if err != nil {
		t.Fatal(err)
	}
	opts.Logger = slog.New(slog.NewTextHandler(logWriter{t}, nil))
	p, err := proxy.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// assertNoTaggedPlaintext fails if any record holds a tagged value in clear.
func assertNoTaggedPlaintext(t *testing.T, raw [][]byte, ps []person) {
	t.Helper()
	for _, b := range raw {
		for _, p := range ps {
			for _, v := range []string{p.Name, p.Email, p.City} {
				if bytes.Contains(b, []byte(v)) {
					t.Fatalf("tagged value %q in clear in %q", v, b)
				}
			}
		}
	}
}

// kafkaCLI returns the class path of Kafka's command-line clients
// (scripts/tools.sh installs them into .tools/kafka-cli).
func kafkaCLI(t *testing.T) string {
	t.Helper()
	tools := os.Getenv("TAGSEAL_TOOLS")
	if tools == "" {
		tools = filepath.Join("..", ".tools")
	}
	libs := filepath.Join(tools, "kafka-cli", "libs")
	if _, err := os.Stat(filepath.Join(libs, ".complete")); err != nil {
		t.Skipf("Kafka's console clients are not installed in %s: run scripts/tools.sh (make test does)", libs)
	}
	return filepath.Join(libs, "*")
}

// consoleProduce runs kafka-console-producer.sh's class with one record
// per line.
func consoleProduce(t *testing.T, addr, topic string, values [][]byte, props ...string) {
	t.Helper()
	args := []string{"-cp", kafkaCLI(t), "org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server", addr, "--topic", topic}
	for _, p := range props {
		args = append(args, "--producer-property", p)
	}
	cmd := exec.Command("java", args...)
	cmd.Stdin = bytes.NewReader(append(bytes.Join(values, []byte("\n")), '\n'))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("console producer: %v\n%s", err, out)
	} else if bytes.Contains(out, []byte("ERROR")) {
		t.Fatalf("console producer reported errors:\n%s", out)
	}
}

// consoleConsume runs kafka-console-consumer.sh's class (in a consumer
// group of its own) and returns the n values it prints.
func consoleConsume(t *testing.T, addr, topic string, n int) [][]byte {
	t.Helper()
	cmd := exec.Command("java", "-cp", kafkaCLI(t), "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", addr,
		"--topic", topic, "--from-beginning", "--max-messages", fmt.Sprint(n), "--timeout-ms", "60000")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("console consumer: %v\n%s", err, stderr.String())
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if len(lines) != n {
		t.Fatalf("console consumer printed %d records, want %d\n%s", len(lines), n, stderr.String())
	}
	return lines
}

// confluentRead consumes n records directly from the broker with
// confluent-kafka-go and Confluent's JSON Schema CSFLE deserializer.
func confluentRead(t *testing.T, broker, topic string, n int) []person {
	t.Helper()
	dc := jsonschema.NewDeserializerConfig()
	dc.RuleConfig = map[string]string{"secret": proxySecret}
	de, err := jsonschema.NewDeserializer(srClient(t), cserde.ValueSerde, dc)
	if err != nil {
		t.Fatal(err)
	}
	out := confluentConsume(t, broker, topic, "csfle-"+topic, n, func(value []byte) person {
		var p person
		if err := de.DeserializeInto(topic, value, &p); err != nil {
			t.Fatalf("Confluent's CSFLE deserializer: %v", err)
		}
		return p
	})
	if len(out) != n {
		t.Fatalf("Confluent Go read %d of %d records", len(out), n)
	}
	return out
}

// confluentConsume reads up to n records of topic from addr with a
// confluent-kafka-go consumer in group, decoding each value, for at most 60 s.
func confluentConsume(t *testing.T, addr, topic, group string, n int, decode func([]byte) person) []person {
	t.Helper()
	consumer, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": addr, "group.id": group, "auto.offset.reset": "earliest"})
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	if err := consumer.Subscribe(topic, nil); err != nil {
		t.Fatal(err)
	}
	var out []person
	deadline := time.Now().Add(60 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		msg, err := consumer.ReadMessage(time.Second)
		if err != nil {
			if ke, ok := err.(kafka.Error); ok && ke.Code() != kafka.ErrTimedOut {
				t.Logf("consumer: %v", err)
			}
			continue
		}
		out = append(out, decode(msg.Value))
	}
	return out
}

func rawValues(t *testing.T, broker, topic string, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for _, r := range readRaw(t, broker, topic, n) {
		out = append(out, r.Value)
	}
	return out
}

func samePeople(t *testing.T, got, want []person) {
	t.Helper()
	byID := map[int]person{}
	for _, p := range got {
		byID[p.ID] = p
	}
	for _, w := range want {
		if byID[w.ID] != w {
			t.Fatalf("record %d: got %+v, want %+v", w.ID, byID[w.ID], w)
		}
	}
}

// kafka-console-producer.sh → proxy → broker; Confluent's CSFLE consumer
// connected directly reads the plaintext: the proxy writes Confluent's bytes.
func TestProxyConsoleProducerToConfluentConsumer(t *testing.T) {
	broker := bootstrap(t)
	p := startE2EProxy(t)
	topic := newTopic(t, broker, 1, nil)
	id := registerPerson(t, srClient(t), topic)
	want := people(topic, 10)
	var lines [][]byte
	for _, v := range want {
		lines = append(lines, frame(id, v))
	}
	consoleProduce(t, p.Addr("denied").String(), topic, lines)
	samePeople(t, confluentRead(t, broker, topic, len(want)), want)
	assertNoTaggedPlaintext(t, rawValues(t, broker, topic, len(want)), want)
}

// Confluent's CSFLE producer writes directly; kafka-console-consumer.sh
// through the granted listener prints plaintext, through the other one
// the ciphertext as stored.
func TestProxyConfluentProducerToConsoleConsumer(t *testing.T) {
	broker := bootstrap(t)
	p := startE2EProxy(t)
	topic := newTopic(t, broker, 1, nil)
	c := srClient(t)
	registerPerson(t, c, topic)
	sc := jsonschema.NewSerializerConfig()
	sc.AutoRegisterSchemas, sc.UseLatestVersion = false, true
	sc.RuleConfig = map[string]string{"secret": proxySecret}
	ser, err := jsonschema.NewSerializer(c, cserde.ValueSerde, sc)
	if err != nil {
		t.Fatal(err)
	}
	producer := newProducer(t, broker)
	want := people(topic, 10)
	for _, v := range want {
		b, err := ser.Serialize(topic, &v)
		if err != nil {
			t.Fatal(err)
		}
		if err := producer.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Value: b}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if left := producer.Flush(30_000); left != 0 {
		t.Fatalf("%d records not delivered", left)
	}
	var got []person
	for _, line := range consoleConsume(t, p.Addr("granted").String(), topic, len(want)) {
		got = append(got, unframe(t, line))
	}
	samePeople(t, got, want)

	denied := consoleConsume(t, p.Addr("denied").String(), topic, len(want))
	assertNoTaggedPlaintext(t, denied, want)
	for _, line := range denied {
		if q := unframe(t, line); q.Name == "" || q.ID < 0 {
			t.Fatalf("ciphertext record lost its fields: %q", line)
		}
	}
}

var codecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

func franzCodec(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// franz-go and confluent-kafka-go (no serde) produce framed plaintext
// through the proxy with every codec and consume through it: granted
// readers get the plaintext back, the broker holds none.
func TestProxyClientsCodecs(t *testing.T) {
	broker := bootstrap(t)
	p := startE2EProxy(t)
	granted, denied := p.Addr("granted").String(), p.Addr("denied").String()
	c := srClient(t)
	for _, cli := range []string{"franz-go", "confluent-kafka-go"} {
		for _, codec := range codecs {
			t.Run(cli+"/"+codec, func(t *testing.T) {
				topic := newTopic(t, broker, 2, nil)
				id := registerPerson(t, c, topic)
				want := people(topic, 20)
				switch cli {
				case "franz-go":
					cl, err := kgo.NewClient(kgo.SeedBrokers(granted), kgo.ProducerBatchCompression(franzCodec(codec)), kgo.DefaultProduceTopic(topic))
					if err != nil {
						t.Fatal(err)
					}
					defer cl.Close()
					var rs []*kgo.Record
					for _, v := range want {
						rs = append(rs, &kgo.Record{Value: frame(id, v)})
					}
					if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
						t.Fatal(err)
					}
				case "confluent-kafka-go":
					pr, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": granted, "compression.type": codec, "linger.ms": 5, "message.timeout.ms": 30000})
					if err != nil {
						t.Fatal(err)
					}
					defer pr.Close()
					done := make(chan kafka.Event, len(want))
					for _, v := range want {
						if err := pr.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Value: frame(id, v)}, done); err != nil {
							t.Fatal(err)
						}
					}
					for range want {
						if m := (<-done).(*kafka.Message); m.TopicPartition.Error != nil {
							t.Fatalf("delivery through the proxy: %v", m.TopicPartition.Error)
						}
					}
				}
				// Read back through the proxy with the same client kind.
				var got []person
				var deniedValues [][]byte
				switch cli {
				case "franz-go":
					for _, r := range readRaw(t, granted, topic, len(want)) {
						got = append(got, unframe(t, r.Value))
					}
					deniedValues = rawValues(t, denied, topic, len(want))
				case "confluent-kafka-go":
					got = confluentPlainRead(t, granted, topic, len(want))
				}
				samePeople(t, got, want)
				assertNoTaggedPlaintext(t, deniedValues, want)
				assertNoTaggedPlaintext(t, rawValues(t, broker, topic, len(want)), want)
			})
		}
	}
}

// confluentPlainRead consumes with confluent-kafka-go, no serde.
func confluentPlainRead(t *testing.T, addr, topic string, n int) []person {
	t.Helper()
	out := confluentConsume(t, addr, topic, "plain-"+topic, n, func(value []byte) person { return unframe(t, value) })
	if len(out) != n {
		t.Fatalf("read %d of %d records through the proxy", len(out), n)
	}
	return out
}

// A transactional franz-go producer and a read-committed consumer group
// that commits its offsets, all through the proxy.
func TestProxyTransactionsAndGroups(t *testing.T) {
	broker := bootstrap(t)
	p := startE2EProxy(t)
	addr := p.Addr("granted").String()
	topic := newTopic(t, broker, 1, nil)
	id := registerPerson(t, srClient(t), topic)
	want := people(topic, 10)

	prod, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("txn-"+topic), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// One aborted transaction, then one committed.
	for _, commit := range []kgo.TransactionEndTry{kgo.TryAbort, kgo.TryCommit} {
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, v := range want {
			if commit == kgo.TryAbort {
				v.Name = "Aborted " + v.Name
			}
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: frame(id, v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := prod.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}

	group := "group-" + topic
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []person
	var last int64
	for len(got) < len(want) {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d committed records", len(got), len(want))
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		for _, r := range fs.Records() {
			got = append(got, unframe(t, r.Value))
			last = r.Offset
		}
	}
	samePeople(t, got, want)
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	// The commit reached the broker: ask it directly.
	admin, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	var committed int64 = -1
	for _, g := range resp.Groups {
		for _, tp := range g.Topics {
			for _, pp := range tp.Partitions {
				committed = pp.Offset
			}
		}
	}
	for _, tp := range resp.Topics {
		for _, pp := range tp.Partitions {
			committed = pp.Offset
		}
	}
	if committed != last+1 {
		t.Fatalf("committed offset %d, want %d", committed, last+1)
	}
	assertNoTaggedPlaintext(t, rawValues(t, broker, topic, len(want)), want)
}

// logWriter sends the proxy's log to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(b)))
	return len(b), nil
}
