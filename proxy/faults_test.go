package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/proxy"
	"github.com/tagseal/tagseal/registry"
)

// Tests of the proxy with the rewriter and the real broker, cgo-free:
// faults (registry down warm and cold, malformed requests, slow clients)
// and who may decrypt (listener, SASL principal).

const personSchema = `{"type":"object","title":"Person","properties":{
 "id":{"type":"integer"},
 "name":{"type":"string","confluent:tags":["PII"]},
 "email":{"type":"string","confluent:tags":["PII"]},
 "city":{"type":"string","confluent:tags":["PII"]}}}`

type person struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	City  string `json:"city"`
}

func personOf(topic string, i int) person {
	return person{ID: i, Name: fmt.Sprintf("Secret Name %d %s", i, topic), Email: fmt.Sprintf("p%d@%s.example", i, topic), City: fmt.Sprintf("Hidden City %d", i)}
}

// env is a registry.Memory and a rewriter on it.
type env struct {
	reg *registry.Memory
	rw  *proxy.Rewriter
}

func newEnv(t testing.TB, mayDecrypt func(proxy.Peer, string) bool) *env {
	t.Helper()
	reg := registry.NewMemory()
	rw, err := proxy.NewRewriter(proxy.RewriterConfig{Registry: reg, Keys: tagseal.Keys{RuleConfig: map[string]string{"secret": "proxy-test-secret"}}, MayDecrypt: mayDecrypt})
	if err != nil {
		t.Fatal(err)
	}
	return &env{reg: reg, rw: rw}
}

// register puts personSchema with an ENCRYPT rule under topic-value.
func (e *env) register(t testing.TB, topic string) int {
	t.Helper()
	s, err := e.reg.Register(context.Background(), topic+"-value", registry.Schema{Schema: personSchema, SchemaType: "JSON",
		RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{{Name: "pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT",
			Tags: []string{"PII"}, Params: map[string]string{"encrypt.kek.name": fmt.Sprintf("kek-%d", topicSeq.Add(1)), "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "test"}}}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

func frame(id int, v any) []byte {
	b := []byte{0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(id))
	j, _ := json.Marshal(v)
	return append(b, j...)
}

func unframe(t testing.TB, b []byte) person {
	t.Helper()
	var p person
	if len(b) < 5 || b[0] != 0 {
		t.Fatalf("record not framed: %q", b)
	}
	if err := json.Unmarshal(b[5:], &p); err != nil {
		t.Fatalf("record body %q: %v", b, err)
	}
	return p
}

func produce(t testing.TB, cl *kgo.Client, topic string, id int, from, to int) error {
	t.Helper()
	var rs []*kgo.Record
	for i := from; i < to; i++ {
		rs = append(rs, &kgo.Record{Topic: topic, Value: frame(id, personOf(topic, i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, rs...).FirstErr()
}

func assertClear(t testing.TB, rs []*kgo.Record, topic string) {
	t.Helper()
	for _, r := range rs {
		p := unframe(t, r.Value)
		if p != personOf(topic, p.ID) {
			t.Fatalf("record %d read back as %+v", p.ID, p)
		}
	}
}

func assertSealed(t testing.TB, rs []*kgo.Record, topic string) {
	t.Helper()
	for _, r := range rs {
		p := unframe(t, r.Value)
		want := personOf(topic, p.ID)
		for _, v := range []string{want.Name, want.Email, want.City} {
			if bytes.Contains(r.Value, []byte(v)) {
				t.Fatalf("tagged value in clear: %q", r.Value)
			}
		}
	}
}

func readAll(t testing.TB, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	return consume(t, client(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), n)
}

// endOffset asks the broker directly for a partition's end offset.
func endOffset(t testing.TB, topic string) int64 {
	t.Helper()
	cl := client(t, brokerAddr(t))
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = 0, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].Offset
}

// After warm-up the registry (and DEK registry) may go down: cached keys
// keep produce and fetch working. A topic that was never used fails
// closed: the produce fails and nothing reaches the broker.
func TestProxyRegistryDown(t *testing.T) {
	e := newEnv(t, func(proxy.Peer, string) bool { return true })
	p := startProxy(t, e.rw)
	addr := p.Addr("apps").String()
	warm, cold := createTopic(t, 1), createTopic(t, 1)
	warmID, coldID := e.register(t, warm), e.register(t, cold)
	cl := client(t, addr)
	if err := produce(t, cl, warm, warmID, 0, 5); err != nil {
		t.Fatal(err)
	}
	assertClear(t, readAll(t, addr, warm, 5), warm)

	e.reg.FailWith(503)
	defer e.reg.FailWith(0)
	if err := produce(t, cl, warm, warmID, 5, 10); err != nil {
		t.Fatalf("warm produce with the registry down: %v", err)
	}
	rs := readAll(t, addr, warm, 10)
	assertClear(t, rs, warm)
	assertSealed(t, readAll(t, brokerAddr(t), warm, 10), warm)

	// The refusal is retriable (REQUEST_TIMED_OUT): an idempotent producer
	// retries until the registry is back; this one gives up.
	impatient := client(t, addr, kgo.DisableIdempotentWrite(), kgo.RecordRetries(2), kgo.RecordDeliveryTimeout(5*time.Second))
	err := produce(t, impatient, cold, coldID, 0, 3)
	if err == nil {
		t.Fatal("cold produce with the registry down succeeded")
	}
	if n := endOffset(t, cold); n != 0 {
		t.Fatalf("the broker holds %d records of the cold topic", n)
	}
	e.reg.FailWith(0)
	if err := produce(t, cl, cold, coldID, 0, 3); err != nil {
		t.Fatalf("cold produce once the registry is back: %v", err)
	}
	assertSealed(t, readAll(t, brokerAddr(t), cold, 3), cold)
}

// rawConn is a hand-driven client connection.
type rawConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{c: c, r: bufio.NewReader(c)}
}

func (rc *rawConn) send(t testing.TB, req kmsg.Request, corr int32) {
	t.Helper()
	if _, err := rc.c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, corr)); err != nil {
		t.Fatal(err)
	}
}

// recv reads one response frame and returns its correlation id and body.
func (rc *rawConn) recv() (int32, []byte, error) {
	rc.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(rc.r, size[:]); err != nil {
		return 0, nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(rc.r, b); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(b)), b[4:], nil
}

// A malformed batch gets its partition an error on that connection only;
// a request the proxy cannot parse closes that connection only. The proxy
// and other clients go on.
func TestProxyMalformedBatch(t *testing.T) {
	e := newEnv(t, nil)
	p := startProxy(t, e.rw)
	addr := p.Addr("apps").String()
	topic := createTopic(t, 1)
	id := e.register(t, topic)
	good := client(t, addr)
	if err := produce(t, good, topic, id, 0, 3); err != nil {
		t.Fatal(err)
	}

	rc := dialRaw(t, addr)
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = append(make([]byte, 12), bytes.Repeat([]byte{0xff}, 80)...) // base offset 0, length 0xffffffff…
	binary.BigEndian.PutUint32(rp.Records[8:], 80)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	rc.send(t, req, 7)
	corr, body, err := rc.recv()
	if err != nil {
		t.Fatalf("no answer to a malformed batch: %v", err)
	}
	resp := kmsg.NewPtrProduceResponse()
	resp.SetVersion(9)
	if corr != 7 {
		t.Fatalf("correlation id %d, want 7", corr)
	}
	if err := resp.ReadFrom(body[1:]); err != nil { // v9 response header has tagged fields
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code == 0 {
		t.Fatal("a malformed batch was accepted")
	}
	// The same connection still serves requests.
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(9)
	rc.send(t, md, 8)
	if corr, _, err := rc.recv(); err != nil || corr != 8 {
		t.Fatalf("after the refused batch: corr %d, %v", corr, err)
	}

	// A produce request that is not one closes that connection.
	bad := dialRaw(t, addr)
	frame := []byte{0, 0, 0, 14, 0, 0, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0, 0xde, 0xad, 0xbe}
	if _, err := bad.c.Write(frame); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bad.recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("a garbage produce request: %v, want the connection closed", err)
	}

	if err := produce(t, good, topic, id, 3, 6); err != nil {
		t.Fatalf("another client after the faults: %v", err)
	}
	rs := readAll(t, addr, topic, 6)
	if len(rs) != 6 {
		t.Fatalf("read %d records, want 6", len(rs))
	}
}

// A client that sends requests and does not read its responses stalls
// its own connection only; once it reads, it gets every response in order.
func TestProxySlowClient(t *testing.T) {
	p := startProxy(t, nil)
	addr := p.Addr("apps").String()
	slow := dialRaw(t, addr)
	const n = 3000
	go func() {
		for i := int32(0); i < n; i++ {
			req := kmsg.NewPtrApiVersionsRequest()
			req.SetVersion(3)
			req.ClientSoftwareName, req.ClientSoftwareVersion = "slow", "1"
			if _, err := slow.c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, i)); err != nil {
				return
			}
		}
	}()
	time.Sleep(500 * time.Millisecond) // the slow client's buffers fill

	topic := createTopic(t, 1)
	cl := client(t, addr, kgo.DefaultProduceTopic(topic))
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("fast")}).FirstErr(); err != nil {
		t.Fatalf("a fast client beside a slow one: %v", err)
	}
	if rs := readAll(t, addr, topic, 1); string(rs[0].Value) != "fast" {
		t.Fatalf("read %q", rs[0].Value)
	}
	for i := int32(0); i < n; i++ {
		corr, _, err := slow.recv()
		if err != nil {
			t.Fatalf("slow client response %d: %v", i, err)
		}
		if corr != i {
			t.Fatalf("slow client response %d has correlation id %d", i, corr)
		}
	}
}

// Decryption follows the grants: a SASL/PLAIN principal granted the KEK
// reads plaintext, another principal on the same listener reads the
// ciphertext as stored, a wrong password is refused.
func TestProxySASLPrincipalGrants(t *testing.T) {
	conf := &proxy.Config{
		Listeners: []proxy.ListenerConfig{{Name: "sasl"}},
		Grants:    []proxy.GrantConfig{{Principal: "alice", Decrypt: []string{"*"}}},
	}
	e := newEnv(t, conf.MayDecrypt)
	p := startProxy(t, e.rw, proxy.Listener{Name: "sasl", Address: "127.0.0.1:0", Users: map[string]string{"alice": "alice-pw", "bob": "bob-pw"}})
	addr := p.Addr("sasl").String()
	topic := createTopic(t, 1)
	id := e.register(t, topic)
	alice := client(t, addr, kgo.SASL(plain.Auth{User: "alice", Pass: "alice-pw"}.AsMechanism()))
	if err := produce(t, alice, topic, id, 0, 5); err != nil {
		t.Fatal(err)
	}
	assertClear(t, consume(t, client(t, addr, kgo.SASL(plain.Auth{User: "alice", Pass: "alice-pw"}.AsMechanism()),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), 5), topic)
	assertSealed(t, consume(t, client(t, addr, kgo.SASL(plain.Auth{User: "bob", Pass: "bob-pw"}.AsMechanism()),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), 5), topic)

	mallory := client(t, addr, kgo.SASL(plain.Auth{User: "alice", Pass: "wrong"}.AsMechanism()), kgo.RequestRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := mallory.Ping(ctx); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	// Without SASL nothing but ApiVersions is served.
	anon := client(t, addr, kgo.RequestRetries(0))
	if err := anon.Ping(ctx); err == nil {
		t.Fatal("an unauthenticated client was served")
	}
}
