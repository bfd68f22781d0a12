// Package kms turns a KEK's key URI into a Tink AEAD that wraps and unwraps
// data encryption keys (DEKs).
//
// A key URI is "<kms type>://<kms key id>", exactly as Confluent builds it from
// a KEK's kmsType and kmsKeyId, so a KEK registered by any Confluent client
// resolves to the same key here. Drivers register themselves by prefix; the
// local driver ("local-kms://") is always present.
package kms

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/tink-crypto/tink-go/v2/tink"
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

// Registry caches one AEAD per (key URI, driver-relevant config). Unlike
// Tink's global KMS client registry, a different secret or token yields a
// different AEAD, so two consumers in one process can hold different rights.
type Registry struct {
	mu    sync.Mutex
	aeads map[string]tink.AEAD
}

// NewRegistry returns an empty AEAD cache.
func NewRegistry() *Registry { return &Registry{aeads: map[string]tink.AEAD{}} }

// AEAD returns the key-wrapping AEAD for keyURI under config, building it on
// first use.
func (r *Registry) AEAD(keyURI string, config map[string]string) (tink.AEAD, error) {
	d, err := driverFor(keyURI)
	if err != nil {
		return nil, err
	}
	key := cacheKey(keyURI, d.ConfigKeys(), config)
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.aeads[key]; ok {
		return a, nil
	}
	a, err := d.NewAEAD(keyURI, config)
	if err != nil {
		return nil, err
	}
	r.aeads[key] = a
	return a, nil
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
