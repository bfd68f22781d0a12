package proxy_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagseal/tagseal/proxy"
)

// ownBroker is a Kafka broker of this test alone (the shared test broker
// must not be restarted), from the same installation as the test broker.
type ownBroker struct {
	t     testing.TB
	props string
	addr  string
	cmd   *exec.Cmd
	log   *os.File
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startOwnBroker(t testing.TB) *ownBroker {
	t.Helper()
	tools := os.Getenv("TAGSEAL_TOOLS")
	if tools == "" {
		tools = filepath.Join("..", ".tools")
	}
	libs := filepath.Join(tools, "kafka", "libs")
	if _, err := os.Stat(filepath.Join(libs, ".complete")); err != nil {
		t.Skipf("no Kafka installation in %s: run scripts/tools.sh (make test does)", libs)
	}
	dir := t.TempDir()
	port, cport := freePort(t), freePort(t)
	props := filepath.Join(dir, "server.properties")
	os.WriteFile(props, []byte(fmt.Sprintf(`process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:%[2]d
listeners=PLAINTEXT://127.0.0.1:%[1]d,CONTROLLER://127.0.0.1:%[2]d
advertised.listeners=PLAINTEXT://127.0.0.1:%[1]d
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=%[3]s
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
`, port, cport, filepath.Join(dir, "data"))), 0o600)
	id := make([]byte, 16)
	rand.Read(id)
	id[0] &= 0x7f
	format := exec.Command("java", "-cp", filepath.Join(libs, "*"), "kafka.tools.StorageTool", "format", "-t", base64.RawURLEncoding.EncodeToString(id), "-c", props)
	if out, err := format.CombinedOutput(); err != nil {
		t.Fatalf("format the broker's storage: %v\n%s", err, out)
	}
	b := &ownBroker{t: t, props: props, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	b.log, _ = os.Create(filepath.Join(dir, "kafka.log"))
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *ownBroker) start() {
	b.t.Helper()
	tools := os.Getenv("TAGSEAL_TOOLS")
	if tools == "" {
		tools = filepath.Join("..", ".tools")
	}
	b.cmd = exec.Command("java", "-Xms128m", "-Xmx384m", "-cp", filepath.Join(tools, "kafka", "libs", "*"), "kafka.Kafka", b.props)
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", b.addr, time.Second); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the test's own broker did not open %s", b.addr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (b *ownBroker) stop() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.cmd.Process.Kill()
		<-done
	}
	b.cmd = nil
}

// The broker restarts while an idempotent producer writes through the
// proxy: the proxy drops the connections of the broker that went away,
// clients reconnect through it, and every record arrives once, sealed.
func TestProxyBrokerRestart(t *testing.T) {
	brokerAddr(t) // only with the real services of make test
	b := startOwnBroker(t)
	e := newEnv(t, func(proxy.Peer, string) bool { return true })
	p, err := proxy.New(proxy.Options{Upstream: proxy.Upstream{Bootstrap: []string{b.addr}},
		Listeners: []proxy.Listener{{Name: "apps", Address: "127.0.0.1:0"}}, Rewriter: e.rw})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	addr := p.Addr("apps").String()
	const topic = "restart"
	id := e.register(t, topic)
	cl := client(t, addr, kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(), kgo.RecordDeliveryTimeout(2*time.Minute))

	const n = 400
	var acked atomic.Int64
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i += 10 {
			if err := produce(t, cl, topic, id, i, i+10); err != nil {
				done <- fmt.Errorf("records %d..%d: %w", i, i+10, err)
				return
			}
			acked.Add(10)
			time.Sleep(20 * time.Millisecond)
		}
		done <- nil
	}()
	for acked.Load() < 100 {
		time.Sleep(50 * time.Millisecond)
	}
	b.stop()
	b.start()
	if err := <-done; err != nil {
		t.Fatalf("produce across the restart: %v", err)
	}
	if acked.Load() != n {
		t.Fatalf("%d of %d records acknowledged", acked.Load(), n)
	}
	rs := readAll(t, addr, topic, n)
	seen := map[int]bool{}
	for _, r := range rs {
		seen[unframe(t, r.Value).ID] = true
	}
	assertClear(t, rs, topic)
	if len(rs) != n || len(seen) != n {
		t.Fatalf("read %d records, %d distinct; want %d once each", len(rs), len(seen), n)
	}
	assertSealed(t, readAll(t, b.addr, topic, n), topic)
}
