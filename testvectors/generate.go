package testvectors

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	agpb "github.com/tink-crypto/tink-go/v2/proto/aes_gcm_go_proto"
	aspb "github.com/tink-crypto/tink-go/v2/proto/aes_siv_go_proto"
	tinksubtle "github.com/tink-crypto/tink-go/v2/subtle"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/google/uuid"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/formats/protobuf"
	"github.com/tagseal/tagseal/internal/entropy"
	"github.com/tagseal/tagseal/internal/leaf"
	"github.com/tagseal/tagseal/registry"
	"github.com/tagseal/tagseal/tags"
)

// Secret is the local-kms secret of every vector but the wrong-secret ones.
const Secret = "tagseal-test-vectors-v1"

const (
	topic       = "vec"
	kekPII      = "kek-pii"
	kekPCI      = "kek-pci"
	kekPayload  = "kek-payload"
	localKMS    = "local-kms"
	expiryDays  = "30"
	dekSubject  = topic + "-value"
	aes128GCM   = tagseal.AES128GCM
	aes256GCM   = tagseal.AES256GCM
	aes256SIV   = tagseal.AES256SIV
	firstDEK    = 1
	rotatedDEKs = 2
)

// variant is how a shape's rules are set up.
type variant struct {
	algorithm string
	rotation  bool
	// older: rotation where the record is written under DEK version 1 and
	// version 2 is registered afterwards, so a reader must pick the version
	// from the ciphertext prefix.
	older   bool
	payload bool
	// framing is the record's framing: "" (schema id), FramingGUID or
	// FramingGUIDHeader, with a GUID drawn from the vector's stream.
	framing string
}

func (v variant) suffix() string {
	s := strings.ToLower(strings.ReplaceAll(v.algorithm, "_", "-"))
	if v.rotation {
		s += "-rotation"
	}
	if v.older {
		s += "-older-dek"
	}
	if v.payload {
		s += "-payload"
	}
	if v.framing != "" {
		s += "-" + v.framing
	}
	return s
}

// Generate builds every vector. The output depends only on this code: key
// material and nonces come from a ChaCha8 stream seeded by the vector name.
func Generate() ([]Vector, error) {
	var out []Vector
	add := func(s shape, va variant) error {
		v, err := generate(s, va)
		if err != nil {
			return fmt.Errorf("%s: %w", vectorName(s, va), err)
		}
		out = append(out, *v)
		return nil
	}
	flats := map[string]shape{}
	for _, s := range shapes() {
		for _, alg := range []string{aes256GCM, aes256SIV} {
			if err := add(s, variant{algorithm: alg}); err != nil {
				return nil, err
			}
		}
		switch s.structure {
		case "flat":
			flats[s.format] = s
			for _, va := range []variant{
				{algorithm: aes128GCM},
				{algorithm: aes128GCM, rotation: true},
				{algorithm: aes256GCM, rotation: true},
				{algorithm: aes256SIV, rotation: true},
				{algorithm: aes256GCM, rotation: true, older: true},
				{algorithm: aes256GCM, payload: true},
				{algorithm: aes256GCM, framing: FramingGUID},
				{algorithm: aes256GCM, framing: FramingGUIDHeader},
			} {
				if err := add(s, va); err != nil {
					return nil, err
				}
			}
		case "nested":
			if err := add(s, variant{algorithm: aes128GCM}); err != nil {
				return nil, err
			}
		}
	}
	for _, format := range []string{avroFormat, jsonFormat, protoFormat} {
		negs, err := negatives(flats[format])
		if err != nil {
			return nil, err
		}
		out = append(out, negs...)
	}
	return out, nil
}

// stream is a deterministic byte source for one vector.
type stream struct{ r *rand.ChaCha8 }

func newStream(name string) *stream {
	return &stream{rand.NewChaCha8(sha256.Sum256([]byte("tagseal vectors v1 " + name)))}
}

func (s *stream) fill(b []byte) { s.r.Read(b) }

func (s *stream) bytes(n int) []byte {
	b := make([]byte, n)
	s.fill(b)
	return b
}

func encryptRule(name, tag, kek string, va variant) registry.Rule {
	params := map[string]string{
		tagseal.ParamKEKName:      kek,
		tagseal.ParamKMSType:      localKMS,
		tagseal.ParamKMSKeyID:     kek + "-key",
		tagseal.ParamDEKAlgorithm: va.algorithm,
	}
	if va.rotation {
		params[tagseal.ParamDEKExpiryDays] = expiryDays
	}
	r := registry.Rule{Name: name, Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Params: params, OnFailure: "ERROR,ERROR"}
	if tag != "" {
		r.Tags = []string{tag}
	}
	return r
}

// skeleton is the vector before serialization: schemas, rules and keys.
func skeleton(s shape, va variant, name string) *Vector {
	v := &Vector{
		Name: name, Format: s.format, Structure: s.structure, Algorithm: va.algorithm,
		Rotation: va.rotation, Payload: va.payload, Topic: topic, LocalKMSSecret: Secret,
		Plaintext: json.RawMessage(s.plaintext),
	}
	v.Description = fmt.Sprintf("%s %s: %s; %s", s.format, s.structure, s.about, describe(va))
	var refs []registry.Reference
	for i, r := range s.refs {
		v.Schemas = append(v.Schemas, Schema{Subject: r.subject, Version: 1, ID: i + 1, SchemaType: s.format, Schema: r.schema})
		refs = append(refs, registry.Reference{Name: r.name, Subject: r.subject, Version: 1})
	}
	rules := &registry.RuleSet{DomainRules: []registry.Rule{encryptRule("encrypt-pii", "PII", kekPII, va)}}
	keks := []string{kekPII}
	if s.pci {
		rules.DomainRules = append(rules.DomainRules, encryptRule("encrypt-pci", "PCI", kekPCI, va))
		keks = append(keks, kekPCI)
	}
	if va.payload {
		r := encryptRule("encrypt-payload", "", kekPayload, variant{algorithm: aes256GCM})
		r.Type = "ENCRYPT_PAYLOAD"
		rules.EncodingRules = []registry.Rule{r}
		keks = append(keks, kekPayload)
	}
	v.Schemas = append(v.Schemas, Schema{Subject: dekSubject, Version: 1, ID: len(s.refs) + 1, SchemaType: s.format,
		Schema: s.schema, References: refs, Metadata: s.metadata, RuleSet: rules})
	for _, k := range keks {
		v.KEKs = append(v.KEKs, KEK{Name: k, KMSType: localKMS, KMSKeyID: k + "-key"})
	}
	if s.format == protoFormat {
		v.MessageIndexes = s.indexes
		if v.MessageIndexes == nil {
			v.MessageIndexes = []int{0}
		}
	}
	return v
}

func describe(va variant) string {
	s := va.algorithm + " DEKs"
	switch {
	case va.older:
		s += ", rotating (30 days): written under DEK version 1, version 2 registered since"
	case va.rotation:
		s += ", rotating (30 days): version prefix, written under DEK version 2"
	}
	if va.payload {
		s += ", then the whole payload encrypted (ENCRYPT_PAYLOAD, AES256_GCM)"
	}
	switch va.framing {
	case FramingGUID:
		s += "; framed by the schema GUID (01 + GUID) instead of the id"
	case FramingGUIDHeader:
		s += "; the schema GUID in the __value_schema_id header (01 + GUID), no prefix in the value"
	}
	return s
}

// vectorName is FORMAT-STRUCTURE-VARIANT, lower case.
func vectorName(s shape, va variant) string {
	return fmt.Sprintf("%s-%s-%s", strings.ToLower(s.format), s.structure, va.suffix())
}

func generate(s shape, va variant) (*Vector, error) {
	name := vectorName(s, va)
	v := skeleton(s, va, name)
	rnd := newStream(name)
	versions := firstDEK
	if va.rotation && !va.older {
		versions = rotatedDEKs
	}
	for _, k := range v.KEKs {
		alg := va.algorithm
		if k.Name == kekPayload {
			alg = aes256GCM
		}
		for ver := 1; ver <= versions; ver++ {
			if err := addDEK(v, rnd, k.Name, alg, ver); err != nil {
				return nil, err
			}
		}
	}
	if s.format == protoFormat {
		set, err := descriptorSet(v)
		if err != nil {
			return nil, err
		}
		v.ProtoDescriptorSet = set
	}
	if va.framing != "" {
		v.Framing = va.framing
		guid := rnd.bytes(16)
		guid[6] = guid[6]&0x0f | 0x40 // a version 4, RFC 4122 variant UUID
		guid[8] = guid[8]&0x3f | 0x80
		g, err := uuid.FromBytes(guid)
		if err != nil {
			return nil, err
		}
		v.Record().GUID = g.String()
	}
	payload, headers, err := serialize(v, rnd)
	if err != nil {
		return nil, err
	}
	v.Serialized = hex.EncodeToString(payload)
	v.Headers = EncodeHeaders(headers)
	if va.older {
		for _, k := range v.KEKs {
			if err := addDEK(v, rnd, k.Name, va.algorithm, rotatedDEKs); err != nil {
				return nil, err
			}
		}
	}
	v.Expect = Expect{Outcome: "ok"}
	if err := Check(v); err != nil {
		return nil, fmt.Errorf("tagseal cannot read what it generated: %w", err)
	}
	return v, nil
}

// addDEK makes a DEK from the stream and wraps it with the local-kms KEK,
// taking the wrap nonce from the stream too.
func addDEK(v *Vector, rnd *stream, kek, algorithm string, version int) error {
	var key proto.Message
	switch algorithm {
	case aes128GCM:
		key = &agpb.AesGcmKey{KeyValue: rnd.bytes(16)}
	case aes256GCM:
		key = &agpb.AesGcmKey{KeyValue: rnd.bytes(32)}
	case aes256SIV:
		key = &aspb.AesSivKey{KeyValue: rnd.bytes(64)}
	default:
		return fmt.Errorf("algorithm %q", algorithm)
	}
	material, err := proto.MarshalOptions{Deterministic: true}.Marshal(key)
	if err != nil {
		return err
	}
	wrapped, err := wrapLocal(v.LocalKMSSecret, material, rnd.bytes(12))
	if err != nil {
		return err
	}
	v.DEKs = append(v.DEKs, DEK{KEKName: kek, Subject: dekSubject, Version: version, Algorithm: algorithm,
		EncryptedKeyMaterial: base64.StdEncoding.EncodeToString(wrapped),
		KeyMaterial:          base64.StdEncoding.EncodeToString(material)})
	return nil
}

// wrapLocal encrypts a DEK as local-kms does (SPEC.md §5), with a given
// nonce: AES-128-GCM under HKDF-SHA256(secret), nonce ‖ ciphertext ‖ tag.
func wrapLocal(secret string, dek, nonce []byte) ([]byte, error) {
	key, err := tinksubtle.ComputeHKDF("SHA256", []byte(secret), nil, nil, 16)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, dek, nil), nil
}

// serialize writes the vector's plaintext with tagseal's serializer, its
// nonces drawn from rnd, or from crypto/rand when rnd is nil, framed as
// the vector says. tagseal writes GUIDs in headers only: a GUID prefix
// replaces the id prefix of the record it writes (the body does not depend
// on the frame).
func serialize(v *Vector, rnd *stream) ([]byte, []tagseal.Header, error) {
	if rnd != nil {
		defer entropy.Override(rnd.fill)()
	}
	if v.FramingOrDefault() != FramingGUID {
		return WriteMessage(v)
	}
	idFramed := *v
	idFramed.Framing = FramingID
	payload, _, err := WriteMessage(&idFramed)
	if err != nil {
		return nil, nil, err
	}
	guid, err := uuid.Parse(v.Record().GUID)
	if err != nil {
		return nil, nil, err
	}
	return append(append([]byte{0x01}, guid[:]...), payload[5:]...), nil, nil
}

// descriptorSet returns the base64 FileDescriptorSet of the record's .proto
// and its imports, dependencies first.
func descriptorSet(v *Vector) (string, error) {
	texts, names := references(v)
	refs := make([]protobuf.Reference, len(texts))
	for i := range texts {
		refs[i] = protobuf.Reference{Name: names[i], Schema: texts[i]}
	}
	plan, err := protobuf.Compile(v.Record().Schema, refs, &tags.RuleSet{}) // no rules: the file as written
	if err != nil {
		return "", err
	}
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var visit func(fd protoreflect.FileDescriptor)
	visit = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		for i := 0; i < fd.Imports().Len(); i++ {
			visit(fd.Imports().Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	visit(plan.File())
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(set)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// A mutation turns a flat positive vector into a negative one.
type mutation struct {
	name, about, class string
	// base: the variant of the flat vector to start from.
	base variant
	// value changes the first encrypted value (as stored: base64 text or
	// raw bytes); frame changes the serialized record; secret replaces the
	// local-kms secret.
	value  func(stored []byte, asString bool) []byte
	frame  func(payload []byte) []byte
	secret string
	// schema replaces the record's schema text after the record is written
	// (by a writer that did not see the change).
	schema map[string]string // format → {old, new} as "old\x00new"
	only   string            // format, when the mutation is format-specific
}

func mutations() []mutation {
	gcm := variant{algorithm: aes256GCM}
	onRaw := func(f func(raw []byte) []byte) func([]byte, bool) []byte {
		return func(stored []byte, asString bool) []byte {
			if !asString {
				return f(append([]byte(nil), stored...))
			}
			raw, err := base64.StdEncoding.DecodeString(string(stored))
			if err != nil {
				panic(err) // generated vectors always hold base64
			}
			return []byte(base64.StdEncoding.EncodeToString(f(raw)))
		}
	}
	return []mutation{
		{name: "tampered-tag", about: "the last byte of the first ciphertext's GCM tag is flipped", class: "ErrDecryptionFailed", base: gcm,
			value: onRaw(func(raw []byte) []byte { raw[len(raw)-1] ^= 0x01; return raw })},
		{name: "tampered-ciphertext", about: "a byte of the first ciphertext's body is flipped", class: "ErrDecryptionFailed", base: gcm,
			value: onRaw(func(raw []byte) []byte { raw[12] ^= 0x80; return raw })},
		{name: "truncated-ciphertext", about: "the first ciphertext loses its last 4 bytes", class: "ErrDecryptionFailed", base: gcm,
			value: onRaw(func(raw []byte) []byte { return raw[:len(raw)-4] })},
		{name: "short-ciphertext", about: "the first ciphertext is 10 bytes, shorter than nonce and tag", class: "ErrInvalidCiphertext", base: gcm,
			value: onRaw(func(raw []byte) []byte { return raw[:10] })},
		{name: "bad-base64", about: "the first ciphertext's base64 has a character outside the alphabet", class: "ErrInvalidCiphertext", base: gcm,
			value: func(stored []byte, _ bool) []byte { out := append([]byte(nil), stored...); out[0] = '!'; return out }},
		{name: "unknown-dek-version", about: "the first ciphertext's version prefix names DEK version 9, which does not exist", class: "ErrDEKNotFound",
			base:  variant{algorithm: aes256GCM, rotation: true},
			value: onRaw(func(raw []byte) []byte { binary.BigEndian.PutUint32(raw[1:5], 9); return raw })},
		{name: "wrong-secret", about: "the reader's local-kms secret is not the one the DEKs were wrapped with", class: "ErrDEKUnwrapFailed", base: gcm,
			secret: "not-the-vector-secret"},
		{name: "siv-tampered", about: "a byte of the first AES-SIV ciphertext is flipped", class: "ErrDecryptionFailed", base: variant{algorithm: aes256SIV},
			value: onRaw(func(raw []byte) []byte { raw[len(raw)-1] ^= 0x01; return raw })},
		{name: "wrong-magic-byte", about: "the first byte is 0x07", class: "ErrUnknownMagicByte", base: gcm,
			frame: func(p []byte) []byte { p[0] = 0x07; return p }},
		{name: "unknown-schema-id", about: "the frame names schema id 99", class: "ErrSchemaNotFound", base: gcm,
			frame: func(p []byte) []byte { binary.BigEndian.PutUint32(p[1:5], 99); return p }},
		{name: "truncated-record", about: "the record loses its last 6 bytes (cutting into a field)", class: "ErrMalformedPayload", base: gcm,
			frame: func(p []byte) []byte { return p[:len(p)-6] }},
		{name: "short-frame", about: "the record is 3 bytes: shorter than the frame", class: "ErrShortPayload", base: gcm,
			frame: func(p []byte) []byte { return p[:3] }},
		{name: "unknown-guid", about: "the GUID prefix names a GUID the registry does not have", class: "ErrSchemaNotFound",
			base:  variant{algorithm: aes256GCM, framing: FramingGUID},
			frame: func(p []byte) []byte { p[16] ^= 0xff; return p }},
		{name: "short-guid-frame", about: "the record is the 01 magic byte and 9 bytes of GUID", class: "ErrShortPayload",
			base:  variant{algorithm: aes256GCM, framing: FramingGUID},
			frame: func(p []byte) []byte { return p[:10] }},
		{name: "unplaceable-tag", class: "ErrUnplaceableTag", base: gcm,
			about: "the registered schema also tags, with the rule's tag, a position no writer walks (Avro: a type-level tag; " +
				"JSON Schema: a tag under \"not\"; Protobuf: a message_meta tag on a message whose other fields the rule does not cover), " +
				"and the record was written without it: readers must refuse the schema (fail closed)",
			schema: map[string]string{
				avroFormat:  `{"name":"note","type":"string"}` + "\x00" + `{"name":"note","type":{"type":"string","confluent:tags":["PII"]}}`,
				jsonFormat:  `"note":{"type":"string"}` + "\x00" + `"note":{"type":"string","not":{"maxLength":0,"confluent:tags":["PII"]}}`,
				protoFormat: "message Customer {\n" + "\x00" + "message Customer {\n  option (confluent.message_meta).tags = \"PII\";\n",
			}},
		{name: "tagged-int", class: "ErrUnsupportedTaggedType", base: gcm,
			about: "the registered schema also tags an integer field, which cannot carry ciphertext, and the record was written without that tag: " +
				"readers must refuse the schema rather than read the field as if in clear",
			schema: map[string]string{
				avroFormat:  `{"name":"id","type":"int"}` + "\x00" + `{"name":"id","type":"int","confluent:tags":["PII"]}`,
				jsonFormat:  `"id":{"type":"integer"}` + "\x00" + `"id":{"type":"integer","confluent:tags":["PII"]}`,
				protoFormat: "int32 id = 1;" + "\x00" + `int32 id = 1 [(confluent.field_meta).tags = "PII"];`,
			}},
		{name: "wrong-message-index", about: "the message indexes name message [5], which the file lacks", class: "ErrMalformedPayload", base: gcm,
			only: protoFormat, frame: func(p []byte) []byte { return append(append(p[:5:5], 0x02, 0x0a), p[6:]...) }},
	}
}

func negatives(flat shape) ([]Vector, error) {
	var out []Vector
	for _, m := range mutations() {
		if m.only != "" && m.only != flat.format {
			continue
		}
		v, err := generate(flat, m.base)
		if err != nil {
			return nil, err
		}
		v.Name = "neg-" + strings.ToLower(flat.format) + "-" + m.name
		v.Description = fmt.Sprintf("%s flat (%s), then %s: reading fails with %s", flat.format, describe(m.base), m.about, m.class)
		v.Expect = Expect{Outcome: "error", Error: m.class}
		payload, _ := hex.DecodeString(v.Serialized)
		if m.value != nil {
			if payload, err = mutateFirst(v, payload, m.value); err != nil {
				return nil, fmt.Errorf("%s: %w", v.Name, err)
			}
		}
		if m.frame != nil {
			payload = m.frame(payload)
		}
		if m.secret != "" {
			v.LocalKMSSecret = m.secret
		}
		if change, ok := m.schema[flat.format]; ok {
			old, repl, _ := strings.Cut(change, "\x00")
			if !strings.Contains(v.Record().Schema, old) {
				return nil, fmt.Errorf("%s: the schema lacks %q", v.Name, old)
			}
			v.Record().Schema = strings.Replace(v.Record().Schema, old, repl, 1)
			if flat.format == protoFormat {
				if v.ProtoDescriptorSet, err = descriptorSet(v); err != nil {
					return nil, fmt.Errorf("%s: %w", v.Name, err)
				}
			}
		}
		v.Serialized = hex.EncodeToString(payload)
		if err := Check(v); err != nil {
			return nil, fmt.Errorf("%s: %w", v.Name, err)
		}
		out = append(out, *v)
	}
	return out, nil
}

// mutateFirst rewrites the record's first encrypted value with change,
// re-encoding the lengths around it.
func mutateFirst(v *Vector, payload []byte, change func([]byte, bool) []byte) ([]byte, error) {
	done := false
	fn := func(_ string, asString bool, _ []int, value, dst []byte) ([]byte, error) {
		if done {
			return append(dst, value...), nil
		}
		done = true
		return append(dst, change(value, asString)...), nil
	}
	frameLen := 5
	var body []byte
	var err error
	switch v.Format {
	case avroFormat:
		plan, perr := compileAvro(v)
		if perr != nil {
			return nil, perr
		}
		body, err = plan.Rewrite(payload[frameLen:], nil, leaf.Func(fn))
	case jsonFormat:
		plan, perr := compileJSON(v)
		if perr != nil {
			return nil, perr
		}
		body, err = plan.Rewrite(payload[frameLen:], nil, leaf.Func(fn))
	case protoFormat:
		plan, perr := compileProto(v)
		if perr != nil {
			return nil, perr
		}
		frameLen += len(indexBytes(v.MessageIndexes))
		body, err = plan.Rewrite(v.MessageIndexes, payload[frameLen:], nil, leaf.Func(fn), false)
	}
	if err != nil {
		return nil, err
	}
	if !done {
		return nil, fmt.Errorf("no encrypted value to change")
	}
	return append(append([]byte(nil), payload[:frameLen]...), body...), nil
}

// indexBytes encodes Protobuf message indexes as the frame carries them.
func indexBytes(indexes []int) []byte {
	if len(indexes) == 1 && indexes[0] == 0 {
		return []byte{0}
	}
	b := binary.AppendVarint(nil, int64(len(indexes)))
	for _, i := range indexes {
		b = binary.AppendVarint(b, int64(i))
	}
	return b
}
