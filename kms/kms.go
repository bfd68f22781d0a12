// Package kms turns a KEK's key URI into a Tink AEAD that wraps and unwraps
// data encryption keys (DEKs).
//
// A key URI is "<kms type>://<kms key id>", exactly as Confluent builds it from
// a KEK's kmsType and kmsKeyId, so a KEK registered by any Confluent client
// resolves to the same key here. Drivers register themselves by prefix; the
// local driver ("local-kms://") is always present.
package kms

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/tink-crypto/tink-go/v2/tink"
	"golang.org/x/sync/singleflight"
)

// ErrUnsupportedKMS is returned for a key URI whose prefix no driver serves.
var ErrUnsupportedKMS = errors.New("kms: no driver for key URI")

// ErrConfig is returned when a driver lacks the configuration it needs
// (for example the local KMS secret).
var ErrConfig = errors.New("kms: missing or invalid configuration")

// ErrUnavailable is wrapped by drivers when the KMS cannot be reached or
// answers with a server error; serde also uses it for network errors.
var ErrUnavailable = errors.New("KMS unavailable")

// ErrKeyShredded is wrapped by drivers when the KMS reports that the key
// (or the key version a ciphertext names) was deleted or may no longer
// decrypt: data under it is gone for good, by design (crypto-shredding).
var ErrKeyShredded = errors.New("kms: key deleted or disabled")

// Driver builds key-wrapping AEADs for the key URIs that start with Prefix.
type Driver interface {
	// Prefix is the key URI scheme the driver serves, such as "local-kms://".
	Prefix() string
	// ConfigKeys lists the rule-config keys the driver reads; they key the
	// AEAD cache, so two configs that differ only in other keys share an AEAD.
	ConfigKeys() []string
	// NewAEAD returns the AEAD for keyURI using config (RuleConfig entries).
	NewAEAD(keyURI string, config map[string]string) (tink.AEAD, error)
}

var (
	driversMu sync.RWMutex
	drivers   = map[string]Driver{}
)

// Register makes a driver available to Lookup. A later driver with the same
// prefix replaces the earlier one.
func Register(d Driver) {
	driversMu.Lock()
	defer driversMu.Unlock()
	drivers[strings.ToLower(d.Prefix())] = d
}

// KeyURI joins a KEK's kms type and key id the way Confluent does.
func KeyURI(kmsType, kmsKeyID string) string { return kmsType + "://" + kmsKeyID }

func driverFor(keyURI string) (Driver, error) {
	driversMu.RLock()
	defer driversMu.RUnlock()
	lower := strings.ToLower(keyURI)
	for prefix, d := range drivers {
		if strings.HasPrefix(lower, prefix) {
			return d, nil
		}
	}
	scheme := keyURI
	if i := strings.Index(keyURI, "://"); i >= 0 {
		scheme = keyURI[:i]
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedKMS, scheme)
}

// ContextAEAD is a key-wrapping AEAD whose calls take a context. Drivers
// implement it where their SDK takes one, so a deadline or cancellation
// ends the network call itself; [Encrypt] and [Decrypt] use it.
type ContextAEAD interface {
	EncryptContext(ctx context.Context, plaintext, associatedData []byte) ([]byte, error)
	DecryptContext(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error)
}

// Encrypt wraps plaintext with a under ctx: through [ContextAEAD] when a
// implements it, else by running a.Encrypt and giving up on it when ctx
// ends (the call then finishes, unobserved, under the driver's own
// timeouts). A context that ends first yields an error wrapping
// [ErrUnavailable] and ctx.Err().
func Encrypt(ctx context.Context, a tink.AEAD, plaintext, associatedData []byte) ([]byte, error) {
	if c, ok := a.(ContextAEAD); ok {
		out, err := c.EncryptContext(ctx, plaintext, associatedData)
		return out, contextErr(ctx, err)
	}
	return underContext(ctx, func() ([]byte, error) { return a.Encrypt(plaintext, associatedData) })
}

// Decrypt unwraps ciphertext with a under ctx, as [Encrypt] wraps.
func Decrypt(ctx context.Context, a tink.AEAD, ciphertext, associatedData []byte) ([]byte, error) {
	if c, ok := a.(ContextAEAD); ok {
		out, err := c.DecryptContext(ctx, ciphertext, associatedData)
		return out, contextErr(ctx, err)
	}
	return underContext(ctx, func() ([]byte, error) { return a.Decrypt(ciphertext, associatedData) })
}

// contextErr marks an error of a call whose context ended as the KMS
// being unavailable (the SDK gave up because of the deadline).
func contextErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && !errors.Is(err, ErrUnavailable) {
		if errors.Is(err, ctx.Err()) {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return fmt.Errorf("%w: %w: %w", ErrUnavailable, ctx.Err(), err)
	}
	return err
}

// underContext runs call, returning early when ctx ends first. A context
// that cannot end costs no goroutine.
func underContext(ctx context.Context, call func() ([]byte, error)) ([]byte, error) {
	if ctx.Done() == nil {
		return call()
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1) // buffered: an abandoned call never blocks
	go func() {
		out, err := call()
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		return r.out, contextErr(ctx, r.err)
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
}

// Registry caches one AEAD per (key URI, driver-relevant config). Unlike
// Tink's global KMS client registry, a different secret or token yields a
// different AEAD, so two consumers in one process can hold different rights.
// It holds no lock across a driver call: concurrent first uses of one key
// share one NewAEAD call (single-flight), and a slow KMS delays only the
// keys it serves.
type Registry struct {
	mu     sync.RWMutex
	aeads  map[string]tink.AEAD
	flight singleflight.Group
}

// NewRegistry returns an empty AEAD cache.
func NewRegistry() *Registry { return &Registry{aeads: map[string]tink.AEAD{}} }

// AEAD returns the key-wrapping AEAD for keyURI under config, building it on
// first use. It is AEADContext without a deadline.
func (r *Registry) AEAD(keyURI string, config map[string]string) (tink.AEAD, error) {
	a, _, err := r.AEADContext(context.Background(), keyURI, config)
	return a, err
}

// AEADContext returns the key-wrapping AEAD for keyURI under config,
// building it on first use; built reports that this call waited for a
// build (its own or a concurrent caller's). When ctx ends before the build
// does, it returns an error wrapping [ErrUnavailable]; the build goes on
// and its AEAD is cached for the next call.
func (r *Registry) AEADContext(ctx context.Context, keyURI string, config map[string]string) (a tink.AEAD, built bool, err error) {
	d, err := driverFor(keyURI)
	if err != nil {
		return nil, false, err
	}
	key := cacheKey(keyURI, d.ConfigKeys(), config)
	r.mu.RLock()
	a, ok := r.aeads[key]
	r.mu.RUnlock()
	if ok {
		return a, false, nil
	}
	ch := r.flight.DoChan(key, func() (any, error) {
		r.mu.RLock()
		a, ok := r.aeads[key]
		r.mu.RUnlock()
		if ok {
			return a, nil
		}
		a, err := d.NewAEAD(keyURI, config)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.aeads[key] = a
		r.mu.Unlock()
		return a, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, true, res.Err
		}
		return res.Val.(tink.AEAD), true, nil
	case <-ctx.Done():
		return nil, true, fmt.Errorf("%w: building the AEAD for a %s key: %w", ErrUnavailable, scheme(keyURI), ctx.Err())
	}
}

// scheme is a key URI's scheme, which names the KMS and never a secret.
func scheme(keyURI string) string {
	if i := strings.Index(keyURI, "://"); i >= 0 {
		return keyURI[:i]
	}
	return "unknown"
}

// cacheKey digests the config values a driver reads so secrets never sit in
// map keys in the clear.
func cacheKey(keyURI string, keys []string, config map[string]string) string {
	h := sha256.New()
	h.Write([]byte(keyURI))
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	for _, k := range sorted {
		h.Write([]byte{0})
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(config[k]))
	}
	return string(h.Sum(nil))
}
