package tagseal

import (
	"context"
	"time"

	"github.com/tagseal/tagseal/internal/keyring"
	"github.com/tagseal/tagseal/registry"
)

// Observer receives what a serde does with keys, registries and KMSs, for
// metrics and tracing. It is any value that implements one or more of the
// hook interfaces below (KMSCallHook, RegistryCallHook, DEKCacheHook,
// DEKCreatedHook, EncryptionsHook); the serde checks which once, when it
// is built, and calls only those. A nil Observer, or a hook not
// implemented, costs nothing. New hook interfaces may be added later
// without breaking existing observers. Hooks are called concurrently and
// some on the record path: keep them quick and never block.
//
// Events carry names (KMS type, KEK name, subject, operation) and
// durations, never key material or tagged plaintext.
type Observer any

// KMSCallHook observes every KMS call: building a key's AEAD, wrapping a
// new DEK, unwrapping one.
type KMSCallHook interface {
	OnKMSCall(KMSCall)
}

// RegistryCallHook observes every Schema Registry and DEK Registry call.
type RegistryCallHook interface {
	OnRegistryCall(RegistryCall)
}

// DEKCacheHook observes DEK lookups: answered from memory (Hit) or loaded
// from the DEK Registry and KMS. It runs once per record and rule.
type DEKCacheHook interface {
	OnDEKCache(DEKCacheLookup)
}

// DEKCreatedHook observes the DEK versions a serializer registers.
type DEKCreatedHook interface {
	OnDEKCreated(DEKCreated)
}

// EncryptionsHook observes encryptions per DEK version, in batches of
// EncryptionBatch (and the rest of a version when a usage limit retires
// it), so counting costs one atomic add per value and no call.
type EncryptionsHook interface {
	OnEncryptions(Encryptions)
}

// EncryptionBatch is how many encryptions one Encryptions event reports,
// except the last one of a retired version.
const EncryptionBatch = keyring.EncryptionBatch

// KMSCall is one KMS call.
type KMSCall struct {
	// Op is "aead" (building the AEAD for a key, which may log in),
	// "wrap" or "unwrap".
	Op string
	// KMSType is the KEK's KMS type ("hcvault", "aws-kms", "local-kms", …).
	KMSType string
	// KEK is the KEK's name in the DEK Registry.
	KEK      string
	Duration time.Duration
	Err      error
}

// RegistryCall is one Schema Registry or DEK Registry call.
type RegistryCall struct {
	// Op is the registry.SchemaRegistry or registry.DEKRegistry method
	// name, such as "Latest", "SchemaByID", "DEK" or "CreateDEK".
	Op       string
	Duration time.Duration
	Err      error
}

// DEKCacheLookup is one DEK lookup by a serializer (Write) or
// deserializer.
type DEKCacheLookup struct {
	KEK, Subject, Algorithm string
	Write, Hit              bool
}

// DEKCreated is a DEK version a serializer registered. Reason is "first"
// (the subject's first DEK), "expired" (encrypt.dek.expiry.days) or
// "usage-limit" (encrypt.dek.max.encryptions).
type DEKCreated struct {
	KEK, Subject, Algorithm string
	Version                 int
	Reason                  string
}

// Encryptions is Count more values encrypted under one DEK version.
type Encryptions struct {
	KEK, Subject, Algorithm string
	Version                 int
	Count                   int64
}

// hooksOf turns an Observer into the keyring's hooks; unimplemented hooks
// stay nil.
func hooksOf(o Observer) keyring.Hooks {
	var h keyring.Hooks
	if x, ok := o.(KMSCallHook); ok {
		h.KMSCall = func(op, kmsType, kek string, d time.Duration, err error) {
			x.OnKMSCall(KMSCall{Op: op, KMSType: kmsType, KEK: kek, Duration: d, Err: err})
		}
	}
	if x, ok := o.(DEKCacheHook); ok {
		h.DEKCache = func(kek, subject, algorithm string, write, hit bool) {
			x.OnDEKCache(DEKCacheLookup{KEK: kek, Subject: subject, Algorithm: algorithm, Write: write, Hit: hit})
		}
	}
	if x, ok := o.(DEKCreatedHook); ok {
		h.DEKCreated = func(kek, subject, algorithm string, version int, reason string) {
			x.OnDEKCreated(DEKCreated{KEK: kek, Subject: subject, Algorithm: algorithm, Version: version, Reason: reason})
		}
	}
	if x, ok := o.(EncryptionsHook); ok {
		h.Encryptions = func(kek, subject, algorithm string, version int, n int64) {
			x.OnEncryptions(Encryptions{KEK: kek, Subject: subject, Algorithm: algorithm, Version: version, Count: n})
		}
	}
	return h
}

// observedSchemas and observedDEKs report every registry call to a
// RegistryCallHook. They wrap the registries only when one is set.
type observedSchemas struct {
	r registry.SchemaRegistry
	h RegistryCallHook
}

func (o observedSchemas) report(op string, start time.Time, err error) {
	o.h.OnRegistryCall(RegistryCall{Op: op, Duration: time.Since(start), Err: err})
}

func (o observedSchemas) SchemaByID(ctx context.Context, subject string, id int) (registry.Schema, error) {
	start := time.Now()
	s, err := o.r.SchemaByID(ctx, subject, id)
	o.report("SchemaByID", start, err)
	return s, err
}

func (o observedSchemas) SchemaByGUID(ctx context.Context, guid string) (registry.Schema, error) {
	start := time.Now()
	s, err := o.r.SchemaByGUID(ctx, guid)
	o.report("SchemaByGUID", start, err)
	return s, err
}

func (o observedSchemas) Latest(ctx context.Context, subject string) (registry.SubjectSchema, error) {
	start := time.Now()
	s, err := o.r.Latest(ctx, subject)
	o.report("Latest", start, err)
	return s, err
}

func (o observedSchemas) LatestWithMetadata(ctx context.Context, subject string, metadata map[string]string) (registry.SubjectSchema, error) {
	start := time.Now()
	s, err := o.r.LatestWithMetadata(ctx, subject, metadata)
	o.report("LatestWithMetadata", start, err)
	return s, err
}

func (o observedSchemas) Version(ctx context.Context, subject string, version int, includeDeleted bool) (registry.SubjectSchema, error) {
	start := time.Now()
	s, err := o.r.Version(ctx, subject, version, includeDeleted)
	o.report("Version", start, err)
	return s, err
}

func (o observedSchemas) Register(ctx context.Context, subject string, s registry.Schema, normalize bool) (registry.SubjectSchema, error) {
	start := time.Now()
	out, err := o.r.Register(ctx, subject, s, normalize)
	o.report("Register", start, err)
	return out, err
}

func (o observedSchemas) Lookup(ctx context.Context, subject string, s registry.Schema, normalize bool) (registry.SubjectSchema, error) {
	start := time.Now()
	out, err := o.r.Lookup(ctx, subject, s, normalize)
	o.report("Lookup", start, err)
	return out, err
}

type observedDEKs struct {
	r registry.DEKRegistry
	h RegistryCallHook
}

func (o observedDEKs) report(op string, start time.Time, err error) {
	o.h.OnRegistryCall(RegistryCall{Op: op, Duration: time.Since(start), Err: err})
}

func (o observedDEKs) KEK(ctx context.Context, name string, includeDeleted bool) (registry.KEK, error) {
	start := time.Now()
	k, err := o.r.KEK(ctx, name, includeDeleted)
	o.report("KEK", start, err)
	return k, err
}

func (o observedDEKs) CreateKEK(ctx context.Context, k registry.KEK) (registry.KEK, error) {
	start := time.Now()
	out, err := o.r.CreateKEK(ctx, k)
	o.report("CreateKEK", start, err)
	return out, err
}

func (o observedDEKs) DEK(ctx context.Context, kek, subject, algorithm string, version int, includeDeleted bool) (registry.DEK, error) {
	start := time.Now()
	d, err := o.r.DEK(ctx, kek, subject, algorithm, version, includeDeleted)
	o.report("DEK", start, err)
	return d, err
}

func (o observedDEKs) CreateDEK(ctx context.Context, kek string, d registry.DEK) (registry.DEK, error) {
	start := time.Now()
	out, err := o.r.CreateDEK(ctx, kek, d)
	o.report("CreateDEK", start, err)
	return out, err
}

func (o observedDEKs) DeleteKEK(ctx context.Context, name string, permanent bool) error {
	start := time.Now()
	err := o.r.DeleteKEK(ctx, name, permanent)
	o.report("DeleteKEK", start, err)
	return err
}

func (o observedDEKs) DeleteDEK(ctx context.Context, kek, subject, algorithm string, version int, permanent bool) error {
	start := time.Now()
	err := o.r.DeleteDEK(ctx, kek, subject, algorithm, version, permanent)
	o.report("DeleteDEK", start, err)
	return err
}

func (o observedDEKs) DEKSubjects(ctx context.Context, kek string, includeDeleted bool) ([]string, error) {
	start := time.Now()
	out, err := o.r.DEKSubjects(ctx, kek, includeDeleted)
	o.report("DEKSubjects", start, err)
	return out, err
}

func (o observedDEKs) DEKVersions(ctx context.Context, kek, subject, algorithm string, includeDeleted bool) ([]int, error) {
	start := time.Now()
	out, err := o.r.DEKVersions(ctx, kek, subject, algorithm, includeDeleted)
	o.report("DEKVersions", start, err)
	return out, err
}
