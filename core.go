package tagseal

import (
	"context"
	"errors"
	"fmt"
	"github.com/tagseal/tagseal/internal/keyring"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tagseal/tagseal/registry"
	"github.com/tagseal/tagseal/tags"
)

// compiled is everything derived from one (writer schema, rule schema) pair:
// the format plan, the rules and their parsed key parameters.
type compiled struct {
	plan        formatPlan
	rules       *tags.RuleSet
	fieldKeys   []*keyring.Rule // parallel to rules.Field
	payloadKeys []*keyring.Rule // parallel to rules.Payload
	// sealsFields is set when a field rule runs on write: the serializer
	// then walks every record. It is decided from the rules, not from the
	// format's own "tagged?" answer, so no planner shortcut can turn "could
	// not decide" into "nothing to encrypt".
	sealsFields bool
	lastSize    atomic.Int64
}

// The caches of a Serializer or Deserializer, and what keys each. A cache
// is keyed by everything that decides its content: registries give one id
// to identical schema text under every subject, while rules and metadata
// belong to the subject version, so nothing derived from a schema's rules
// is keyed by its id alone.
//
//	core.plans      planKey{subject, writer ref, reader id} → compiled plan, rules, rule keys
//	core.writers    writerKey{subject, ref}                 → writer schema as the subject sees it (registry.SubjectSchema):
//	                                                          an id fetched with ?subject=, a GUID's content looked up under the subject
//	core.latest     latestKey{subject, metadata}            → latest (or latest-with-metadata) version
//	core.subjects   topic                                   → subject (topic strategy only; serde type is fixed per core)
//	core.names      nameKey{schema type, schema text}       → record name, for record strategies
//	Serializer.schemas   reflect.Type → derived schema text (SchemaType is fixed per Serializer)
//	Serializer.resolved  resolveKey{subject, schema text}   → resolved schema metadata
//	Serializer.hot       topic (the subject follows from it) → last resolution and plan
//	Deserializer.hot     (topic, ref)                       → last source and plans
//	keyring.keks    kekKey{name, read}                      → KEK from the DEK Registry
//	keyring.read    dekKey{kek, subject, algorithm, version} → unwrapped DEK primitive
//	keyring.write   writeKey{kek, subject, algorithm, rotated} → DEK new ciphertexts use
//	keyring.uses    dekKey{kek, subject, algorithm, version}  → encryptions under that write DEK version (usage limit)
//	keyring.top     writeKey                                   → highest write DEK version installed (prunes uses)
//	keyring.Rule hot / hotRead  (keyring, subject, version) inside one plan's rule → last DEK
//	kms.Registry    digest(key URI, the config values the driver reads) → KEK AEAD
//
// The tests in cachekeys_test.go prove, per cache, that two entries which
// differ only in the part of the key easiest to forget do not collide.

// planKey names a compiled plan: the rules come from the subject's version
// of the writer (or reader) schema, so the subject is part of the key.
type planKey struct {
	subject string
	writer  schemaRef
	reader  int // reader schema id; 0 when the writer schema's rules apply
}

// writerKey names a writer schema as fetched for a subject: the same id
// carries different rules and metadata under different subjects.
type writerKey struct {
	subject string
	ref     schemaRef
}

// latestKey names a latest-version lookup: the subject, and the metadata
// filter of UseLatestWithMetadata in canonical form ("" for plain latest).
type latestKey struct {
	subject  string
	metadata string
}

// nameKey names a record-name lookup: the same text could parse as
// different formats.
type nameKey struct {
	schemaType string
	schema     string
}

func newLatestKey(subject string, metadata map[string]string) latestKey {
	if len(metadata) == 0 {
		return latestKey{subject: subject}
	}
	keys := make([]string, 0, len(metadata))
	for k := range metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(metadata[k])
		b.WriteByte(0)
	}
	return latestKey{subject: subject, metadata: b.String()}
}

// core is shared by Serializer and Deserializer: registry access, subject
// naming, plan cache and the keyring. Its settings are fixed when it is
// built.
type core struct {
	registry  registry.SchemaRegistry
	serdeType Type
	strategy  SubjectNameStrategy // nil: the topic strategy, memoized
	keys      *keyring.Keyring
	bind      bool

	mu    sync.RWMutex
	plans map[planKey]*compiled
	names map[nameKey]string // record name, for record strategies

	subjects  sync.Map // topic → subject, for the topic strategy
	writers   sync.Map // writerKey → *registry.SubjectSchema (immutable)
	latest    sync.Map // latestKey → *latestEntry
	latestTTL time.Duration
	now       func() time.Time
}

type latestEntry struct {
	meta    *registry.SubjectSchema
	expires time.Time
}

func newCore(reg registry.SchemaRegistry, serdeType Type, strategy SubjectNameStrategy, latestTTL time.Duration, keys Keys, readDeleted bool) (*core, error) {
	if reg == nil {
		return nil, errors.New("tagseal: schema registry missing")
	}
	dekRegistry := keys.DEKRegistry
	if dekRegistry == nil {
		var ok bool
		if dekRegistry, ok = reg.(registry.DEKRegistry); !ok {
			return nil, errors.New("tagseal: the schema registry is no DEK registry: set Keys.DEKRegistry")
		}
	}
	if h, ok := keys.Observer.(RegistryCallHook); ok {
		reg = observedSchemas{reg, h}
		dekRegistry = observedDEKs{dekRegistry, h}
	}
	c := &core{
		registry:  reg,
		serdeType: serdeType,
		strategy:  strategy,
		bind:      keys.BindCiphertexts,
		keys: keyring.New(dekRegistry, keyring.Config{RuleConfig: keys.RuleConfig, TTL: keys.DEKCacheTTL, ReadDeleted: readDeleted,
			Clock: keys.Clock, KMSTimeout: keys.KMSTimeout, Hooks: hooksOf(keys.Observer)}),
		plans:     map[planKey]*compiled{},
		names:     map[nameKey]string{},
		latestTTL: latestTTL,
	}
	c.now = c.keys.Now
	if c.latestTTL == 0 {
		c.latestTTL = DefaultLatestSchemaTTL
	}
	return c, nil
}

// subject names the subject of info (which may be empty on the read path)
// for topic.
func (c *core) subject(ctx context.Context, topic string, info registry.Schema) (string, error) {
	if c.strategy == nil {
		if s, ok := c.subjects.Load(topic); ok {
			return s.(string), nil
		}
		s, _ := TopicNameStrategy(topic, c.serdeType, info, nil)
		c.subjects.Store(topic, s)
		return s, nil
	}
	s, err := c.strategy(topic, c.serdeType, info, func() (string, error) { return c.recordName(ctx, info) })
	if err != nil {
		return "", fmt.Errorf("tagseal: subject name strategy: %w", err)
	}
	return s, nil
}

// recordName is the record name record strategies use: the Avro full name,
// the JSON Schema title or the first Protobuf message.
func (c *core) recordName(ctx context.Context, info registry.Schema) (string, error) {
	key := nameKey{info.SchemaType, info.Schema}
	c.mu.RLock()
	name, ok := c.names[key]
	c.mu.RUnlock()
	if ok {
		return name, nil
	}
	name, err := RecordName(ctx, c.registry, info)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.names[key] = name
	c.mu.Unlock()
	return name, nil
}

// RecordName returns the record name subject strategies use for a schema:
// the Avro full name, the JSON Schema title, or the first Protobuf
// message's full name. reg resolves the schema's references.
func RecordName(ctx context.Context, reg registry.SchemaRegistry, info registry.Schema) (string, error) {
	refs, err := references(ctx, reg, &info)
	if err != nil {
		return "", err
	}
	p, err := compileFormat(&info, refs, &tags.RuleSet{})
	if err != nil {
		return "", err
	}
	name := p.recordName()
	if name == "" {
		return "", fmt.Errorf("%w: record name strategies need a named schema", ErrInvalidSchema)
	}
	return name, nil
}

// references returns a schema's references, transitively, dependencies
// before dependents, each once.
func (c *core) references(ctx context.Context, info *registry.Schema) ([]reference, error) {
	return references(ctx, c.registry, info)
}

func references(ctx context.Context, reg registry.SchemaRegistry, info *registry.Schema) ([]reference, error) {
	var out []reference
	seen := map[string]bool{}
	var visit func(refs []registry.Reference, depth int) error
	visit = func(refs []registry.Reference, depth int) error {
		if depth > 32 {
			return fmt.Errorf("%w: references nested too deep", ErrInvalidSchema)
		}
		for _, ref := range refs {
			key := fmt.Sprintf("%s\x00%d", ref.Subject, ref.Version)
			if seen[key] {
				continue
			}
			seen[key] = true
			if reg == nil {
				return fmt.Errorf("%w: reference %s: no registry to resolve it", ErrSchemaNotFound, ref.Name)
			}
			meta, err := reg.Version(ctx, ref.Subject, ref.Version, true)
			if err != nil {
				return fmt.Errorf("%w: reference %s (subject %s, version %d): %v", ErrSchemaNotFound, ref.Name, ref.Subject, ref.Version, err)
			}
			if err := visit(meta.References, depth+1); err != nil {
				return err
			}
			out = append(out, reference{name: ref.Name, schema: meta.Schema.Schema})
		}
		return nil
	}
	return out, visit(info.References, 0)
}

// plan returns the compiled plan for a writer schema, with the rules and
// tags of ruleInfo (the writer itself, or the reader schema when one is
// configured). Plans are built once per key.
func (c *core) plan(ctx context.Context, key planKey, writer, ruleInfo *registry.Schema) (*compiled, error) {
	c.mu.RLock()
	p := c.plans[key]
	c.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	refs, err := c.references(ctx, writer)
	if err != nil {
		return nil, err
	}
	rules := tags.FromSchema(ruleInfo)
	fp, err := compileFormat(writer, refs, rules)
	if err != nil {
		return nil, err
	}
	p = &compiled{plan: fp, rules: rules, sealsFields: fp.tagged()}
	for i := range rules.Field {
		p.fieldKeys = append(p.fieldKeys, keyring.ParseRule(&rules.Field[i]))
		p.sealsFields = p.sealsFields || rules.Field[i].Write
	}
	for i := range rules.Payload {
		p.payloadKeys = append(p.payloadKeys, keyring.ParseRule(&rules.Payload[i]))
	}
	c.mu.Lock()
	c.plans[key] = p
	c.mu.Unlock()
	return p, nil
}

// latestSchema returns the latest schema of subject (with metadata when
// given), reusing an answer for LatestSchemaTTL.
func (c *core) latestSchema(ctx context.Context, subject string, metadata map[string]string) (*registry.SubjectSchema, error) {
	key := newLatestKey(subject, metadata)
	if v, ok := c.latest.Load(key); ok && c.latestTTL > 0 {
		if e := v.(*latestEntry); c.now().Before(e.expires) {
			return e.meta, nil
		}
	}
	var meta registry.SubjectSchema
	var err error
	if len(metadata) > 0 {
		meta, err = c.registry.LatestWithMetadata(ctx, subject, metadata)
	} else {
		meta, err = c.registry.Latest(ctx, subject)
	}
	if err != nil {
		return nil, registryErr(err, "subject "+subject)
	}
	if c.latestTTL > 0 {
		c.latest.Store(key, &latestEntry{meta: &meta, expires: c.now().Add(c.latestTTL)})
	}
	return &meta, nil
}

// ruleFailure applies a rule's failure action: NONE swallows the error
// (the value stays as it was), anything else returns it.
func ruleFailure(action tags.Action, err error, path, rule string) error {
	if path != "" {
		err = &FieldError{Path: path, Rule: rule, Err: err}
	}
	if action == tags.ActionNone {
		slog.Debug("tagseal: rule failed, onFailure NONE leaves the value as it is", "rule", rule, "field", path, "error", err)
		return nil
	}
	return err
}

// fieldCrypter is the leaf.Transformer of one record: it applies the
// plan's field rules in the record's direction. Instances are pooled and
// keep their buffers, so a record costs no allocation here; the DEKs a
// record uses are looked up once per record, not once per field.
type fieldCrypter struct {
	ctx     context.Context // the record's; keyring loads run under it
	c       *core
	p       *compiled
	subject string
	write   bool
	tmp     []byte    // ciphertext before base64, or decoded base64
	bufs    [2][]byte // alternating outputs of chained rules
	deks    []dekMemo
	nonces  keyring.NonceSource
	ad      []byte // associated data of the current field, when binding
	// keepSealed (write only) leaves a value alone when it already opens
	// under the outermost rule's DEK: SealPayload on a record a CSFLE
	// client encrypted itself.
	keepSealed bool
	probe      []byte // plaintext of a keepSealed probe, discarded
	// allow (read only), when not nil, says which KEKs may be used: a rule
	// whose KEK is not allowed stops the chain and the value stays as
	// stored (OpenPayload).
	allow func(kekName string) bool
}

// bindingLabel starts the associated data of bound ciphertexts, so they can
// never be confused with another use of the same key.
const bindingLabel = "tagseal-bind-v1\x00"

// associatedData returns what a ciphertext is bound to: nothing in
// Confluent's format; subject and field path with BindCiphertexts.
func associatedData(buf []byte, bind bool, subject, path string) []byte {
	if !bind {
		return nil
	}
	buf = append(buf[:0], bindingLabel...)
	buf = append(buf, subject...)
	buf = append(buf, 0)
	return append(buf, path...)
}

// dekMemo remembers the DEK a rule used in this record.
type dekMemo struct {
	rk      *keyring.Rule
	version int
	e       *keyring.DEK
}

var crypterPool = sync.Pool{New: func() any { return &fieldCrypter{} }}

func (c *core) crypter(ctx context.Context, p *compiled, subject string, write bool) *fieldCrypter {
	f := crypterPool.Get().(*fieldCrypter)
	f.ctx = ctx
	// Pointer stores cost write barriers while the GC runs: skip the ones
	// that would not change anything, which is the common case.
	if f.c != c {
		f.c = c
	}
	if f.p != p {
		f.p = p
	}
	if f.subject != subject {
		f.subject = subject
	}
	f.write = write
	return f
}

// release returns the crypter to the pool. It keeps its buffers and its
// last core and plan (they stay reachable only until the pool is cleared).
func (f *fieldCrypter) release() {
	f.ctx = nil
	f.keepSealed, f.allow = false, nil
	if cap(f.probe) > maxPooledBuffer {
		f.probe = nil
	}
	f.deks = f.deks[:0]
	for i := range f.bufs {
		if cap(f.bufs[i]) > maxPooledBuffer {
			f.bufs[i] = nil // do not pin very large buffers
		}
	}
	if cap(f.tmp) > maxPooledBuffer {
		f.tmp = nil
	}
	crypterPool.Put(f)
}

// writeDEK and readDEK memoize the keyring per record.
func (f *fieldCrypter) writeDEK(rk *keyring.Rule) (*keyring.DEK, error) {
	for _, m := range f.deks {
		if m.rk == rk && m.version < 0 {
			return m.e, nil
		}
	}
	e, err := f.c.keys.WriteDEK(f.ctx, rk, f.subject)
	if err == nil {
		f.deks = append(f.deks, dekMemo{rk, -1, e})
	}
	return e, err
}

// useDEK reserves one encryption under e (the rule's usage limit); when
// the keyring moves on to the next DEK version, the record's memo follows.
func (f *fieldCrypter) useDEK(rk *keyring.Rule, e *keyring.DEK) (*keyring.DEK, error) {
	next, err := f.c.keys.Use(f.ctx, rk, f.subject, e)
	if err != nil || next == e {
		return next, err
	}
	for i := range f.deks {
		if f.deks[i].rk == rk && f.deks[i].version < 0 {
			f.deks[i].e = next
		}
	}
	return next, nil
}

func (f *fieldCrypter) readDEK(rk *keyring.Rule, version int) (*keyring.DEK, error) {
	for _, m := range f.deks {
		if m.rk == rk && m.version == version {
			return m.e, nil
		}
	}
	e, err := f.c.keys.ReadDEK(f.ctx, rk, f.subject, version)
	if err == nil {
		f.deks = append(f.deks, dekMemo{rk, version, e})
	}
	return e, err
}

// Transform encrypts (write) or decrypts (read) one tagged value with every
// rule that applies, in declaration order on write and reverse on read. The
// result lives in the crypter's buffers until the next call.
func (f *fieldCrypter) Transform(path string, asString bool, rules []int, value, _ []byte) ([]byte, error) {
	if f.write && f.keepSealed && f.sealed(path, asString, rules, value) {
		return value, nil
	}
	cur, applied := value, 0
	for i := range rules {
		ri := rules[i]
		if !f.write {
			ri = rules[len(rules)-1-i]
		}
		r := &f.p.rules.Field[ri]
		if f.write && !r.Write || !f.write && !r.Read {
			continue
		}
		if f.allow != nil && !f.allow(f.p.fieldKeys[ri].KEKName()) {
			break // the outer layer stays closed, so do the inner ones
		}
		slot := applied % 2
		f.ad = associatedData(f.ad, f.c.bind, f.subject, path)
		out, err := f.apply(f.p.fieldKeys[ri], asString, cur, f.bufs[slot][:0])
		if err != nil {
			action := r.OnReadFailure
			if f.write {
				action = r.OnWriteFailure
			}
			if err := ruleFailure(action, err, path, r.Name); err != nil {
				return nil, err
			}
			if rk := f.p.fieldKeys[ri]; f.write && rk.FirstPlaintextFallback() {
				slog.Warn("tagseal: rule failed and its write action is NONE: tagged values are being written in plaintext",
					"rule", r.Name, "field", path, "error", err)
			}
			continue
		}
		f.bufs[slot] = out
		cur, applied = out, applied+1
	}
	return cur, nil
}

// sealed reports whether value already opens under the DEK of the last
// rule that would seal it (the outermost layer): then it is ciphertext a
// CSFLE client wrote, and sealing it again would make it unreadable. Only
// DEK versions up to the current write version are tried, so no input can
// make the probe ask the registry for keys that do not exist.
func (f *fieldCrypter) sealed(path string, asString bool, rules []int, value []byte) bool {
	ri := -1
	for _, i := range rules {
		if f.p.rules.Field[i].Write {
			ri = i
		}
	}
	if ri < 0 {
		return false
	}
	rk := f.p.fieldKeys[ri]
	if rk.Err() != nil || !keyring.MaybeStored(rk, asString, value) {
		return false
	}
	ct, version, tmp, err := keyring.ParseStored(rk, asString, value, f.tmp)
	f.tmp = tmp
	if err != nil {
		return false
	}
	e, err := f.writeDEK(rk)
	if err != nil {
		return false
	}
	if version != 0 && version != e.Version() {
		if version < 1 || version > e.Version() {
			return false
		}
		if e, err = f.readDEK(rk, version); err != nil {
			return false
		}
	}
	f.ad = associatedData(f.ad, f.c.bind, f.subject, path)
	var ok bool
	f.probe, ok = keyring.Opens(e, ct, f.ad, f.probe[:0])
	return ok
}

func (f *fieldCrypter) apply(rk *keyring.Rule, asString bool, value, dst []byte) ([]byte, error) {
	if err := rk.Err(); err != nil {
		return nil, err
	}
	var err error
	var out []byte
	if f.write {
		var e *keyring.DEK
		if e, err = f.writeDEK(rk); err != nil {
			return nil, err
		}
		if f.c.keys.Counts(rk) {
			if e, err = f.useDEK(rk, e); err != nil {
				return nil, err
			}
		}
		out, f.tmp, err = keyring.Seal(e, rk, asString, value, f.ad, dst, f.tmp, &f.nonces)
		return out, err
	}
	var ct []byte
	var version int
	if ct, version, f.tmp, err = keyring.ParseStored(rk, asString, value, f.tmp); err != nil {
		return nil, err
	}
	e, err := f.readDEK(rk, version)
	if err != nil {
		return nil, err
	}
	return keyring.Open(e, ct, f.ad, dst)
}

func (c *core) encryptWith(ctx context.Context, rk *keyring.Rule, subject string, value []byte) ([]byte, error) {
	if err := rk.Err(); err != nil {
		return nil, err
	}
	e, err := c.keys.WriteDEK(ctx, rk, subject)
	if err != nil {
		return nil, err
	}
	if e, err = c.keys.Use(ctx, rk, subject, e); err != nil {
		return nil, err
	}
	out, _, err := keyring.Seal(e, rk, false, value, associatedData(nil, c.bind, subject, ""), nil, nil, nil)
	return out, err
}

func (c *core) decryptWith(ctx context.Context, rk *keyring.Rule, subject string, value []byte) ([]byte, error) {
	if err := rk.Err(); err != nil {
		return nil, err
	}
	ct, version, _, err := keyring.ParseStored(rk, false, value, nil)
	if err != nil {
		return nil, err
	}
	e, err := c.keys.ReadDEK(ctx, rk, subject, version)
	if err != nil {
		return nil, err
	}
	return keyring.Open(e, ct, associatedData(nil, c.bind, subject, ""), nil)
}

// encryptPayload applies the ENCRYPT_PAYLOAD rules to the encoded message.
func (c *core) encryptPayload(ctx context.Context, p *compiled, subject string, payload []byte) ([]byte, error) {
	for i := range p.rules.Payload {
		r := &p.rules.Payload[i]
		if !r.Write {
			continue
		}
		out, err := c.encryptWith(ctx, p.payloadKeys[i], subject, payload)
		if err != nil {
			if err := ruleFailure(r.OnWriteFailure, err, "", r.Name); err != nil {
				return nil, err
			}
			continue
		}
		payload = out
	}
	return payload, nil
}

// decryptPayload reverses encryptPayload.
func (c *core) decryptPayload(ctx context.Context, p *compiled, subject string, payload []byte) ([]byte, error) {
	for i := len(p.rules.Payload) - 1; i >= 0; i-- {
		r := &p.rules.Payload[i]
		if !r.Read {
			continue
		}
		out, err := c.decryptWith(ctx, p.payloadKeys[i], subject, payload)
		if err != nil {
			if err := ruleFailure(r.OnReadFailure, err, "", r.Name); err != nil {
				return nil, err
			}
			continue
		}
		payload = out
	}
	return payload, nil
}

func registryErr(err error, what string) error {
	if errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("%w: %s: %w", ErrSchemaNotFound, what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrRegistry, what, err)
}

// sizeHint estimates the framed size of a record once its tagged values are
// encrypted, so the output buffer is allocated once: the last record's
// size with a margin, or a guess for the first.
func (p *compiled) sizeHint(encoded int) int {
	if last := int(p.lastSize.Load()); last > 0 {
		return max(last+last/8, encoded) + 16
	}
	tagged := 0
	if p.sealsFields {
		tagged = 8 // a guess at the tagged values of a first record
	}
	return encoded + encoded/3 + 48*tagged + 16
}

var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

// maxPooledBuffer bounds the buffers pooled objects keep between records.
const maxPooledBuffer = 1 << 20

func putBuffer(b *[]byte) {
	if cap(*b) <= maxPooledBuffer {
		bufferPool.Put(b)
	}
}
