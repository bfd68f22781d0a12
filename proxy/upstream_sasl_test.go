package proxy_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/tagseal/tagseal/proxy"
)

// The proxy authenticates to the broker's SASL_PLAINTEXT listener as
// itself (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; scripts/with-services.sh
// creates the user), while its clients connect without SASL.
func TestProxyUpstreamSASL(t *testing.T) {
	brokerAddr(t)
	upstream := os.Getenv("TAGSEAL_KAFKA_SASL_BOOTSTRAP")
	if upstream == "" {
		t.Skip("TAGSEAL_KAFKA_SASL_BOOTSTRAP not set: run through scripts/with-services.sh (make test) for the broker's SASL listener")
	}
	for name, mech := range map[string]sasl.Mechanism{
		"PLAIN":         plain.Auth{User: "tagseal", Pass: "tagseal-secret"}.AsMechanism(),
		"SCRAM-SHA-256": scram.Auth{User: "tagseal", Pass: "tagseal-secret"}.AsSha256Mechanism(),
		"SCRAM-SHA-512": scram.Auth{User: "tagseal", Pass: "tagseal-secret"}.AsSha512Mechanism(),
		"wrong":         scram.Auth{User: "tagseal", Pass: "wrong"}.AsSha256Mechanism(),
	} {
		t.Run(name, func(t *testing.T) {
			p, err := proxy.New(proxy.Options{Upstream: proxy.Upstream{Bootstrap: []string{upstream}, SASL: mech},
				Listeners: []proxy.Listener{{Name: "apps", Address: "127.0.0.1:0"}},
				Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Start(); err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			addr := p.Addr("apps").String()
			if name == "wrong" {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := client(t, addr, kgo.RequestRetries(0)).Ping(ctx); err == nil {
					t.Fatal("served with a wrong upstream password")
				}
				return
			}
			topic := createTopic(t, 1)
			if err := client(t, addr, kgo.DefaultProduceTopic(topic)).ProduceSync(context.Background(), &kgo.Record{Value: []byte(name)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			if rs := readAll(t, addr, topic, 1); string(rs[0].Value) != name {
				t.Fatalf("read %q", rs[0].Value)
			}
		})
	}
}
