package kms

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"
)

func TestRegistrySeparatesSecrets(t *testing.T) {
	r := NewRegistry()
	a, err := r.AEAD("local-kms://k", map[string]string{"secret": "one"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.AEAD("local-kms://k", map[string]string{"secret": "two"})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := r.AEAD("local-kms://k", map[string]string{"secret": "one", "unrelated": "x"})
	if again != a {
		t.Fatal("config keys the driver does not read must not split the cache")
	}
	ct, err := a.Encrypt([]byte("dek"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Decrypt(ct, nil); err == nil {
		t.Fatal("a different secret must not unwrap")
	}
	pt, err := a.Decrypt(ct, nil)
	if err != nil || !bytes.Equal(pt, []byte("dek")) {
		t.Fatalf("%q %v", pt, err)
	}
}

func TestErrors(t *testing.T) {
	t.Setenv("LOCAL_SECRET", "")
	r := NewRegistry()
	if _, err := r.AEAD("local-kms://k", nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("missing secret: %v", err)
	}
	if _, err := r.AEAD("nope-kms://k", nil); !errors.Is(err, ErrUnsupportedKMS) {
		t.Fatalf("unknown scheme: %v", err)
	}
	t.Setenv("LOCAL_SECRET", "from-env")
	if _, err := r.AEAD("local-kms://k", nil); err != nil {
		t.Fatalf("LOCAL_SECRET fallback: %v", err)
	}
	if got := KeyURI("local-kms", "abc"); got != "local-kms://abc" {
		t.Fatal(got)
	}
}

// slowDriver builds AEADs for "slow-kms://" keys: keys named "slow" wait
// for release, others answer at once. It counts NewAEAD calls per key.
type slowDriver struct {
	release chan struct{}
	mu      sync.Mutex
	builds  map[string]int
}

func (*slowDriver) Prefix() string       { return "slow-kms://" }
func (*slowDriver) ConfigKeys() []string { return nil }

func (d *slowDriver) NewAEAD(keyURI string, _ map[string]string) (tink.AEAD, error) {
	d.mu.Lock()
	d.builds[keyURI]++
	d.mu.Unlock()
	if strings.HasSuffix(keyURI, "/slow") {
		<-d.release
	}
	return NewLocalAEAD(keyURI)
}

// A key whose KMS hangs delays nobody else, and concurrent first uses of
// one key build its AEAD once.
func TestRegistrySingleFlightWithoutLock(t *testing.T) {
	d := &slowDriver{release: make(chan struct{}), builds: map[string]int{}}
	Register(d)
	r := NewRegistry()
	var wg sync.WaitGroup
	results := make(chan tink.AEAD, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := r.AEAD("slow-kms://k/slow", nil)
			if err != nil {
				t.Error(err)
			}
			results <- a
		}()
	}
	// While eight callers wait on the slow key, a fast key is served.
	fast := make(chan error, 1)
	go func() {
		_, err := r.AEAD("slow-kms://k/fast", nil)
		fast <- err
	}()
	select {
	case err := <-fast:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a slow key's AEAD build blocked another key")
	}
	// A caller with a deadline gives up on the slow key.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, _, err := r.AEADContext(ctx, "slow-kms://k/slow", nil); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline on a hanging build: %v", err)
	}
	close(d.release)
	wg.Wait()
	close(results)
	var first tink.AEAD
	for a := range results {
		if first == nil {
			first = a
		}
		if a != first {
			t.Fatal("concurrent first uses got different AEADs")
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.builds["slow-kms://k/slow"] != 1 {
		t.Fatalf("NewAEAD ran %d times for one key", d.builds["slow-kms://k/slow"])
	}
}

// hangingAEAD never answers until released; ctxAEAD honours its context.
type hangingAEAD struct{ release chan struct{} }

func (h hangingAEAD) Encrypt(pt, _ []byte) ([]byte, error) { <-h.release; return pt, nil }
func (h hangingAEAD) Decrypt(ct, _ []byte) ([]byte, error) { <-h.release; return ct, nil }

type ctxAEAD struct {
	hangingAEAD
	calls *int
}

func (c ctxAEAD) EncryptContext(ctx context.Context, pt, _ []byte) ([]byte, error) {
	*c.calls++
	<-ctx.Done()
	return nil, ctx.Err()
}

func (c ctxAEAD) DecryptContext(ctx context.Context, ct, _ []byte) ([]byte, error) {
	*c.calls++
	return ct, nil
}

// Encrypt and Decrypt end at the context's deadline, through ContextAEAD
// when the driver has it, else by leaving the call behind.
func TestCallsUnderDeadline(t *testing.T) {
	h := hangingAEAD{release: make(chan struct{})}
	defer close(h.release)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := Encrypt(ctx, h, []byte("dek"), nil); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hanging encrypt: %v", err)
	}
	if _, err := Decrypt(ctx, h, []byte("dek"), nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("hanging decrypt: %v", err)
	}
	calls := 0
	c := ctxAEAD{hangingAEAD: h, calls: &calls}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if _, err := Encrypt(ctx2, c, []byte("dek"), nil); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("context encrypt: %v", err)
	}
	if pt, err := Decrypt(context.Background(), c, []byte("dek"), nil); err != nil || string(pt) != "dek" || calls != 2 {
		t.Fatalf("context decrypt: %q %v, %d context calls", pt, err, calls)
	}
	// A context that cannot end runs the call directly.
	a, _ := NewLocalAEAD("s")
	ct, err := Encrypt(context.Background(), a, []byte("dek"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := Decrypt(context.Background(), a, ct, nil); err != nil || string(pt) != "dek" {
		t.Fatalf("%q %v", pt, err)
	}
}
