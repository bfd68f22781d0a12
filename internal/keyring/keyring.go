// Package keyring owns the lifecycle of the keys behind tagseal's field
// encryption: it gets or creates a rule's KEK in the DEK Registry, gets or
// creates (and, for rotating rules, renews) the subject's DEK, wraps and
// unwraps DEKs with the KEK's KMS, and keeps the built primitives in a TTL
// cache so the hot path makes no registry or KMS call. It also holds the
// stored-value format: the optional version prefix, base64 for string
// fields, Tink's raw AES-GCM and AES-SIV output.
package keyring

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	tinkregistry "github.com/tink-crypto/tink-go/v2/core/registry"
	"github.com/tink-crypto/tink-go/v2/daead"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/tink"
	"golang.org/x/sync/singleflight"
	"google.golang.org/protobuf/proto"

	agpb "github.com/tink-crypto/tink-go/v2/proto/aes_gcm_go_proto"

	"github.com/tagseal/tagseal/registry"

	"github.com/tagseal/tagseal/internal/entropy"
	"github.com/tagseal/tagseal/kms"
	"github.com/tagseal/tagseal/tags"
)

const millisPerDay = 24 * 60 * 60 * 1000

// Rule is an ENCRYPT rule's key parameters, parsed once per plan.
type Rule struct {
	kekName, kmsType, kmsKeyID string
	algorithm                  string
	expiryDays                 int
	maxEncryptions             int64 // usage limit per DEK version; 0: none
	template                   *tinkpb.KeyTemplate
	err                        error // invalid parameters: reported when the rule is used
	hot                        atomic.Pointer[hotDEK]
	hotRead                    atomic.Pointer[hotDEK]
	plaintextLogged            atomic.Bool // the write-NONE fallback was logged
	limitErr                   bool        // err includes ErrUsageLimitNeedsRotation
}

// hotDEK is the DEK a rule last used, checked before the keyring's maps:
// a plan usually serves one subject and one DEK version.
type hotDEK struct {
	k       *Keyring // a Rule may be used with more than one keyring
	subject string
	version int
	e       *DEK
}

// ParseRule reads a rule's key parameters (rule params, then the schema's
// metadata.properties). Invalid ones are kept in Err, reported on use.
func ParseRule(r *tags.Rule) *Rule {
	rk := &Rule{algorithm: AES256GCM}
	var errs []string
	rk.kekName, _ = r.Param(ParamKEKName)
	rk.kmsType, _ = r.Param(ParamKMSType)
	rk.kmsKeyID, _ = r.Param(ParamKMSKeyID)
	if a, ok := r.Param(ParamDEKAlgorithm); ok && a != "" {
		rk.algorithm = a
	}
	switch rk.algorithm {
	case AES128GCM:
		rk.template = aead.AES128GCMKeyTemplate()
	case AES256GCM:
		rk.template = aead.AES256GCMKeyTemplate()
	case AES256SIV:
		rk.template = daead.AESSIVKeyTemplate()
	default:
		errs = append(errs, fmt.Sprintf("unknown %s %q", ParamDEKAlgorithm, rk.algorithm))
	}
	if d, ok := r.Param(ParamDEKExpiryDays); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Sprintf("invalid %s %q", ParamDEKExpiryDays, d))
		}
		rk.expiryDays = n
	}
	if m, ok := r.Param(ParamDEKMaxEncryptions); ok {
		n, err := strconv.ParseInt(m, 10, 64)
		switch {
		case err != nil || n < 1:
			errs = append(errs, fmt.Sprintf("invalid %s %q (a positive integer)", ParamDEKMaxEncryptions, m))
		case !rk.rotated():
			errs = append(errs, ErrUsageLimitNeedsRotation.Error()+": without rotation ciphertexts carry no DEK version prefix, so readers could never tell a second version from the first")
			rk.limitErr = true
		default:
			rk.maxEncryptions = n
		}
	} else if rk.rotated() && rk.algorithm != AES256SIV {
		rk.maxEncryptions = DefaultMaxEncryptions
	}
	if rk.kekName == "" {
		errs = append(errs, "missing "+ParamKEKName)
	}
	if len(errs) > 0 {
		rk.err = fmt.Errorf("%w: %s", ErrInvalidRule, strings.Join(errs, "; "))
		if rk.limitErr {
			rk.err = fmt.Errorf("%w: %s (%w)", ErrInvalidRule, strings.Join(errs, "; "), ErrUsageLimitNeedsRotation)
		}
	}
	return rk
}

// rotated reports whether DEKs expire, which also means ciphertexts carry
// the 5-byte version prefix.
func (rk *Rule) rotated() bool { return rk.expiryDays > 0 }

// expiredAt says a DEK created at ts (registry time, ms) is past the rule's
// expiry at now; never for a rule that does not rotate.
func (rk *Rule) expiredAt(now time.Time, ts int64) bool {
	return rk.rotated() && (now.UnixMilli()-ts)/millisPerDay >= int64(rk.expiryDays)
}

// KEKName, KMSType, KMSKeyID and Algorithm are the rule's key parameters.
func (rk *Rule) KEKName() string { return rk.kekName }

// KMSType is the rule's encrypt.kms.type.
func (rk *Rule) KMSType() string { return rk.kmsType }

// KMSKeyID is the rule's encrypt.kms.key.id.
func (rk *Rule) KMSKeyID() string { return rk.kmsKeyID }

// Algorithm is the rule's DEK algorithm (AES256_GCM by default).
func (rk *Rule) Algorithm() string { return rk.algorithm }

// MaxEncryptions is the rule's usage limit per DEK version (0: none):
// encrypt.dek.max.encryptions, or DefaultMaxEncryptions for a rotating
// AES-GCM rule without it.
func (rk *Rule) MaxEncryptions() int64 { return rk.maxEncryptions }

// Err reports invalid parameters (ErrInvalidRule); a rule with an error is
// refused when it is used.
func (rk *Rule) Err() error { return rk.err }

// FirstPlaintextFallback reports true once per rule: the first time its
// write action NONE let a value through in plaintext, so that is logged once.
func (rk *Rule) FirstPlaintextFallback() bool { return rk.plaintextLogged.CompareAndSwap(false, true) }

// dekCipher is a DEK's primitive, built once per DEK. AES-GCM DEKs use
// crypto/cipher directly with the key bytes of the Tink AesGcmKey: its
// output, nonce ‖ ciphertext ‖ tag, is exactly Tink's raw AES-GCM output,
// and sealing into a caller's buffer costs no allocation. AES-SIV DEKs use
// Tink's deterministic AEAD.
type dekCipher struct {
	gcm   cipher.AEAD
	daead tink.DeterministicAEAD
}

const (
	gcmNonceSize = 12
	gcmTagSize   = 16
)

func newDEKCipher(algorithm string, keyMaterial []byte) (*dekCipher, error) {
	switch algorithm {
	case AES128GCM, AES256GCM, "":
		var key agpb.AesGcmKey
		if err := proto.Unmarshal(keyMaterial, &key); err != nil {
			return nil, err
		}
		if key.GetVersion() != 0 || len(key.GetKeyValue()) != 16 && len(key.GetKeyValue()) != 32 {
			return nil, fmt.Errorf("unsupported AesGcmKey (version %d, %d-byte key)", key.GetVersion(), len(key.GetKeyValue()))
		}
		block, err := aes.NewCipher(key.GetKeyValue())
		if err != nil {
			return nil, err
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		return &dekCipher{gcm: gcm}, nil
	case AES256SIV:
		p, err := tinkregistry.Primitive(daead.AESSIVKeyTemplate().TypeUrl, keyMaterial)
		if err != nil {
			return nil, err
		}
		d, ok := p.(tink.DeterministicAEAD)
		if !ok {
			return nil, fmt.Errorf("unexpected primitive %T", p)
		}
		return &dekCipher{daead: d}, nil
	}
	return nil, fmt.Errorf("%w: DEK algorithm %q", ErrInvalidRule, algorithm)
}

// seal appends the ciphertext of plaintext to dst, taking AES-GCM nonces
// from nonces (fresh CSPRNG output, never reused).
func (c *dekCipher) seal(dst, plaintext, ad []byte, nonces *NonceSource) ([]byte, error) {
	if c.daead != nil {
		ct, err := c.daead.EncryptDeterministically(plaintext, ad)
		return append(dst, ct...), err
	}
	off := len(dst)
	dst = slices.Grow(dst, gcmNonceSize+len(plaintext)+gcmTagSize)[:off+gcmNonceSize]
	nonces.fill(dst[off:])
	return c.gcm.Seal(dst, dst[off:], plaintext, ad), nil
}

// NonceSource hands out crypto/rand bytes read in batches, sparing one
// getrandom call per field. Each byte is handed out once; a source belongs
// to one goroutine at a time (it lives in a pooled fieldCrypter).
type NonceSource struct {
	buf [32 * gcmNonceSize]byte
	pos int
}

func (n *NonceSource) fill(dst []byte) {
	if n == nil || entropy.Overridden() {
		entropy.Read(dst)
		return
	}
	if n.pos == 0 || n.pos+len(dst) > len(n.buf) {
		entropy.Read(n.buf[:])
		n.pos = 0
	}
	copy(dst, n.buf[n.pos:])
	clear(n.buf[n.pos : n.pos+len(dst)])
	n.pos += len(dst)
	if n.pos == len(n.buf) {
		n.pos = 0
	}
}

// open appends the plaintext of ciphertext to dst.
func (c *dekCipher) open(dst, ciphertext, ad []byte) ([]byte, error) {
	if c.daead != nil {
		pt, err := c.daead.DecryptDeterministically(ciphertext, ad)
		return append(dst, pt...), err
	}
	if len(ciphertext) < gcmNonceSize+gcmTagSize {
		return nil, fmt.Errorf("%w: shorter than nonce and tag", ErrInvalidCiphertext)
	}
	return c.gcm.Open(dst, ciphertext[:gcmNonceSize], ciphertext[gcmNonceSize:], ad)
}

// DEK is an unwrapped data-encryption key version with its built
// primitive, as cached by a Keyring.
type DEK struct {
	version int
	ts      int64 // registry creation time, ms
	cipher  *dekCipher
	loaded  time.Time
	uses    *usage // write DEKs only: encryptions under this version
}

// Version is the DEK's version in the DEK Registry (1 for unversioned
// rules).
func (e *DEK) Version() int { return e.version }

// usage counts the encryptions a keyring made under one DEK version. It
// outlives cache refreshes of that version, so a reloaded DEK does not
// start counting again.
type usage struct {
	n        atomic.Int64 // reservations, successful or not
	reported atomic.Int64 // encryptions already passed to Hooks.Encryptions
}

type kekKey struct {
	name string
	read bool
}

type dekKey struct {
	kek, subject, algorithm string
	version                 int // 0: the unversioned lookup (GetDek)
}

type writeKey struct {
	kek, subject, algorithm string
	rotated                 bool
}

// Keyring owns KEK and DEK lifecycles: registry lookups, creation, KMS
// wrapping, and a cache of built primitives. After warm-up the hot path
// reads two maps under a read lock and makes no registry or KMS call.
type Keyring struct {
	// dekRegistry is where KEKs and DEKs live. Its loads are not cached
	// below this type, so a deletion (crypto-shredding) is seen when a
	// cached DEK's TTL ends.
	dekRegistry registry.DEKRegistry
	readDeleted bool
	kms         *kms.Registry
	config      map[string]string
	now         func() time.Time
	ttl         time.Duration
	kmsTimeout  time.Duration
	hooks       Hooks
	counting    int64 // 1: count every encryption (Hooks.Encryptions is set); else 0
	flight      singleflight.Group

	mu    sync.RWMutex
	keks  map[kekKey]*registry.KEK
	read  map[dekKey]*DEK
	write map[writeKey]*DEK
	uses  map[dekKey]*usage // per write DEK version; the last few versions
	top   map[writeKey]int  // highest version installed per write key
}

// New returns a Keyring over a DEK Registry.
func New(dekRegistry registry.DEKRegistry, conf Config) *Keyring {
	now := conf.Clock
	if now == nil {
		now = time.Now
	}
	ttl := conf.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	var counting int64
	if conf.Hooks.Encryptions != nil {
		counting = 1
	}
	kmsTimeout := conf.KMSTimeout
	if kmsTimeout == 0 {
		kmsTimeout = DefaultKMSTimeout
	}
	return &Keyring{
		dekRegistry: dekRegistry,
		readDeleted: conf.ReadDeleted,
		kms:         kms.NewRegistry(),
		config:      conf.RuleConfig,
		now:         now,
		ttl:         ttl,
		kmsTimeout:  kmsTimeout,
		hooks:       conf.Hooks,
		counting:    counting,
		keks:        map[kekKey]*registry.KEK{},
		read:        map[dekKey]*DEK{},
		write:       map[writeKey]*DEK{},
		uses:        map[dekKey]*usage{},
		top:         map[writeKey]int{},
	}
}

// Now returns the keyring's clock reading.
func (k *Keyring) Now() time.Time { return k.now() }

func (k *Keyring) fresh(e *DEK) bool {
	return k.ttl <= 0 || k.now().Sub(e.loaded) < k.ttl
}

// usable says a write DEK may still be used: fresh, and not past the rule's
// expiry; one reading of the clock (the hot path's only one; clock reads
// are not free on every host).
func (k *Keyring) usable(rk *Rule, e *DEK) bool {
	if k.ttl <= 0 && !rk.rotated() {
		return true
	}
	now := k.now()
	if k.ttl > 0 && now.Sub(e.loaded) >= k.ttl {
		return false
	}
	return !rk.expiredAt(now, e.ts)
}

// WriteDEK returns the DEK new ciphertexts use: version 1, or with rotation
// the latest version, replaced by a new one when it is older than the
// rule's expiry. A failed refresh keeps the cached DEK in service.
func (k *Keyring) WriteDEK(ctx context.Context, rk *Rule, subject string) (*DEK, error) {
	if h := rk.hot.Load(); h != nil && h.k == k && h.subject == subject && k.usable(rk, h.e) {
		if k.hooks.DEKCache != nil {
			k.hooks.DEKCache(rk.kekName, subject, rk.algorithm, true, true)
		}
		return h.e, nil
	}
	e, err := k.writeDEKSlow(ctx, rk, subject)
	if err == nil {
		rk.hot.Store(&hotDEK{k: k, subject: subject, e: e})
	}
	return e, err
}

func (k *Keyring) writeDEKSlow(ctx context.Context, rk *Rule, subject string) (*DEK, error) {
	key := writeKey{rk.kekName, subject, rk.algorithm, rk.rotated()}
	k.mu.RLock()
	cached := k.write[key]
	k.mu.RUnlock()
	if cached != nil && k.usable(rk, cached) {
		if k.hooks.DEKCache != nil {
			k.hooks.DEKCache(rk.kekName, subject, rk.algorithm, true, true)
		}
		return cached, nil
	}
	if k.hooks.DEKCache != nil {
		k.hooks.DEKCache(rk.kekName, subject, rk.algorithm, true, false)
	}
	v, err, _ := k.flight.Do(fmt.Sprintf("w\x00%s\x00%s\x00%s\x00%t", key.kek, key.subject, key.algorithm, key.rotated), func() (any, error) {
		k.mu.RLock()
		e := k.write[key]
		k.mu.RUnlock()
		if e != nil && e != cached && k.usable(rk, e) {
			return e, nil // loaded by a flight that ended after our first look
		}
		e, err := k.loadWriteDEK(ctx, rk, subject)
		if err != nil {
			return nil, err
		}
		k.installWrite(key, e)
		return e, nil
	})
	if err != nil {
		if cached != nil {
			return k.keepStale(func(e *DEK) { k.write[key] = e }, cached, rk, subject, err), nil
		}
		return nil, err
	}
	return v.(*DEK), nil
}

// keepStale keeps a cached DEK in service after a failed refresh and
// restarts its TTL, so an outage costs one KMS attempt per TTL, not one per
// record.
func (k *Keyring) keepStale(store func(*DEK), cached *DEK, rk *Rule, subject string, err error) *DEK {
	slog.Warn("tagseal: DEK refresh failed, keeping the cached DEK", "kek", rk.kekName, "subject", subject, "error", err)
	e := *cached
	e.loaded = k.now()
	k.mu.Lock()
	store(&e)
	k.mu.Unlock()
	return &e
}

// latestDEK returns the rule's KEK and the subject's latest DEK in the
// registry; found is false when the subject has none yet.
func (k *Keyring) latestDEK(ctx context.Context, rk *Rule, subject string) (kek *registry.KEK, dek registry.DEK, found bool, err error) {
	if kek, err = k.kek(ctx, rk, false); err != nil {
		return nil, dek, false, err
	}
	dek, err = k.dekRegistry.DEK(ctx, rk.kekName, subject, rk.algorithm, 0, false)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return nil, dek, false, fmt.Errorf("%w: get DEK: %w", ErrRegistry, err)
	}
	return kek, dek, err == nil, nil
}

func (k *Keyring) loadWriteDEK(ctx context.Context, rk *Rule, subject string) (*DEK, error) {
	kek, dek, found, err := k.latestDEK(ctx, rk, subject)
	if err != nil {
		return nil, err
	}
	expired := found && rk.expiredAt(k.now(), dek.Ts)
	if found && !expired {
		return k.entryFor(ctx, kek, &dek, nil)
	}
	version, reason := 1, "first"
	if expired {
		version, reason = dek.Version+1, "expired"
	}
	created, raw, err := k.createDEK(ctx, kek, rk, subject, version, reason)
	if err != nil {
		if !found {
			return nil, err
		}
		slog.Warn("tagseal: cannot create new DEK version, using the existing one", "kek", rk.kekName, "subject", subject, "version", version, "error", err)
		return k.entryFor(ctx, kek, &dek, nil)
	}
	return k.entryFor(ctx, kek, created, raw)
}

// createDEK generates a DEK, wraps it with the KEK (unless the KEK is
// shared, where the registry generates it) and registers it. It returns the
// raw key material when it generated it, to spare an unwrap.
func (k *Keyring) createDEK(ctx context.Context, kek *registry.KEK, rk *Rule, subject string, version int, reason string) (*registry.DEK, []byte, error) {
	var raw []byte
	var wrapped string
	if !kek.Shared {
		kd, err := tinkregistry.NewKeyData(rk.template)
		if err != nil {
			return nil, nil, err
		}
		raw = kd.GetValue()
		edek, err := k.kekAEAD(kek).encrypt(ctx, raw)
		if err != nil {
			return nil, nil, err
		}
		wrapped = base64.StdEncoding.EncodeToString(edek)
	}
	dek, err := k.dekRegistry.CreateDEK(ctx, rk.kekName, registry.DEK{Subject: subject, Version: version, Algorithm: rk.algorithm, EncryptedKeyMaterial: wrapped})
	if err == nil {
		if k.hooks.DEKCreated != nil {
			k.hooks.DEKCreated(rk.kekName, subject, rk.algorithm, dek.Version, reason)
		}
		return &dek, raw, nil
	}
	if !errors.Is(err, registry.ErrConflict) {
		return nil, nil, fmt.Errorf("%w: register DEK: %w", ErrRegistry, err)
	}
	// Another producer won the race: use its DEK.
	dek, err = k.dekRegistry.DEK(ctx, rk.kekName, subject, rk.algorithm, version, false)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: get DEK after conflict: %w", ErrRegistry, err)
	}
	return &dek, nil, nil
}

// ReadDEK returns the DEK for a ciphertext: the version from its prefix, or
// the unversioned DEK when the rule does not rotate.
func (k *Keyring) ReadDEK(ctx context.Context, rk *Rule, subject string, version int) (*DEK, error) {
	if h := rk.hotRead.Load(); h != nil && h.k == k && h.version == version && h.subject == subject && k.fresh(h.e) {
		if k.hooks.DEKCache != nil {
			k.hooks.DEKCache(rk.kekName, subject, rk.algorithm, false, true)
		}
		return h.e, nil
	}
	e, err := k.readDEKSlow(ctx, rk, subject, version)
	if err == nil {
		rk.hotRead.Store(&hotDEK{k: k, subject: subject, version: version, e: e})
	}
	return e, err
}

func (k *Keyring) readDEKSlow(ctx context.Context, rk *Rule, subject string, version int) (*DEK, error) {
	key := dekKey{rk.kekName, subject, rk.algorithm, version}
	k.mu.RLock()
	cached := k.read[key]
	k.mu.RUnlock()
	if cached != nil && k.fresh(cached) {
		if k.hooks.DEKCache != nil {
			k.hooks.DEKCache(rk.kekName, subject, rk.algorithm, false, true)
		}
		return cached, nil
	}
	if k.hooks.DEKCache != nil {
		k.hooks.DEKCache(rk.kekName, subject, rk.algorithm, false, false)
	}
	v, err, _ := k.flight.Do(fmt.Sprintf("r\x00%s\x00%s\x00%s\x00%d", key.kek, key.subject, key.algorithm, version), func() (any, error) {
		k.mu.RLock()
		e := k.read[key]
		k.mu.RUnlock()
		if e != nil && e != cached && k.fresh(e) {
			return e, nil // loaded by a flight that ended after our first look
		}
		e, err := k.loadReadDEK(ctx, rk, subject, version)
		if err != nil {
			return nil, err
		}
		k.mu.Lock()
		k.read[key] = e
		k.mu.Unlock()
		return e, nil
	})
	if err != nil {
		if errors.Is(err, ErrKeyShredded) {
			// Deleted keys are gone for good: drop the cached DEK too.
			k.mu.Lock()
			delete(k.read, key)
			k.mu.Unlock()
			rk.hotRead.Store(nil)
			return nil, err
		}
		if cached != nil {
			return k.keepStale(func(e *DEK) { k.read[key] = e }, cached, rk, subject, err), nil
		}
		return nil, err
	}
	return v.(*DEK), nil
}

// loadReadDEK fetches the KEK and DEK afresh (so deletions are seen when a
// cached DEK's TTL ends). A deleted KEK or DEK is shredded unless
// ReadDeletedKeys; a missing one is reported both as not found and as
// shredded, since hard deletion leaves no trace.
func (k *Keyring) loadReadDEK(ctx context.Context, rk *Rule, subject string, version int) (*DEK, error) {
	kek, err := k.loadKEK(ctx, rk, true)
	if err != nil {
		return nil, err
	}
	if err := k.checkKEK(rk, kek); err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.keks[kekKey{rk.kekName, true}] = kek
	k.mu.Unlock()
	dek, err := k.dekRegistry.DEK(ctx, rk.kekName, subject, rk.algorithm, version, true)
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, fmt.Errorf("%w: KEK %q, subject %q, %s, version %d (%w)", ErrDEKNotFound, rk.kekName, subject, rk.algorithm, max(version, 1), ErrKeyShredded)
		}
		return nil, fmt.Errorf("%w: get DEK: %w", ErrRegistry, err)
	}
	if dek.Deleted && !k.readDeleted {
		return nil, fmt.Errorf("%w: DEK of KEK %q, subject %q, version %d was deleted", ErrKeyShredded, rk.kekName, subject, dek.Version)
	}
	return k.entryFor(ctx, kek, &dek, nil)
}

// entryFor builds the primitive for a DEK, unwrapping its key material with
// the KEK unless raw material is at hand (new or shared-KEK DEKs).
func (k *Keyring) entryFor(ctx context.Context, kek *registry.KEK, dek *registry.DEK, raw []byte) (*DEK, error) {
	if raw == nil && dek.KeyMaterial != "" {
		var err error
		if raw, err = base64.StdEncoding.DecodeString(dek.KeyMaterial); err != nil {
			return nil, fmt.Errorf("%w: DEK key material: %v", ErrRegistry, err)
		}
	}
	if raw == nil {
		edek, err := base64.StdEncoding.DecodeString(dek.EncryptedKeyMaterial)
		if err != nil || len(edek) == 0 {
			return nil, fmt.Errorf("%w: DEK has no key material", ErrRegistry)
		}
		raw, err = k.kekAEAD(kek).decrypt(ctx, edek)
		if err != nil {
			return nil, err
		}
	}
	c, err := newDEKCipher(dek.Algorithm, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: DEK key material does not parse: %v", ErrDEKUnwrapFailed, err)
	}
	return &DEK{version: max(dek.Version, 1), ts: dek.Ts, cipher: c, loaded: k.now()}, nil
}

// kek returns the rule's KEK. A write registers it when the rule names a
// KMS type and key id; a read only looks it up (deleted KEKs included, so
// old data stays readable).
func (k *Keyring) kek(ctx context.Context, rk *Rule, read bool) (*registry.KEK, error) {
	key := kekKey{rk.kekName, read}
	k.mu.RLock()
	cached := k.keks[key]
	k.mu.RUnlock()
	if cached != nil {
		return cached, k.checkKEK(rk, cached)
	}
	v, err, _ := k.flight.Do(fmt.Sprintf("k\x00%s\x00%t", rk.kekName, read), func() (any, error) {
		k.mu.RLock()
		kek := k.keks[key]
		k.mu.RUnlock()
		if kek != nil {
			return kek, nil
		}
		kek, err := k.loadKEK(ctx, rk, read)
		if err != nil {
			return nil, err
		}
		k.mu.Lock()
		k.keks[key] = kek
		k.mu.Unlock()
		return kek, nil
	})
	if err != nil {
		return nil, err
	}
	kek := v.(*registry.KEK)
	return kek, k.checkKEK(rk, kek)
}

func (k *Keyring) loadKEK(ctx context.Context, rk *Rule, read bool) (*registry.KEK, error) {
	kek, err := k.dekRegistry.KEK(ctx, rk.kekName, read)
	if err == nil {
		if read && kek.Deleted && !k.readDeleted {
			return nil, fmt.Errorf("%w: KEK %q was deleted", ErrKeyShredded, rk.kekName)
		}
		return &kek, nil
	}
	if !errors.Is(err, registry.ErrNotFound) {
		return nil, fmt.Errorf("%w: get KEK: %w", ErrRegistry, err)
	}
	if read {
		return nil, fmt.Errorf("%w: %q (%w)", ErrKEKNotFound, rk.kekName, ErrKeyShredded)
	}
	if rk.kmsType == "" || rk.kmsKeyID == "" {
		return nil, fmt.Errorf("%w: %q, and the rule lacks %s/%s to create it", ErrKEKNotFound, rk.kekName, ParamKMSType, ParamKMSKeyID)
	}
	kek, err = k.dekRegistry.CreateKEK(ctx, registry.KEK{Name: rk.kekName, KmsType: rk.kmsType, KmsKeyID: rk.kmsKeyID})
	if err == nil {
		return &kek, nil
	}
	if !errors.Is(err, registry.ErrConflict) {
		return nil, fmt.Errorf("%w: register KEK: %w", ErrRegistry, err)
	}
	kek, err = k.dekRegistry.KEK(ctx, rk.kekName, false)
	if err != nil {
		return nil, fmt.Errorf("%w: get KEK after conflict: %w", ErrRegistry, err)
	}
	return &kek, nil
}

func (k *Keyring) checkKEK(rk *Rule, kek *registry.KEK) error {
	if rk.kmsType != "" && rk.kmsType != kek.KmsType {
		return fmt.Errorf("%w: KEK %q has kms type %q, rule says %q", ErrInvalidRule, kek.Name, kek.KmsType, rk.kmsType)
	}
	if rk.kmsKeyID != "" && rk.kmsKeyID != kek.KmsKeyID {
		return fmt.Errorf("%w: KEK %q has kms key id %q, rule says %q", ErrInvalidRule, kek.Name, kek.KmsKeyID, rk.kmsKeyID)
	}
	return nil
}

// kekAEAD wraps and unwraps DEKs with the KEK's key, trying the alternate
// key ids (KEK kmsProps, else rule config) in order.
func (k *Keyring) kekAEAD(kek *registry.KEK) *kekWrapper {
	ids := []string{kek.KmsKeyID}
	alt, ok := kek.KmsProps[ParamAlternateKMSKeyIDs]
	if !ok {
		alt = k.config[ParamAlternateKMSKeyIDs]
	}
	for _, id := range strings.Split(alt, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	return &kekWrapper{k: k, kekName: kek.Name, kmsType: kek.KmsType, ids: ids}
}

type kekWrapper struct {
	k                *Keyring
	kekName, kmsType string
	ids              []string
}

// call runs one KMS operation for key id under the keyring's KMS deadline:
// building (or finding) the key's AEAD, then op with it. Each is reported
// to Hooks.KMSCall. reached is false when op never ran (no AEAD).
func (w *kekWrapper) call(ctx context.Context, name, id string, op func(context.Context, tink.AEAD) ([]byte, error)) (out []byte, reached bool, err error) {
	if w.k.kmsTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.k.kmsTimeout)
		defer cancel()
	}
	start := time.Now()
	a, built, err := w.k.kms.AEADContext(ctx, kms.KeyURI(w.kmsType, id), w.k.config)
	if h := w.k.hooks.KMSCall; h != nil && built {
		h("aead", w.kmsType, w.kekName, time.Since(start), err)
	}
	if err != nil {
		return nil, false, err
	}
	start = time.Now()
	out, err = op(ctx, a)
	if h := w.k.hooks.KMSCall; h != nil {
		h(name, w.kmsType, w.kekName, time.Since(start), err)
	}
	return out, true, err
}

func (w *kekWrapper) encrypt(ctx context.Context, plaintext []byte) ([]byte, error) {
	var errs []error
	for _, id := range w.ids {
		ct, _, err := w.call(ctx, "wrap", id, func(ctx context.Context, a tink.AEAD) ([]byte, error) {
			return kms.Encrypt(ctx, a, plaintext, nil)
		})
		if err == nil {
			return ct, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("%w: wrap DEK: %w", ErrKMSUnavailable, errors.Join(errs...))
}

func (w *kekWrapper) decrypt(ctx context.Context, ciphertext []byte) ([]byte, error) {
	var errs []error
	reached := false
	for _, id := range w.ids {
		pt, ran, err := w.call(ctx, "unwrap", id, func(ctx context.Context, a tink.AEAD) ([]byte, error) {
			return kms.Decrypt(ctx, a, ciphertext, nil)
		})
		if err == nil {
			return pt, nil
		}
		var netErr net.Error
		if ran && !errors.As(err, &netErr) && !errors.Is(err, kms.ErrUnavailable) {
			reached = true // the KMS answered and refused
		}
		errs = append(errs, err)
	}
	joined := errors.Join(errs...)
	switch {
	case errors.Is(joined, kms.ErrKeyShredded):
		return nil, fmt.Errorf("unwrap DEK: %w", joined)
	case !reached:
		if errors.Is(joined, kms.ErrUnavailable) {
			return nil, fmt.Errorf("unwrap DEK: %w", joined)
		}
		return nil, fmt.Errorf("%w: unwrap DEK: %w", ErrKMSUnavailable, joined)
	}
	return nil, fmt.Errorf("%w: %w", ErrDEKUnwrapFailed, joined)
}

// installWrite makes e the DEK new ciphertexts of key use, attaching the
// usage counter of its version (kept across reloads of that version).
func (k *Keyring) installWrite(key writeKey, e *DEK) {
	uk := dekKey{key.kek, key.subject, key.algorithm, e.version}
	k.mu.Lock()
	defer k.mu.Unlock()
	u := k.uses[uk]
	top := k.top[key]
	if u == nil {
		u = &usage{}
		if e.version <= top-keptCounters {
			// Its counter was dropped: a lagging load may bring an old
			// version back, and it must not get a fresh budget.
			u.n.Store(math.MaxInt64 / 2)
		} else {
			k.uses[uk] = u
		}
	}
	if e.version > top {
		k.top[key] = e.version
		for v := max(top-keptCounters+1, 0); v <= e.version-keptCounters; v++ {
			delete(k.uses, dekKey{key.kek, key.subject, key.algorithm, v})
		}
	}
	e.uses = u
	k.write[key] = e
}

// keptCounters is how many recent versions per write key keep their usage
// counter; older versions count as spent.
const keptCounters = 4

// maxNextVersions bounds how many versions one encryption may move on
// (each was spent by concurrent writers before this one got a slot); only
// tiny limits under heavy contention come near it.
const maxNextVersions = 100

// Use reserves one encryption under write DEK e and returns the DEK to
// encrypt with: e, or when e's version has reached the rule's usage limit
// the next version (another producer's if it exists, else one this call
// creates). No version is used more than the limit by this keyring. It
// costs one atomic add when the rule has a limit or Hooks.Encryptions is
// set, and nothing otherwise.
func (k *Keyring) Use(ctx context.Context, rk *Rule, subject string, e *DEK) (*DEK, error) {
	if !k.Counts(rk) {
		return e, nil
	}
	return k.use(ctx, rk, subject, e)
}

// Counts reports whether encryptions under rk are counted (a usage limit,
// or Hooks.Encryptions): when false, Use is a no-op the hot path can skip.
func (k *Keyring) Counts(rk *Rule) bool { return rk.maxEncryptions+k.counting != 0 } // both ≥ 0

func (k *Keyring) use(ctx context.Context, rk *Rule, subject string, e *DEK) (*DEK, error) {
	if e.uses == nil {
		return e, nil // not a write DEK of this keyring
	}
	for range maxNextVersions {
		n := e.uses.n.Add(1)
		if rk.maxEncryptions == 0 || n <= rk.maxEncryptions {
			if n%EncryptionBatch == 0 && k.hooks.Encryptions != nil {
				e.uses.reported.Add(EncryptionBatch)
				k.hooks.Encryptions(rk.kekName, subject, rk.algorithm, e.version, EncryptionBatch)
			}
			return e, nil
		}
		next, err := k.nextWriteDEK(ctx, rk, subject, e)
		if err != nil {
			return nil, err
		}
		e = next
	}
	return nil, fmt.Errorf("%w: KEK %q, subject %q: %d versions spent by concurrent writers during one encryption", ErrDEKExhausted, rk.kekName, subject, maxNextVersions)
}

// spent reports whether e's version has no encryption left under rk.
func spent(rk *Rule, e *DEK) bool {
	return rk.maxEncryptions > 0 && e.uses != nil && e.uses.n.Load() >= rk.maxEncryptions
}

// nextWriteDEK replaces write DEK old, whose budget is spent, by the next
// version. Concurrent callers that spent the same version share one
// registry round (single-flight); callers arriving after it find the new
// DEK in the cache.
func (k *Keyring) nextWriteDEK(ctx context.Context, rk *Rule, subject string, old *DEK) (*DEK, error) {
	key := writeKey{rk.kekName, subject, rk.algorithm, rk.rotated()}
	k.mu.RLock()
	cur := k.write[key]
	k.mu.RUnlock()
	if cur != nil && cur.version > old.version && !spent(rk, cur) {
		rk.hot.Store(&hotDEK{k: k, subject: subject, e: cur})
		return cur, nil
	}
	// One flight per write key, whatever version its callers spent: a
	// caller that joins a flight for an older version may get a spent DEK
	// back, and Use then moves on again.
	v, err, _ := k.flight.Do(fmt.Sprintf("n\x00%s\x00%s\x00%s", key.kek, key.subject, key.algorithm), func() (any, error) {
		k.mu.RLock()
		cur := k.write[key]
		k.mu.RUnlock()
		if cur != nil && cur.version > old.version && !spent(rk, cur) {
			return cur, nil
		}
		e, err := k.loadNextDEK(ctx, rk, subject, old.version)
		if err != nil {
			return nil, err
		}
		k.mu.RLock()
		cur = k.write[key]
		k.mu.RUnlock()
		if cur != nil && cur.version > e.version && !spent(rk, cur) {
			return cur, nil // a concurrent flight moved further while we loaded
		}
		k.installWrite(key, e)
		k.retire(rk, subject, old)
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: KEK %q, subject %q, version %d reached %s=%d: %w", ErrDEKExhausted, rk.kekName, subject, old.version, ParamDEKMaxEncryptions, rk.maxEncryptions, err)
	}
	e := v.(*DEK)
	rk.hot.Store(&hotDEK{k: k, subject: subject, e: e})
	return e, nil
}

// retire reports the encryptions of a spent version not yet reported.
func (k *Keyring) retire(rk *Rule, subject string, old *DEK) {
	if k.hooks.Encryptions == nil || old.uses == nil {
		return
	}
	used := min(old.uses.n.Load(), rk.maxEncryptions)
	if rest := used - old.uses.reported.Swap(used); rest > 0 {
		k.hooks.Encryptions(rk.kekName, subject, rk.algorithm, old.version, rest)
	}
}

// loadNextDEK returns the version after spentVersion: the registry's
// latest when another producer already moved past spentVersion (and it is
// neither expired nor spent here), else a new version registered now.
func (k *Keyring) loadNextDEK(ctx context.Context, rk *Rule, subject string, spentVersion int) (*DEK, error) {
	kek, dek, found, err := k.latestDEK(ctx, rk, subject)
	if err != nil {
		return nil, err
	}
	if found && dek.Version > spentVersion && !rk.expiredAt(k.now(), dek.Ts) {
		k.mu.RLock()
		u := k.uses[dekKey{rk.kekName, subject, rk.algorithm, dek.Version}]
		k.mu.RUnlock()
		if u == nil || u.n.Load() < rk.maxEncryptions {
			return k.entryFor(ctx, kek, &dek, nil)
		}
	}
	version := spentVersion + 1
	if found && dek.Version >= version {
		version = dek.Version + 1
	}
	created, raw, err := k.createDEK(ctx, kek, rk, subject, version, "usage-limit")
	if err != nil {
		return nil, err
	}
	return k.entryFor(ctx, kek, created, raw)
}

// Seal encrypts one value under DEK e and appends the stored form to
// dst: raw for bytes, padded base64 for strings, with the 0x00+version
// prefix when the rule rotates DEKs. tmp is scratch space for the raw
// ciphertext of strings; the grown tmp is returned for reuse.
// ad is empty in Confluent's format; with Options.BindCiphertexts it names
// the subject and field.
func Seal(e *DEK, rk *Rule, asString bool, plaintext, ad, dst, tmp []byte, nonces *NonceSource) (out, tmpOut []byte, err error) {
	raw := dst
	if asString {
		raw = tmp[:0]
	}
	if rk.rotated() {
		raw = append(raw, 0)
		raw = binary.BigEndian.AppendUint32(raw, uint32(e.version))
	}
	raw, err = e.cipher.seal(raw, plaintext, ad, nonces)
	if err != nil {
		return nil, tmp, fmt.Errorf("%w: %v", ErrInvalidRule, err)
	}
	if asString {
		return base64.StdEncoding.AppendEncode(dst, raw), raw, nil
	}
	return raw, tmp, nil
}

// ParseStored decodes a stored value (base64 for strings) and splits off
// the DEK version prefix when the rule rotates DEKs (version 0 otherwise).
// tmp is scratch space for the decoded bytes; the grown tmp is returned.
func ParseStored(rk *Rule, asString bool, stored, tmp []byte) (ct []byte, version int, tmpOut []byte, err error) {
	ct = stored
	if asString {
		tmp, err = base64.StdEncoding.AppendDecode(tmp[:0], stored)
		if err != nil {
			return nil, 0, tmp, fmt.Errorf("%w: not base64", ErrInvalidCiphertext)
		}
		ct = tmp
	}
	if rk.rotated() {
		if len(ct) < 5 || ct[0] != 0 {
			return nil, 0, tmp, fmt.Errorf("%w: missing DEK version prefix", ErrInvalidCiphertext)
		}
		return ct[5:], int(binary.BigEndian.Uint32(ct[1:5])), tmp, nil
	}
	return ct, 0, tmp, nil
}

// MaybeStored is a cheap, allocation-free test of whether stored could be
// a value Seal wrote under rk: long enough for the algorithm's nonce and
// tag (and the version prefix when the rule rotates DEKs) and, for
// strings, well-formed padded base64. It says nothing about the key: Opens
// decides.
func MaybeStored(rk *Rule, asString bool, stored []byte) bool {
	minRaw := gcmNonceSize + gcmTagSize
	if rk.algorithm == AES256SIV {
		minRaw = 16
	}
	if rk.rotated() {
		minRaw += 5
	}
	if !asString {
		return len(stored) >= minRaw
	}
	if len(stored)%4 != 0 || len(stored) < base64.StdEncoding.EncodedLen(minRaw) {
		return false
	}
	for i, c := range stored {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
		case c == '=' && i >= len(stored)-2:
		default:
			return false
		}
	}
	return true
}

// Opens reports whether ct authenticates under DEK e, appending the
// plaintext to dst. Unlike Open it builds no error, so probing plaintext
// that is not ciphertext costs no allocation with AES-GCM DEKs.
func Opens(e *DEK, ct, ad, dst []byte) ([]byte, bool) {
	if e.cipher.daead == nil && len(ct) < gcmNonceSize+gcmTagSize {
		return dst, false
	}
	out, err := e.cipher.open(dst, ct, ad)
	if err != nil {
		return dst, false
	}
	return out, true
}

// Open appends the plaintext of ciphertext ct to dst.
func Open(e *DEK, ct, ad, dst []byte) ([]byte, error) {
	pt, err := e.cipher.open(dst, ct, ad)
	if errors.Is(err, ErrInvalidCiphertext) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecryptionFailed, err)
	}
	return pt, nil
}
