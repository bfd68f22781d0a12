package proxy_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tagseal/tagseal/proxy"
)

// Helpers for the tests that run against the real broker of `make test`
// (scripts/with-services.sh exports TAGSEAL_KAFKA_BOOTSTRAP).

func brokerAddr(t testing.TB) string {
	t.Helper()
	b := os.Getenv("TAGSEAL_KAFKA_BOOTSTRAP")
	if b == "" {
		t.Skip("TAGSEAL_KAFKA_BOOTSTRAP not set: run through scripts/with-services.sh (make test) for the Kafka broker")
	}
	return b
}

// startProxy starts a proxy in front of the test broker with the given
// listeners (default: one plaintext listener "apps") and rewriter.
func startProxy(t testing.TB, rw proxy.RecordRewriter, listeners ...proxy.Listener) *proxy.Proxy {
	t.Helper()
	if len(listeners) == 0 {
		listeners = []proxy.Listener{{Name: "apps", Address: "127.0.0.1:0"}}
	}
	p, err := proxy.New(proxy.Options{
		Upstream:  proxy.Upstream{Bootstrap: []string{brokerAddr(t)}},
		Listeners: listeners,
		Rewriter:  rw,
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

var topicSeq atomic.Int64

// createTopic creates a topic with a unique name on the broker directly.
func createTopic(t testing.TB, partitions int32) string {
	t.Helper()
	name := fmt.Sprintf("proxy-%s-%d-%d", strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())), time.Now().UnixNano()%1e6, topicSeq.Add(1))
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	tp := kmsg.NewCreateTopicsRequestTopic()
	tp.Topic, tp.NumPartitions, tp.ReplicationFactor = name, partitions, 1
	req.Topics = append(req.Topics, tp)
	req.TimeoutMillis = 30000
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create topic %s: error %d", name, code)
	}
	// Wait until the broker serves every partition, so producers do not
	// meet UNKNOWN_TOPIC_OR_PARTITION while the topic propagates.
	for {
		md := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(name)
		md.Topics = append(md.Topics, mt)
		mresp, err := md.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		ready := len(mresp.Topics) == 1 && mresp.Topics[0].ErrorCode == 0 && len(mresp.Topics[0].Partitions) == int(partitions)
		for _, p := range mresp.Topics[0].Partitions {
			ready = ready && p.ErrorCode == 0 && p.Leader >= 0
		}
		if ready {
			return name
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s not served after creation", name)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// client returns a franz-go client bootstrapped at addr.
func client(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.WithLogger(kgo.BasicLogger(testWriter{t}, kgo.LogLevelWarn, nil))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// consume polls cl until it has n records or the deadline passes.
func consume(t testing.TB, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(out), n)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func portOf(t testing.TB, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
