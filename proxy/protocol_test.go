package proxy_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Clients learn only the proxy's addresses: Metadata, FindCoordinator and
// DescribeCluster name the proxy's per-broker listener, never the broker.
func TestProxyAdvertisesItsOwnAddresses(t *testing.T) {
	broker := brokerAddr(t)
	p := startProxy(t, nil)
	proxyAddr := p.Addr("apps").String()
	topic := createTopic(t, 1)
	cl := client(t, proxyAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	md.Topics = append(md.Topics, mt)
	mresp, err := md.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(mresp.Brokers) == 0 {
		t.Fatal("metadata lists no broker")
	}
	var nodeAddr string
	for _, b := range mresp.Brokers {
		a := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
		if a == broker {
			t.Fatalf("metadata leaks the broker address %s", a)
		}
		if b.Host != "127.0.0.1" {
			t.Fatalf("metadata host %q, want the proxy's advertised 127.0.0.1", b.Host)
		}
		nodeAddr = a
	}

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKeys = []string{"g-" + topic}
	fc.CoordinatorKey = "g-" + topic
	var fresp *kmsg.FindCoordinatorResponse
	for {
		// The first group coordinator lookup on a fresh broker answers
		// COORDINATOR_NOT_AVAILABLE (15) while __consumer_offsets is made.
		var err error
		if fresp, err = fc.RequestWith(ctx, cl); err != nil {
			t.Fatal(err)
		}
		if len(fresp.Coordinators) == 0 || fresp.Coordinators[0].ErrorCode != 15 || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var coord string
	if len(fresp.Coordinators) > 0 {
		c := fresp.Coordinators[0]
		if c.ErrorCode != 0 {
			t.Fatalf("find coordinator: error %d", c.ErrorCode)
		}
		coord = net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))
	} else {
		coord = net.JoinHostPort(fresp.Host, strconv.Itoa(int(fresp.Port)))
	}
	if coord != nodeAddr {
		t.Fatalf("coordinator at %s, want the proxy's broker listener %s", coord, nodeAddr)
	}

	dc := kmsg.NewPtrDescribeClusterRequest()
	dresp, err := dc.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range dresp.Brokers {
		if a := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))); a != nodeAddr {
			t.Fatalf("describe cluster names %s, want %s", a, nodeAddr)
		}
	}

	// ApiVersions: Produce and Fetch stop at v12 (topic names), share
	// groups are hidden.
	av := kmsg.NewPtrApiVersionsRequest()
	av.ClientSoftwareName, av.ClientSoftwareVersion = "tagseal-test", "1"
	aresp, err := av.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int16]int16{}
	for _, k := range aresp.ApiKeys {
		seen[k.ApiKey] = k.MaxVersion
	}
	if seen[0] != 12 || seen[1] != 12 {
		t.Fatalf("produce max v%d, fetch max v%d; want 12 and 12", seen[0], seen[1])
	}
	if _, ok := seen[78]; ok {
		t.Fatal("ShareFetch is advertised")
	}
}

// franz-go produces and consumes through the proxy with every codec.
func TestProxyFranzCodecsPassthrough(t *testing.T) {
	p := startProxy(t, nil)
	addr := p.Addr("apps").String()
	codecs := map[string]kgo.CompressionCodec{"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression()}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			topic := createTopic(t, 2)
			prod := client(t, addr, kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic(topic))
			var want []string
			for i := 0; i < 50; i++ {
				want = append(want, fmt.Sprintf("record-%s-%d", name, i))
			}
			var rs []*kgo.Record
			for _, v := range want {
				rs = append(rs, &kgo.Record{Value: []byte(v)})
			}
			if err := prod.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			cons := client(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			got := map[string]bool{}
			for _, r := range consume(t, cons, len(want)) {
				got[string(r.Value)] = true
			}
			for _, v := range want {
				if !got[v] {
					t.Fatalf("record %q not consumed", v)
				}
			}
		})
	}
}
