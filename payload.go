package tagseal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tagseal/tagseal/internal/keyring"
	"github.com/tagseal/tagseal/registry"
	"github.com/tagseal/tagseal/tags"
)

// Payload-level API: rewrite records that are already encoded and framed,
// without decoding them to values. This is what a Kafka proxy (package
// proxy) or any other byte-level relay needs: the same plans, DEKs and
// one-pass byte walk as Serialize and Deserialize, minus the encoding.

// SealPayload encrypts the tagged fields of payload, a record key or value
// written by a schema-registry-aware client without field encryption:
// Confluent framing (0x00 + schema id [+ Protobuf message indexes], 0x01 +
// GUID, or the GUID in the __value_schema_id / __key_schema_id header) and
// the plain Avro, JSON or Protobuf encoding. It returns the same framing
// with every tagged field sealed exactly as Serialize would seal it with
// that schema id (same rules, DEKs and ciphertext format), and
// ENCRYPT_PAYLOAD rules applied. headers are only read.
//
// The writer schema is fetched subject-qualified (the subject from the
// topic through SubjectNameStrategy); a GUID is resolved to the subject's
// version with that schema content. Unless AllowEncryptionDowngrade is
// set, a schema that protects less than the subject's latest version is
// refused with ErrEncryptionDowngrade, as Serialize refuses it.
//
// Records that are already encrypted are left alone, field by field: a
// tagged value that opens under the DEK its outermost rule would seal it
// with (any version up to the current one) is ciphertext a CSFLE client
// wrote, and is kept as it is; an ENCRYPT_PAYLOAD record whose body opens
// is returned unchanged. Confluent's ciphertexts carry no marker, so this
// authenticated probe is the only reliable test: a plaintext cannot pass it
// without the DEK.
//
// SealPayload returns payload itself (not a copy) when nothing changed: no
// rule runs on write, every tagged value was sealed already, or the
// payload is empty (a tombstone).
// Errors wrap ErrUnknownMagicByte or ErrShortPayload (not framed),
// ErrSchemaNotFound (unknown id for the subject), ErrEncryptionDowngrade,
// ErrMalformedPayload, or a key error (ErrKMSUnavailable, …).
func (s *Serializer) SealPayload(ctx context.Context, topic string, headers []Header, payload []byte) ([]byte, error) {
	if len(payload) == 0 {
		return payload, nil
	}
	fr, err := readFrame(s.serdeType, headers, payload)
	if err != nil {
		return nil, err
	}
	t, err := s.sealTarget(ctx, topic, fr.ref)
	if err != nil {
		return nil, err
	}
	p := t.plan
	if !p.sealsFields && !writesPayload(p) {
		return payload, nil
	}
	var indexes []int
	if t.protobuf {
		if indexes, err = fr.messageIndexes(); err != nil {
			return nil, err
		}
	}
	body := payload[fr.n:]
	if writesPayload(p) && s.payloadSealed(ctx, p, t.subject, body) {
		return payload, nil
	}
	out := make([]byte, 0, fr.n+p.sizeHint(len(body)))
	out = append(out, payload[:fr.n]...)
	if len(p.rules.Payload) == 0 {
		fc := s.crypter(ctx, p, t.subject, true)
		fc.keepSealed = true
		out, err = p.plan.rewrite(indexes, body, out, fc, true)
		fc.release()
		if err != nil {
			return nil, err
		}
		p.lastSize.Store(int64(len(out)))
		if bytes.Equal(out, payload) {
			return payload, nil // every tagged value was sealed already
		}
		return out, nil
	}
	if p.sealsFields {
		fc := s.crypter(ctx, p, t.subject, true)
		fc.keepSealed = true
		body, err = p.plan.rewrite(indexes, body, nil, fc, true)
		fc.release()
		if err != nil {
			return nil, err
		}
	}
	if body, err = s.encryptPayload(ctx, p, t.subject, body); err != nil {
		return nil, err
	}
	return append(out, body...), nil
}

// writesPayload reports whether an ENCRYPT_PAYLOAD rule runs on write.
func writesPayload(p *compiled) bool {
	for i := range p.rules.Payload {
		if p.rules.Payload[i].Write {
			return true
		}
	}
	return false
}

// payloadSealed reports whether body already opens under the outermost
// write-active ENCRYPT_PAYLOAD rule's current DEK.
func (s *Serializer) payloadSealed(ctx context.Context, p *compiled, subject string, body []byte) bool {
	for i := len(p.rules.Payload) - 1; i >= 0; i-- {
		if !p.rules.Payload[i].Write {
			continue
		}
		rk := p.payloadKeys[i]
		if rk.Err() != nil || !keyring.MaybeStored(rk, false, body) {
			return false
		}
		ct, version, _, err := keyring.ParseStored(rk, false, body, nil)
		if err != nil {
			return false
		}
		e, err := s.keys.WriteDEK(ctx, rk, subject)
		if err != nil {
			return false
		}
		if version != 0 && version != e.Version() {
			if version < 1 || version > e.Version() {
				return false
			}
			if e, err = s.keys.ReadDEK(ctx, rk, subject, version); err != nil {
				return false
			}
		}
		_, ok := keyring.Opens(e, ct, associatedData(nil, s.bind, subject, ""), nil)
		return ok
	}
	return false
}

// sealKey names a SealPayload resolution: the topic decides the subject.
type sealKey struct {
	topic string
	ref   schemaRef
}

// sealEntry is a resolved writer schema for SealPayload: subject, plan and
// whether it is Protobuf; it is checked against the subject's latest
// version again after LatestSchemaTTL.
type sealEntry struct {
	subject  string
	plan     *compiled
	protobuf bool
	expires  time.Time // zero: never
}

// sealTarget resolves the writer schema of a framed payload for
// SealPayload and runs the downgrade guard on it.
func (s *Serializer) sealTarget(ctx context.Context, topic string, ref schemaRef) (*sealEntry, error) {
	cache := &s.seals
	key := sealKey{topic, ref}
	if v, ok := cache.Load(key); ok {
		e := v.(*sealEntry)
		if e.expires.IsZero() || s.keys.Now().Before(e.expires) {
			return e, nil
		}
	}
	written, err := s.writerSchema(ctx, topic, ref)
	if err != nil {
		return nil, err
	}
	writer, id := written.Schema, written.ID
	subject, err := s.subject(ctx, topic, writer)
	if err != nil {
		return nil, err
	}
	if id == 0 {
		// A GUID names schema content, not a subject version: the rules
		// are those of the subject's version with that content, and a
		// subject without one has none to seal with.
		return nil, fmt.Errorf("%w: schema GUID %s under subject %s", ErrSchemaNotFound, ref.guid, subject)
	}
	if s.guarded() {
		if err := s.checkDowngrade(ctx, subject, &registry.SubjectSchema{Schema: writer, Subject: subject, ID: id}); err != nil {
			return nil, err
		}
	}
	p, err := s.plan(ctx, planKey{subject: subject, writer: ref}, &writer, &writer)
	if err != nil {
		return nil, err
	}
	e := &sealEntry{subject: subject, plan: p, protobuf: writer.SchemaType == TypeProtobuf}
	if s.guarded() {
		if s.latestTTL < 0 {
			return e, nil
		}
		e.expires = s.keys.Now().Add(s.latestTTL)
	}
	cache.Store(key, e)
	return e, nil
}

// OpenPayload decrypts the tagged fields of payload, a record key or value
// as stored, and returns it in the same framing with those fields in clear:
// the bytes a schema-registry-aware client without field encryption reads.
// mayOpen says which KEKs (by name) may be used; a field or payload rule
// whose KEK it refuses stays ciphertext (and so do the rules inside it).
// nil mayOpen allows every KEK. headers are only read.
//
// A rule that cannot decrypt follows its onFailure read action, as
// Deserialize does: ERROR returns the error, NONE leaves the value as
// stored. OpenPayload returns payload itself when nothing was decrypted
// (no rule, or none allowed). Errors are those of Deserialize.
func (d *Deserializer) OpenPayload(ctx context.Context, topic string, headers []Header, payload []byte, mayOpen func(kekName string) bool) ([]byte, error) {
	if len(payload) == 0 {
		return payload, nil
	}
	src, fr, indexes, body, err := d.open(ctx, topic, headers, payload)
	if err != nil {
		return nil, err
	}
	p, subject := src.plan, src.subject
	if !p.rules.HasFieldRules() && len(p.rules.Payload) == 0 {
		return payload, nil
	}
	for i := len(p.rules.Payload) - 1; i >= 0; i-- {
		r := &p.rules.Payload[i]
		if !r.Read {
			continue
		}
		if mayOpen != nil && !mayOpen(p.payloadKeys[i].KEKName()) {
			return payload, nil // the fields are inside the closed payload
		}
		out, err := d.decryptWith(ctx, p.payloadKeys[i], subject, body)
		if err != nil {
			if err := ruleFailure(r.OnReadFailure, err, "", r.Name); err != nil {
				return nil, err
			}
			return payload, nil
		}
		body = out
	}
	out := make([]byte, 0, fr.n+len(body))
	out = append(out, payload[:fr.n]...)
	if !p.rules.HasFieldRules() {
		return append(out, body...), nil
	}
	fc := d.crypter(ctx, p, subject, false)
	fc.allow = mayOpen
	out, err = p.plan.rewrite(indexes, body, out, fc, false)
	fc.release()
	if err != nil {
		return nil, err
	}
	if bytes.Equal(out, payload) {
		return payload, nil // nothing was opened
	}
	return out, nil
}

// EncryptingRules describes what the latest version of a topic's subject
// encrypts, as a relay needs to know before touching its records.
type EncryptingRules struct {
	// Subject is the subject the topic maps to ("" when the subject name
	// strategy needs each record's schema: then every record must be
	// looked at, and Unknown is set).
	Subject string
	// Unknown is set when the subject cannot be named from the topic
	// alone (record name strategies).
	Unknown bool
	// Encrypts is set when the latest version has an ENCRYPT or
	// ENCRYPT_PAYLOAD rule that runs on write.
	Encrypts bool
	// KEKs are the KEK names of the latest version's ENCRYPT and
	// ENCRYPT_PAYLOAD rules (write or read), each once.
	KEKs []string
}

// TopicRules reports what the latest version of the subject of topic (for
// the Serializer's key or value type) encrypts. A subject without versions
// encrypts nothing. The latest version is cached for LatestSchemaTTL.
func (s *Serializer) TopicRules(ctx context.Context, topic string) (EncryptingRules, error) {
	return s.topicRules(ctx, topic)
}

// TopicRules reports what the latest version of the subject of topic (for
// the Deserializer's key or value type) encrypts, as Serializer.TopicRules.
func (d *Deserializer) TopicRules(ctx context.Context, topic string) (EncryptingRules, error) {
	return d.topicRules(ctx, topic)
}

func (c *core) topicRules(ctx context.Context, topic string) (EncryptingRules, error) {
	var out EncryptingRules
	subject, err := c.subject(ctx, topic, registry.Schema{})
	if err != nil || subject == "" {
		out.Unknown = true
		return out, nil
	}
	out.Subject = subject
	latest, err := c.latestSchema(ctx, subject, nil)
	if errors.Is(err, ErrSchemaNotFound) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("reading the latest version of subject %s: %w", subject, err)
	}
	rules := tags.FromSchema(&latest.Schema)
	for _, group := range [][]tags.Rule{rules.Field, rules.Payload} {
		for i := range group {
			r := &group[i]
			out.Encrypts = out.Encrypts || r.Write
			if r.Write || r.Read {
				if kek := keyring.ParseRule(r).KEKName(); kek != "" && !slices.Contains(out.KEKs, kek) {
					out.KEKs = append(out.KEKs, kek)
				}
			}
		}
	}
	return out, nil
}
