// Command prometheus shows a tagseal Observer feeding Prometheus metrics:
// KMS and registry calls with their latency, DEK cache hits and misses,
// DEK versions created and values encrypted per KEK and subject. It
// writes records through a serializer whose rule rotates its DEK every
// 300 encryptions (encrypt.dek.max.encryptions) and prints the metrics in
// the Prometheus text format; with -listen it serves them on /metrics.
//
// Only this example imports client_golang: tagseal's Observer is a set of
// small interfaces, so any metrics library fits behind it.
//
//	go run ./examples/prometheus
//	go run ./examples/prometheus -listen :2112
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/registry"
)

// Metrics is a tagseal.Observer that records into Prometheus collectors.
// It implements every hook interface.
type Metrics struct {
	kmsCalls      *prometheus.CounterVec
	kmsLatency    *prometheus.HistogramVec
	registryCalls *prometheus.CounterVec
	registryTime  *prometheus.HistogramVec
	dekLookups    *prometheus.CounterVec
	dekCreated    *prometheus.CounterVec
	encryptions   *prometheus.CounterVec
}

// NewMetrics registers tagseal's collectors with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		kmsCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tagseal_kms_calls_total",
			Help: "KMS calls by operation (aead, wrap, unwrap), KMS type, KEK and result."}, []string{"op", "kms_type", "kek", "result"}),
		kmsLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tagseal_kms_call_duration_seconds",
			Help: "KMS call latency.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9)}, []string{"op", "kms_type"}),
		registryCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tagseal_registry_calls_total",
			Help: "Schema and DEK Registry calls by operation and result."}, []string{"op", "result"}),
		registryTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tagseal_registry_call_duration_seconds",
			Help: "Registry call latency.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9)}, []string{"op"}),
		dekLookups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tagseal_dek_cache_lookups_total",
			Help: "DEK lookups by direction (write, read) and result (hit, miss)."}, []string{"direction", "result"}),
		dekCreated: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tagseal_dek_versions_created_total",
			Help: "DEK versions registered, by KEK, subject and reason (first, expired, usage-limit)."}, []string{"kek", "subject", "reason"}),
		encryptions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tagseal_encryptions_total",
			Help: "Values encrypted, by KEK, subject and DEK algorithm (reported in batches)."}, []string{"kek", "subject", "algorithm"}),
	}
	reg.MustRegister(m.kmsCalls, m.kmsLatency, m.registryCalls, m.registryTime, m.dekLookups, m.dekCreated, m.encryptions)
	return m
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// OnKMSCall implements tagseal.KMSCallHook.
func (m *Metrics) OnKMSCall(c tagseal.KMSCall) {
	m.kmsCalls.WithLabelValues(c.Op, c.KMSType, c.KEK, result(c.Err)).Inc()
	m.kmsLatency.WithLabelValues(c.Op, c.KMSType).Observe(c.Duration.Seconds())
}

// OnRegistryCall implements tagseal.RegistryCallHook. A not-found answer
// is part of get-or-create, so it counts as "not_found", not "error".
func (m *Metrics) OnRegistryCall(c tagseal.RegistryCall) {
	r := result(c.Err)
	if errors.Is(c.Err, registry.ErrNotFound) {
		r = "not_found"
	}
	m.registryCalls.WithLabelValues(c.Op, r).Inc()
	m.registryTime.WithLabelValues(c.Op).Observe(c.Duration.Seconds())
}

// OnDEKCache implements tagseal.DEKCacheHook.
func (m *Metrics) OnDEKCache(l tagseal.DEKCacheLookup) {
	direction, r := "read", "miss"
	if l.Write {
		direction = "write"
	}
	if l.Hit {
		r = "hit"
	}
	m.dekLookups.WithLabelValues(direction, r).Inc()
}

// OnDEKCreated implements tagseal.DEKCreatedHook.
func (m *Metrics) OnDEKCreated(c tagseal.DEKCreated) {
	m.dekCreated.WithLabelValues(c.KEK, c.Subject, c.Reason).Inc()
}

// OnEncryptions implements tagseal.EncryptionsHook.
func (m *Metrics) OnEncryptions(e tagseal.Encryptions) {
	m.encryptions.WithLabelValues(e.KEK, e.Subject, e.Algorithm).Add(float64(e.Count))
}

// run writes records through a rotating serializer observed by m.
func run(ctx context.Context, m *Metrics, records int) error {
	reg := registry.NewMemory()
	if _, err := reg.Register(ctx, "payments-value", registry.Schema{
		Schema: `{"type":"record","name":"Payment","fields":[
			{"name":"id","type":"long"},
			{"name":"iban","type":"string","confluent:tags":["PII"]}]}`,
		RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{{
			Name: "encrypt-pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"},
			Params: map[string]string{
				tagseal.ParamKEKName: "payments-kek", tagseal.ParamKMSType: "local-kms", tagseal.ParamKMSKeyID: "payments",
				tagseal.ParamDEKExpiryDays: "30", tagseal.ParamDEKMaxEncryptions: "300",
			},
		}}},
	}, false); err != nil {
		return err
	}
	ser, err := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true,
		Keys: tagseal.Keys{RuleConfig: map[string]string{"secret": "example-secret"}, Observer: m}})
	if err != nil {
		return err
	}
	type Payment struct {
		ID   int64  `avro:"id"`
		IBAN string `avro:"iban"`
	}
	for i := range records {
		if _, err := ser.Serialize(ctx, "payments", &Payment{ID: int64(i), IBAN: "DE89370400440532013000"}); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	listen := flag.String("listen", "", "serve /metrics on this address after the run")
	records := flag.Int("records", 1000, "records to write")
	flag.Parse()
	promReg := prometheus.NewRegistry()
	m := NewMetrics(promReg)
	if err := run(context.Background(), m, *records); err != nil {
		log.Fatal(err)
	}
	if *listen != "" {
		http.Handle("/metrics", promhttp.HandlerFor(promReg, promhttp.HandlerOpts{}))
		log.Fatal(http.ListenAndServe(*listen, nil))
	}
	families, err := promReg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range families {
		if _, err := expfmt.MetricFamilyToText(os.Stdout, f); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println()
}
