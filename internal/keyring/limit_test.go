package keyring

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tagseal/tagseal/kms"
	"github.com/tagseal/tagseal/registry"
	"github.com/tagseal/tagseal/tags"
)

// seal reserves and seals one value the way the serializer does, and
// returns the DEK version it went under.
func seal(t *testing.T, k *Keyring, rk *Rule, subject string) int {
	t.Helper()
	ctx := context.Background()
	e, err := k.WriteDEK(ctx, rk, subject)
	if err != nil {
		t.Fatal(err)
	}
	if e, err = k.Use(ctx, rk, subject, e); err != nil {
		t.Fatal(err)
	}
	stored, _, err := Seal(e, rk, false, []byte("v"), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, version, _, err := ParseStored(rk, false, stored, nil)
	if err != nil {
		t.Fatal(err)
	}
	return version
}

// A rotating rule with a usage limit moves to the next DEK version after
// exactly limit encryptions, without the clock moving.
func TestUsageLimitRotates(t *testing.T) {
	k, mem, calls, _ := setup(t, time.Hour, false)
	rk := rule(t, map[string]string{ParamDEKExpiryDays: "30", ParamDEKMaxEncryptions: "100"})
	perVersion := map[int]int{}
	for range 250 {
		perVersion[seal(t, k, rk, "s-value")]++
	}
	if perVersion[1] != 100 || perVersion[2] != 100 || perVersion[3] != 50 || len(perVersion) != 3 {
		t.Fatalf("encryptions per version %v, want 100, 100, 50", perVersion)
	}
	if n := calls.creates.Load(); n != 3 {
		t.Fatalf("%d DEKs created, want 3", n)
	}
	versions, err := mem.DEKVersions(context.Background(), "kek", "s-value", AES256GCM, false)
	if err != nil || len(versions) != 3 {
		t.Fatalf("registry versions %v %v", versions, err)
	}
	// Every version stays readable.
	for v := 1; v <= 3; v++ {
		if _, err := k.ReadDEK(context.Background(), rk, "s-value", v); err != nil {
			t.Fatalf("read version %d: %v", v, err)
		}
	}
}

// The count survives a cache reload of the same version: the TTL ending
// does not hand out a fresh budget.
func TestUsageLimitSurvivesReload(t *testing.T) {
	k, _, _, clock := setup(t, time.Minute, false)
	rk := rule(t, map[string]string{ParamDEKExpiryDays: "30", ParamDEKMaxEncryptions: "10"})
	for range 6 {
		if v := seal(t, k, rk, "s-value"); v != 1 {
			t.Fatalf("version %d before the limit", v)
		}
	}
	clock.advance(2 * time.Minute) // reload version 1
	got := map[int]int{}
	for range 6 {
		got[seal(t, k, rk, "s-value")]++
	}
	if got[1] != 4 || got[2] != 2 {
		t.Fatalf("after a reload %v, want 4 more under version 1 then version 2", got)
	}
}

// A producer that spends its version uses the next one another producer
// already created, and the registry's latest when it is newer still.
func TestUsageLimitTakesOtherProducersVersion(t *testing.T) {
	k, mem, calls, clock := setup(t, time.Hour, false)
	other := New(mem, Config{RuleConfig: map[string]string{"secret": "keyring-test"}, Clock: clock.now})
	rk := rule(t, map[string]string{ParamDEKExpiryDays: "30", ParamDEKMaxEncryptions: "3"})
	rkOther := rule(t, map[string]string{ParamDEKExpiryDays: "30", ParamDEKMaxEncryptions: "3"})
	for range 3 {
		seal(t, k, rk, "s-value")
	}
	for range 4 { // other spends version 1 too and creates version 2
		seal(t, other, rkOther, "s-value")
	}
	if v := seal(t, k, rk, "s-value"); v != 2 {
		t.Fatalf("version %d, want the other producer's version 2", v)
	}
	if n := calls.creates.Load(); n != 1 {
		t.Fatalf("this producer created %d DEKs, want 1 (version 1)", n)
	}
	for range 2 + 3 + 1 { // other spends 2 (one use left) and 3, creates 4
		seal(t, other, rkOther, "s-value")
	}
	seal(t, k, rk, "s-value")
	seal(t, k, rk, "s-value") // version 2 is spent here
	if v := seal(t, k, rk, "s-value"); v != 4 {
		t.Fatalf("version %d, want the registry's latest, 4", v)
	}
}

// Many goroutines crossing the limit at once: one creation per version,
// and no version used more than the limit.
func TestUsageLimitConcurrent(t *testing.T) {
	k, _, calls, _ := setup(t, time.Hour, false)
	const limit, goroutines, each = 50, 16, 100
	rk := rule(t, map[string]string{ParamDEKExpiryDays: "30", ParamDEKMaxEncryptions: "50"})
	var mu sync.Mutex
	perVersion := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			local := map[int]int{}
			for range each {
				local[seal(t, k, rk, "s-value")]++
			}
			mu.Lock()
			for v, n := range local {
				perVersion[v] += n
			}
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	total := 0
	for v, n := range perVersion {
		if n > limit {
			t.Errorf("version %d used %d times, limit %d", v, n, limit)
		}
		total += n
	}
	want := goroutines * each / limit
	if total != goroutines*each || len(perVersion) != want {
		t.Fatalf("%d encryptions over %d versions, want %d over %d", total, len(perVersion), goroutines*each, want)
	}
	if n := calls.creates.Load(); n != int64(want) {
		t.Fatalf("%d DEKs created for %d versions: concurrent crossings did not collapse", n, want)
	}
}

// When the next version cannot be had, the encryption fails: nothing more
// goes under the spent version.
func TestUsageLimitFailsClosed(t *testing.T) {
	k, mem, _, _ := setup(t, time.Hour, false)
	rk := rule(t, map[string]string{ParamDEKExpiryDays: "30", ParamDEKMaxEncryptions: "2"})
	seal(t, k, rk, "s-value")
	seal(t, k, rk, "s-value")
	mem.FailWith(http.StatusServiceUnavailable)
	ctx := context.Background()
	e, err := k.WriteDEK(ctx, rk, "s-value")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Use(ctx, rk, "s-value", e); !errors.Is(err, ErrDEKExhausted) || !errors.Is(err, ErrRegistry) {
		t.Fatalf("spent version during an outage: %v, want ErrDEKExhausted and ErrRegistry", err)
	}
}

func TestUsageLimitParams(t *testing.T) {
	if err := rule(t, map[string]string{ParamDEKMaxEncryptions: "100"}).Err(); !errors.Is(err, ErrInvalidRule) || !errors.Is(err, ErrUsageLimitNeedsRotation) {
		t.Fatalf("limit on a non-rotating rule: %v", err)
	}
	for _, bad := range []string{"0", "-1", "many"} {
		if err := rule(t, map[string]string{ParamDEKExpiryDays: "1", ParamDEKMaxEncryptions: bad}).Err(); !errors.Is(err, ErrInvalidRule) || errors.Is(err, ErrUsageLimitNeedsRotation) {
			t.Errorf("limit %q: %v", bad, err)
		}
	}
	for _, c := range []struct {
		params map[string]string
		want   int64
	}{
		{nil, 0}, // non-rotating: no version prefix, no limit
		{map[string]string{ParamDEKExpiryDays: "1"}, DefaultMaxEncryptions},
		{map[string]string{ParamDEKExpiryDays: "1", ParamDEKAlgorithm: AES128GCM}, DefaultMaxEncryptions},
		{map[string]string{ParamDEKExpiryDays: "1", ParamDEKAlgorithm: AES256SIV}, 0},
		{map[string]string{ParamDEKExpiryDays: "1", ParamDEKAlgorithm: AES256SIV, ParamDEKMaxEncryptions: "7"}, 7},
		{map[string]string{ParamDEKExpiryDays: "1", ParamDEKMaxEncryptions: "100"}, 100},
	} {
		rk := rule(t, c.params)
		if rk.Err() != nil || rk.MaxEncryptions() != c.want {
			t.Errorf("%v: limit %d (%v), want %d", c.params, rk.MaxEncryptions(), rk.Err(), c.want)
		}
	}
}

// Hooks see DEK creations, cache hits and misses, KMS calls and the
// encryptions per version (batched, the remainder at retirement).
func TestHooks(t *testing.T) {
	mem, clock := setupMem(t)
	var created, hits, misses, wraps, encs atomic.Int64
	k := New(mem, Config{RuleConfig: map[string]string{"secret": "keyring-test"}, Clock: clock.now, Hooks: Hooks{
		KMSCall: func(op, kmsType, kek string, _ time.Duration, err error) {
			if op == "wrap" && kmsType == "local-kms" && kek == "kek" && err == nil {
				wraps.Add(1)
			}
		},
		DEKCache: func(_, _, _ string, write, hit bool) {
			if write && hit {
				hits.Add(1)
			} else if write {
				misses.Add(1)
			}
		},
		DEKCreated:  func(string, string, string, int, string) { created.Add(1) },
		Encryptions: func(_, _, _ string, _ int, n int64) { encs.Add(n) },
	}})
	rk := rule(t, map[string]string{ParamDEKExpiryDays: "30", ParamDEKMaxEncryptions: "1500"})
	for range 2000 {
		seal(t, k, rk, "s-value")
	}
	if created.Load() != 2 || wraps.Load() != 2 {
		t.Fatalf("%d DEKs created, %d wraps: want 2 each", created.Load(), wraps.Load())
	}
	// 1500 under version 1 (1024 batched + 476 at retirement), 1024 of
	// the 500 under version 2 not yet: batches only.
	if encs.Load() != 1500 {
		t.Fatalf("%d encryptions reported, want 1500", encs.Load())
	}
	if misses.Load() != 1 || hits.Load() < 1999 {
		t.Fatalf("%d misses, %d hits", misses.Load(), hits.Load())
	}
}

// hangDriver serves "hang-kms://" keys whose wrap never answers.
type hangDriver struct{ release chan struct{} }

func (hangDriver) Prefix() string       { return "hang-kms://" }
func (hangDriver) ConfigKeys() []string { return nil }
func (d hangDriver) NewAEAD(string, map[string]string) (tink.AEAD, error) {
	return hangAEAD(d), nil
}

type hangAEAD hangDriver

func (h hangAEAD) Encrypt(pt, _ []byte) ([]byte, error) { <-h.release; return pt, nil }
func (h hangAEAD) Decrypt(ct, _ []byte) ([]byte, error) { <-h.release; return ct, nil }

// A KMS that does not answer fails the write at the keyring's KMS
// deadline, with the KMS unavailable, and the call is reported.
func TestKMSTimeout(t *testing.T) {
	d := hangDriver{release: make(chan struct{})}
	defer close(d.release)
	kms.Register(d)
	var reported atomic.Int64
	k := New(registry.NewMemory(), Config{KMSTimeout: 20 * time.Millisecond, Hooks: Hooks{
		KMSCall: func(op, kmsType, _ string, _ time.Duration, err error) {
			if op == "wrap" && kmsType == "hang-kms" && errors.Is(err, context.DeadlineExceeded) {
				reported.Add(1)
			}
		}}})
	rk := rule(t, map[string]string{ParamKMSType: "hang-kms"})
	_, err := k.WriteDEK(context.Background(), rk, "s-value")
	if !errors.Is(err, ErrKMSUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hanging KMS: %v, want ErrKMSUnavailable at the deadline", err)
	}
	if reported.Load() != 1 {
		t.Fatalf("%d timed-out wraps reported", reported.Load())
	}
}

// BenchmarkUse measures the usage limit's cost per encrypted value: none
// for a rule without limit or hooks, one atomic add with a limit.
func BenchmarkUse(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		params map[string]string
	}{
		{"no-limit", nil},
		{"limit", map[string]string{ParamDEKExpiryDays: "30", ParamDEKMaxEncryptions: "1000000000"}},
	} {
		k := New(registry.NewMemory(), Config{RuleConfig: map[string]string{"secret": "bench"}})
		p := map[string]string{ParamKEKName: "kek", ParamKMSType: "local-kms", ParamKMSKeyID: "key"}
		for key, v := range c.params {
			p[key] = v
		}
		rs := tags.FromSchema(&registry.Schema{RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{{
			Name: "r", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"}, Params: p}}}})
		rk := ParseRule(&rs.Field[0])
		e, err := k.WriteDEK(ctx, rk, "s-value")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Use(ctx, rk, "s-value", e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Usage counters are keyed like the DEKs they count: spending one
// subject's (or algorithm's, or KEK's) version leaves the others alone.
func TestUsageCountersAreKeyed(t *testing.T) {
	k, _, _, _ := setup(t, time.Hour, false)
	limited := map[string]string{ParamDEKExpiryDays: "30", ParamDEKMaxEncryptions: "2"}
	rk := rule(t, limited)
	for range 2 {
		seal(t, k, rk, "a-value")
	}
	if v := seal(t, k, rk, "b-value"); v != 1 {
		t.Fatalf("another subject started at version %d", v)
	}
	siv := rule(t, map[string]string{ParamDEKExpiryDays: "30", ParamDEKMaxEncryptions: "2", ParamDEKAlgorithm: AES256SIV})
	if v := seal(t, k, siv, "a-value"); v != 1 {
		t.Fatalf("another algorithm started at version %d", v)
	}
	other := rule(t, map[string]string{ParamDEKExpiryDays: "30", ParamDEKMaxEncryptions: "2", ParamKEKName: "kek-2"})
	if v := seal(t, k, other, "a-value"); v != 1 {
		t.Fatalf("another KEK started at version %d", v)
	}
	if v := seal(t, k, rk, "a-value"); v != 2 {
		t.Fatalf("the spent subject wrote version %d, want 2", v)
	}
}
