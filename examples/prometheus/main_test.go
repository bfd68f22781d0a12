package main

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// 1000 records at a usage limit of 300: four DEK versions (one first,
// three at the limit), 1000 encryptions of which the retired versions'
// 900 are reported, one wrap per version, and a cache hit per record
// after the first.
func TestMetrics(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	if err := run(context.Background(), m, 1000); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.dekCreated.WithLabelValues("payments-kek", "payments-value", "usage-limit")); got != 3 {
		t.Errorf("versions created at the limit: %v, want 3", got)
	}
	if got := testutil.ToFloat64(m.dekCreated.WithLabelValues("payments-kek", "payments-value", "first")); got != 1 {
		t.Errorf("first versions: %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.encryptions.WithLabelValues("payments-kek", "payments-value", "AES256_GCM")); got != 900 {
		t.Errorf("encryptions reported: %v, want 900 (three retired versions of 300)", got)
	}
	if got := testutil.ToFloat64(m.kmsCalls.WithLabelValues("wrap", "local-kms", "payments-kek", "ok")); got != 4 {
		t.Errorf("wraps: %v, want 4", got)
	}
	if got := testutil.ToFloat64(m.dekLookups.WithLabelValues("write", "hit")); got < 999 {
		t.Errorf("write cache hits: %v", got)
	}
	if got := testutil.ToFloat64(m.registryCalls.WithLabelValues("CreateDEK", "ok")); got != 4 {
		t.Errorf("CreateDEK calls: %v, want 4", got)
	}
}
