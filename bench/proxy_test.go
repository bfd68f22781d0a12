package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/proxy"
	"github.com/tagseal/tagseal/registry"
)

// BenchmarkProxyThroughput measures records/s with the real broker of
// `make bench-proxy` (scripts/with-services.sh), in one run: franz-go
// producing to and fetching from the broker directly, through tagseal
// proxy on a topic without rules, and through the proxy on a topic whose
// schema encrypts three tagged fields (the consumer's listener may
// decrypt them), JSON Schema and Avro. It reports records/s per path and
// the ratios to direct.
// Each iteration moves proxyRecords records per path.
func BenchmarkProxyThroughput(b *testing.B) {
	broker := os.Getenv("TAGSEAL_KAFKA_BOOTSTRAP")
	if broker == "" {
		b.Skip("TAGSEAL_KAFKA_BOOTSTRAP not set: run through scripts/with-services.sh (make bench-proxy) for the Kafka broker")
	}
	reg := registry.NewMemory()
	rw, err := proxy.NewRewriter(proxy.RewriterConfig{Registry: reg, Keys: tagseal.Keys{RuleConfig: ruleConfig},
		MayDecrypt: func(proxy.Peer, string) bool { return true }})
	if err != nil {
		b.Fatal(err)
	}
	p, err := proxy.New(proxy.Options{Upstream: proxy.Upstream{Bootstrap: []string{broker}},
		Listeners: []proxy.Listener{{Name: "bench", Address: "127.0.0.1:0"}}, Rewriter: rw,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	via := p.Addr("bench").String()

	paths := []struct {
		name    string
		addr    string
		encrypt string // schema type whose three tagged fields are encrypted; "": no rules
	}{{"direct", broker, ""}, {"proxy", via, ""}, {"proxy-encrypt", via, "JSON"}, {"proxy-encrypt-avro", via, "AVRO"}}
	var produceTime, fetchTime [4]time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for pi, path := range paths {
			b.StopTimer()
			topic := benchTopic(b, broker, fmt.Sprintf("%s-%d", path.name, i))
			id := 1
			if path.encrypt != "" {
				text := proxyPersonSchema
				if path.encrypt == "AVRO" {
					text = proxyPersonAvro
				}
				s, err := reg.Register(context.Background(), topic+"-value", registry.Schema{Schema: text, SchemaType: path.encrypt,
					RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{{Name: "pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT",
						Tags: []string{"PII"}, Params: map[string]string{"encrypt.kek.name": "bench-proxy", "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "bench"}}}}}, false)
				if err != nil {
					b.Fatal(err)
				}
				id = s.ID
			}
			values := proxyValues(id, path.encrypt == "AVRO")
			b.StartTimer()
			produceTime[pi] += proxyProduce(b, path.addr, topic, values)
			fetchTime[pi] += proxyFetch(b, path.addr, topic, len(values))
		}
	}
	b.StopTimer()
	rate := func(d time.Duration) float64 { return float64(b.N*proxyRecords) / d.Seconds() }
	for pi, path := range paths {
		b.ReportMetric(rate(produceTime[pi]), path.name+"-produce-rec/s")
		b.ReportMetric(rate(fetchTime[pi]), path.name+"-fetch-rec/s")
	}
	b.ReportMetric(rate(produceTime[1])/rate(produceTime[0]), "proxy/direct-produce")
	b.ReportMetric(rate(fetchTime[1])/rate(fetchTime[0]), "proxy/direct-fetch")
	b.ReportMetric(rate(produceTime[2])/rate(produceTime[0]), "encrypt/direct-produce")
	b.ReportMetric(rate(fetchTime[2])/rate(fetchTime[0]), "encrypt/direct-fetch")
	b.ReportMetric(rate(produceTime[3])/rate(produceTime[0]), "encrypt-avro/direct-produce")
	b.ReportMetric(rate(fetchTime[3])/rate(fetchTime[0]), "encrypt-avro/direct-fetch")
	b.ReportMetric(0, "ns/op")
}

const proxyRecords = 50000

const proxyPersonSchema = `{"type":"object","title":"Person","properties":{
 "id":{"type":"integer"},
 "name":{"type":"string","confluent:tags":["PII"]},
 "email":{"type":"string","confluent:tags":["PII"]},
 "city":{"type":"string","confluent:tags":["PII"]},
 "plan":{"type":"string"}}}`

const proxyPersonAvro = `{"type":"record","name":"Person","fields":[{"name":"id","type":"int"},
 {"name":"name","type":"string","confluent:tags":["PII"]},{"name":"email","type":"string","confluent:tags":["PII"]},
 {"name":"city","type":"string","confluent:tags":["PII"]},{"name":"plan","type":"string"}]}`

// proxyValues are framed records with three tagged fields: JSON (~150 B)
// or the same values in Avro binary (~70 B).
func proxyValues(id int, avroBinary bool) [][]byte {
	out := make([][]byte, proxyRecords)
	for i := range out {
		if avroBinary {
			b := []byte{0, 0, 0, 0, 0}
			binary.BigEndian.PutUint32(b[1:], uint32(id))
			b = binary.AppendVarint(b, int64(i))
			for _, s := range []string{fmt.Sprintf("Customer Name %d", i), fmt.Sprintf("customer%d@example.com", i), "Springfield", "gold"} {
				b = binary.AppendVarint(b, int64(len(s)))
				b = append(b, s...)
			}
			out[i] = b
			continue
		}
		v, _ := json.Marshal(map[string]any{"id": i, "name": fmt.Sprintf("Customer Name %d", i),
			"email": fmt.Sprintf("customer%d@example.com", i), "city": "Springfield", "plan": "gold"})
		b := []byte{0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[1:], uint32(id))
		out[i] = append(b, v...)
	}
	return out
}

var proxyTopicSeq atomic.Int64

func benchTopic(b *testing.B, broker, name string) string {
	topic := fmt.Sprintf("bench-proxy-%s-%d-%d", name, time.Now().UnixNano()%1e6, proxyTopicSeq.Add(1))
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = topic, 3, 1
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		b.Fatalf("create topic: %v %+v", err, resp)
	}
	return topic
}

// proxyProduce produces every value and waits for all acknowledgements.
func proxyProduce(b *testing.B, addr, topic string, values [][]byte) time.Duration {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond),
		// Encryption roughly doubles these records and ciphertext does not
		// compress: a full 1 MB batch would exceed the broker's
		// max.message.bytes once sealed (see README, tagseal proxy).
		kgo.ProducerBatchMaxBytes(256<<10))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	// Connect and learn metadata before the clock runs.
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: values[0]}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var failed atomic.Value
	for _, v := range values[1:] {
		cl.Produce(context.Background(), &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Store(err)
			}
		})
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("produce to %s: %v", topic, err)
	}
	return time.Since(start)
}

// proxyFetch consumes n records from the start.
func proxyFetch(b *testing.B, addr, topic string, n int) time.Duration {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			b.Fatalf("fetched %d of %d", got, n)
		}
		fs.EachError(func(_ string, _ int32, err error) { b.Fatal(err) })
		got += fs.NumRecords()
	}
	return time.Since(start)
}
