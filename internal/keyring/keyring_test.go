package keyring

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tagseal/tagseal/registry"
	"github.com/tagseal/tagseal/tags"
)

// fakeClock is a clock the tests move by hand.
type fakeClock struct{ t atomic.Int64 }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.t.Store(time.Now().UnixNano())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.t.Add(int64(d)) }

// countingDEKs counts the DEK Registry calls the keyring makes.
type countingDEKs struct {
	registry.DEKRegistry
	keks, deks, creates atomic.Int64
}

func (c *countingDEKs) KEK(ctx context.Context, name string, includeDeleted bool) (registry.KEK, error) {
	c.keks.Add(1)
	return c.DEKRegistry.KEK(ctx, name, includeDeleted)
}

func (c *countingDEKs) DEK(ctx context.Context, kek, subject, algorithm string, version int, includeDeleted bool) (registry.DEK, error) {
	c.deks.Add(1)
	return c.DEKRegistry.DEK(ctx, kek, subject, algorithm, version, includeDeleted)
}

func (c *countingDEKs) CreateDEK(ctx context.Context, kek string, d registry.DEK) (registry.DEK, error) {
	c.creates.Add(1)
	return c.DEKRegistry.CreateDEK(ctx, kek, d)
}

func rule(t *testing.T, params map[string]string) *Rule {
	t.Helper()
	p := map[string]string{ParamKEKName: "kek", ParamKMSType: "local-kms", ParamKMSKeyID: "key"}
	for k, v := range params {
		p[k] = v
	}
	rs := tags.FromSchema(&registry.Schema{RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{{
		Name: "r", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"}, Params: p}}}})
	return ParseRule(&rs.Field[0])
}

func setupMem(t *testing.T) (*registry.Memory, *fakeClock) {
	t.Helper()
	return registry.NewMemory(), newClock()
}

func setup(t *testing.T, ttl time.Duration, readDeleted bool) (*Keyring, *registry.Memory, *countingDEKs, *fakeClock) {
	t.Helper()
	mem := registry.NewMemory()
	counting := &countingDEKs{DEKRegistry: mem}
	clock := newClock()
	k := New(counting, Config{RuleConfig: map[string]string{"secret": "keyring-test"}, TTL: ttl, ReadDeleted: readDeleted, Clock: clock.now})
	return k, mem, counting, clock
}

func roundTrip(t *testing.T, k *Keyring, rk *Rule, subject string) {
	t.Helper()
	ctx := context.Background()
	w, err := k.WriteDEK(ctx, rk, subject)
	if err != nil {
		t.Fatal(err)
	}
	stored, _, err := Seal(w, rk, true, []byte("secret value"), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ct, version, _, err := ParseStored(rk, true, stored, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := k.ReadDEK(ctx, rk, subject, version)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := Open(r, ct, nil, nil)
	if err != nil || string(pt) != "secret value" {
		t.Fatalf("open: %q, %v", pt, err)
	}
}

// The first write creates the KEK and DEK; afterwards the hot path makes
// no registry call until the TTL ends, and then one reload.
func TestCacheAndTTL(t *testing.T) {
	k, _, calls, clock := setup(t, time.Minute, false)
	rk := rule(t, nil)
	roundTrip(t, k, rk, "s-value")
	if calls.creates.Load() != 1 {
		t.Fatalf("%d DEKs created, want 1", calls.creates.Load())
	}
	before := calls.deks.Load() + calls.keks.Load()
	for i := 0; i < 100; i++ {
		roundTrip(t, k, rk, "s-value")
	}
	if after := calls.deks.Load() + calls.keks.Load(); after != before {
		t.Fatalf("warm keyring made %d registry calls", after-before)
	}
	clock.advance(2 * time.Minute)
	roundTrip(t, k, rk, "s-value")
	if calls.deks.Load()+calls.keks.Load() == before {
		t.Fatal("no reload after the TTL ended")
	}
	if calls.creates.Load() != 1 {
		t.Fatalf("a reload created a DEK (%d creates)", calls.creates.Load())
	}
}

// A rotating rule creates the next DEK version once the latest is older
// than its expiry; ciphertexts of the old version stay readable.
func TestRotation(t *testing.T) {
	k, _, _, clock := setup(t, time.Minute, false)
	rk := rule(t, map[string]string{ParamDEKExpiryDays: "1"})
	ctx := context.Background()
	w1, err := k.WriteDEK(ctx, rk, "s-value")
	if err != nil {
		t.Fatal(err)
	}
	old, _, err := Seal(w1, rk, false, []byte("old"), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock.advance(25 * time.Hour)
	w2, err := k.WriteDEK(ctx, rk, "s-value")
	if err != nil {
		t.Fatal(err)
	}
	if w1.version != 1 || w2.version != 2 {
		t.Fatalf("versions %d then %d, want 1 then 2", w1.version, w2.version)
	}
	ct, version, _, err := ParseStored(rk, false, old, nil)
	if err != nil || version != 1 {
		t.Fatalf("old ciphertext names version %d: %v", version, err)
	}
	r, err := k.ReadDEK(ctx, rk, "s-value", version)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := Open(r, ct, nil, nil); err != nil || string(pt) != "old" {
		t.Fatalf("old version: %q, %v", pt, err)
	}
}

// After warm-up a registry outage does not stop traffic: the cached DEK
// stays in service past its TTL. A cold keyring fails closed.
func TestStaleOnOutageAndColdStartFailsClosed(t *testing.T) {
	k, mem, _, clock := setup(t, time.Minute, false)
	rk := rule(t, nil)
	roundTrip(t, k, rk, "s-value")
	mem.FailWith(http.StatusServiceUnavailable)
	clock.advance(5 * time.Minute)
	roundTrip(t, k, rk, "s-value")

	cold := New(mem, Config{RuleConfig: map[string]string{"secret": "keyring-test"}, Clock: clock.now})
	if _, err := cold.WriteDEK(context.Background(), rk, "s-value"); !errors.Is(err, ErrRegistry) {
		t.Fatalf("cold write during an outage: %v, want ErrRegistry", err)
	}
	if _, err := cold.ReadDEK(context.Background(), rk, "s-value", 0); err == nil {
		t.Fatal("cold read during an outage succeeded")
	}
}

// A soft-deleted DEK is shredded for readers once their cache ends,
// unless ReadDeleted; a permanently deleted one in any case.
func TestShredding(t *testing.T) {
	for _, readDeleted := range []bool{false, true} {
		k, mem, _, clock := setup(t, time.Minute, readDeleted)
		rk := rule(t, nil)
		roundTrip(t, k, rk, "s-value")
		if err := mem.DeleteDEK(context.Background(), "kek", "s-value", AES256GCM, 0, false); err != nil {
			t.Fatal(err)
		}
		clock.advance(2 * time.Minute)
		_, err := k.ReadDEK(context.Background(), rk, "s-value", 0)
		if readDeleted && err != nil {
			t.Fatalf("ReadDeleted: %v", err)
		}
		if !readDeleted && !errors.Is(err, ErrKeyShredded) {
			t.Fatalf("soft-deleted DEK: %v, want ErrKeyShredded", err)
		}
	}
}

// Concurrent misses for one DEK collapse into one registry load.
func TestSingleFlight(t *testing.T) {
	k, _, calls, _ := setup(t, time.Minute, false)
	rk := rule(t, nil)
	if _, err := k.WriteDEK(context.Background(), rk, "s-value"); err != nil {
		t.Fatal(err)
	}
	reader := New(calls, Config{RuleConfig: map[string]string{"secret": "keyring-test"}})
	before := calls.deks.Load()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := reader.ReadDEK(context.Background(), rule(t, nil), "s-value", 0); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	// Each goroutine has its own *Rule (no shared hot pointer): only the
	// keyring's single-flight can collapse the loads.
	if n := calls.deks.Load() - before; n > 2 {
		t.Fatalf("16 concurrent cold reads made %d DEK loads", n)
	}
}

func TestParseRuleErrors(t *testing.T) {
	for name, params := range map[string]map[string]string{
		"algorithm": {ParamDEKAlgorithm: "AES512"},
		"expiry":    {ParamDEKExpiryDays: "soon"},
		"kek":       {ParamKEKName: ""},
	} {
		if err := rule(t, params).Err(); !errors.Is(err, ErrInvalidRule) {
			t.Errorf("%s: %v, want ErrInvalidRule", name, err)
		}
	}
}
