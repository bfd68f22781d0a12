package testvectors

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/formats/avro"
	"github.com/tagseal/tagseal/formats/jsonschema"
	"github.com/tagseal/tagseal/formats/protobuf"
	"github.com/tagseal/tagseal/registry"
	"github.com/tagseal/tagseal/tags"
)

// ErrorClasses maps the error class names vectors use to tagseal's sentinels.
var ErrorClasses = map[string]error{
	"ErrShortPayload":      tagseal.ErrShortPayload,
	"ErrUnknownMagicByte":  tagseal.ErrUnknownMagicByte,
	"ErrSchemaNotFound":    tagseal.ErrSchemaNotFound,
	"ErrMalformedPayload":  tagseal.ErrMalformedPayload,
	"ErrInvalidCiphertext": tagseal.ErrInvalidCiphertext,
	"ErrDEKNotFound":       tagseal.ErrDEKNotFound,
	"ErrKEKNotFound":       tagseal.ErrKEKNotFound,
	"ErrDEKUnwrapFailed":   tagseal.ErrDEKUnwrapFailed,
	"ErrKeyShredded":       tagseal.ErrKeyShredded,
	"ErrDecryptionFailed":  tagseal.ErrDecryptionFailed,
	// Plan-time refusals (SPEC.md §3): a writer or reader that cannot place
	// a tag, or a tagged field that cannot carry ciphertext.
	"ErrUnplaceableTag":        tagseal.ErrUnplaceableTag,
	"ErrUnsupportedTaggedType": tagseal.ErrUnsupportedTaggedType,
}

// AlternateClasses are the error classes SPEC.md §7 also accepts for a
// class: a shredded key may be reported as shredded or as absent.
var AlternateClasses = map[string][]string{
	"ErrDEKNotFound": {"ErrKeyShredded"},
	"ErrKEKNotFound": {"ErrKeyShredded"},
}

// ClassOf returns the §7 class name of err, or "" when it has none.
func ClassOf(err error) string {
	// Most specific first: ErrKeyShredded may wrap a not-found error.
	for _, name := range []string{"ErrKeyShredded", "ErrShortPayload", "ErrUnknownMagicByte", "ErrSchemaNotFound",
		"ErrMalformedPayload", "ErrInvalidCiphertext", "ErrDEKNotFound", "ErrKEKNotFound", "ErrDEKUnwrapFailed",
		"ErrDecryptionFailed", "ErrUnplaceableTag", "ErrUnsupportedTaggedType"} {
		if errors.Is(err, ErrorClasses[name]) {
			return name
		}
	}
	return ""
}

// ClassMatches reports whether an implementation's reported class got
// satisfies the class a vector expects.
func ClassMatches(want, got string) bool {
	return got == want || slices.Contains(AlternateClasses[want], got)
}

// NewRegistry returns a fresh embedded Schema Registry and DEK Registry
// holding the vector's schemas (registered in order, checking each gets its
// listed ID and, where listed, GUID), KEKs and DEKs (stored as the vector
// lists them). Each vector gets its own registry: vectors share KEK names,
// not keys.
func NewRegistry(ctx context.Context, v *Vector) (*registry.Memory, error) {
	reg := registry.NewMemory()
	for i := range v.Schemas {
		s := &v.Schemas[i]
		got, err := reg.Register(ctx, s.Subject, s.Info(), false)
		if err != nil {
			return nil, fmt.Errorf("register %s: %w", s.Subject, err)
		}
		if got.ID != s.ID {
			return nil, fmt.Errorf("register %s: got id %d, the vector says %d", s.Subject, got.ID, s.ID)
		}
		if s.GUID != "" {
			if err := reg.SetGUID(s.ID, s.GUID); err != nil {
				return nil, err
			}
		}
	}
	for _, k := range v.KEKs {
		if _, err := reg.CreateKEK(ctx, registry.KEK{Name: k.Name, KmsType: k.KMSType, KmsKeyID: k.KMSKeyID, Shared: k.Shared}); err != nil {
			return nil, fmt.Errorf("register KEK %s: %w", k.Name, err)
		}
	}
	for _, d := range v.DEKs {
		if _, err := reg.CreateDEK(ctx, d.KEKName, registry.DEK{Subject: d.Subject, Version: d.Version, Algorithm: d.Algorithm,
			EncryptedKeyMaterial: d.EncryptedKeyMaterial}); err != nil {
			return nil, fmt.Errorf("register DEK %s/%s v%d: %w", d.KEKName, d.Subject, d.Version, err)
		}
	}
	return reg, nil
}

// Check reads the vector's serialized bytes with tagseal and compares the
// outcome with the vector's: the plaintext, or an error of the listed class.
func Check(v *Vector) error {
	payload, headers, err := v.Message()
	if err != nil {
		return err
	}
	got, err := ReadMessage(v, payload, headers)
	if !v.Positive() {
		return CheckFailure(v, err, true)
	}
	if err != nil {
		return err
	}
	return SamePlaintext(v, got)
}

// CheckFailure checks a negative vector's outcome: err must be non-nil and,
// when classes is true, of the vector's class.
func CheckFailure(v *Vector, err error, classes bool) error {
	want, ok := ErrorClasses[v.Expect.Error]
	if !ok {
		return fmt.Errorf("unknown error class %q", v.Expect.Error)
	}
	if err == nil {
		return fmt.Errorf("read succeeded, want %s", v.Expect.Error)
	}
	if classes && !errors.Is(err, want) && !ClassMatches(v.Expect.Error, ClassOf(err)) {
		return fmt.Errorf("got %v, want %s", err, v.Expect.Error)
	}
	return nil
}

// Read deserializes payload with tagseal in a fresh registry set up from
// the vector, using the vector's local-kms secret.
func Read(v *Vector, payload []byte) (any, error) {
	return ReadMessage(v, payload, nil)
}

// ReadMessage is Read with the record's headers.
func ReadMessage(v *Vector, payload []byte, headers []tagseal.Header) (any, error) {
	ctx := context.Background()
	d, err := newReader(ctx, v)
	if err != nil {
		return nil, err
	}
	return d.DeserializeWithHeaders(ctx, v.Topic, headers, payload)
}

// newReader returns a tagseal deserializer over a fresh registry set up
// from the vector, with the vector's local-kms secret.
func newReader(ctx context.Context, v *Vector) (*tagseal.Deserializer, error) {
	reg, err := NewRegistry(ctx, v)
	if err != nil {
		return nil, err
	}
	return tagseal.NewDeserializer(reg, tagseal.Value, tagseal.DeserializerConfig{
		Keys: tagseal.Keys{RuleConfig: map[string]string{"secret": v.LocalKMSSecret}},
	})
}

// CheckWritten reads a record another implementation wrote from the
// vector's plaintext (value hex, no headers); see [CheckWrittenMessage].
func CheckWritten(v *Vector, serialized string) error {
	payload, err := hex.DecodeString(serialized)
	if err != nil {
		return fmt.Errorf("serialized: %v", err)
	}
	return CheckWrittenMessage(v, payload, nil)
}

// CheckWrittenMessage checks a record another implementation wrote from the
// vector's plaintext, the one rule set `vectors check-written` and the
// conformance harness share: it must be framed as the vector's record is
// (the same schema id or GUID, in the value or in the header, and the same
// Protobuf message indexes), hold a ciphertext wherever the vector's own
// record does (same paths and rules), each under the latest DEK version a
// writer sees, and decrypt to the plaintext.
func CheckWrittenMessage(v *Vector, payload []byte, headers []tagseal.Header) error {
	want, wantHeaders, err := v.Message()
	if err != nil {
		return err
	}
	ctx := context.Background()
	d, err := newReader(ctx, v)
	if err != nil {
		return err
	}
	wantIn, err := d.Inspect(ctx, v.Topic, wantHeaders, want)
	if err != nil {
		return fmt.Errorf("inspect the vector: %v", err)
	}
	gotIn, err := d.Inspect(ctx, v.Topic, headers, payload)
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	if err := sameFrame(v, wantIn, gotIn, headers); err != nil {
		return err
	}
	wantSealed, _, err := sealed(wantIn)
	if err != nil {
		return fmt.Errorf("inspect the vector: %v", err)
	}
	gotSealed, versions, err := sealed(gotIn)
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	if !slices.Equal(gotSealed, wantSealed) {
		return fmt.Errorf("encrypted values %v, want %v", gotSealed, wantSealed)
	}
	for kek, version := range versions {
		if latest := latestDEK(v, kek); version != latest {
			return fmt.Errorf("written under %s DEK version %d, want the latest, %d", kek, version, latest)
		}
	}
	got, err := d.DeserializeWithHeaders(ctx, v.Topic, headers, payload)
	if err != nil {
		return err
	}
	return SamePlaintext(v, got)
}

// sameFrame compares a written record's frame with the vector's.
func sameFrame(v *Vector, want, got *tagseal.Inspection, headers []tagseal.Header) error {
	inHeader := false
	for _, h := range headers {
		if h.Key == tagseal.ValueSchemaIDHeader && len(h.Value) > 0 {
			inHeader = true
		}
	}
	if wantHeader := v.FramingOrDefault() == FramingGUIDHeader; inHeader != wantHeader {
		return fmt.Errorf("framing: schema header present %v, the vector's framing is %s", inHeader, v.FramingOrDefault())
	}
	if got.SchemaID != want.SchemaID || got.SchemaGUID != want.SchemaGUID {
		return fmt.Errorf("framing: schema id %d GUID %q, want id %d GUID %q (framing %s)",
			got.SchemaID, got.SchemaGUID, want.SchemaID, want.SchemaGUID, v.FramingOrDefault())
	}
	if !slices.Equal(got.MessageIndexes, want.MessageIndexes) {
		return fmt.Errorf("framing: message indexes %v, want %v", got.MessageIndexes, want.MessageIndexes)
	}
	return nil
}

// latestDEK is the DEK version a writer uses for kek: the highest
// registered when the rules rotate, else 0 (no version prefix).
func latestDEK(v *Vector, kek string) int {
	if !v.Rotation || kek == kekPayload { // the payload rule never rotates
		return 0
	}
	latest := 0
	for _, d := range v.DEKs {
		if d.KEKName == kek && d.Version > latest {
			latest = d.Version
		}
	}
	return latest
}

// sealed lists "path:rule" for each encrypted value of an inspected
// record, and the DEK version each KEK's values carry.
func sealed(in *tagseal.Inspection) ([]string, map[string]int, error) {
	var out []string
	versions := map[string]int{}
	for _, s := range append(in.PayloadRules, in.Fields...) {
		if s.Problem != "" {
			return nil, nil, fmt.Errorf("%s: %s", s.Path, s.Problem)
		}
		out = append(out, s.Path+":"+s.Rule)
		if seen, ok := versions[s.KEK]; ok && seen != s.DEKVersion {
			return nil, nil, fmt.Errorf("KEK %s: values under DEK versions %d and %d", s.KEK, seen, s.DEKVersion)
		}
		versions[s.KEK] = s.DEKVersion
	}
	slices.Sort(out)
	return out, versions, nil
}

// SamePlaintext reports whether a value tagseal deserialized equals the
// vector's plaintext, compared in the format's own terms: Avro and Protobuf
// by their (deterministic) encodings, JSON as parsed documents.
func SamePlaintext(v *Vector, got any) error {
	var same bool
	switch v.Format {
	case tagseal.TypeJSONSchema:
		raw, err := json.Marshal(got)
		if err != nil {
			return err
		}
		a, b := parseJSON(raw), parseJSON(v.Plaintext)
		same = a != nil && reflect.DeepEqual(a, b)
	case tagseal.TypeAvro:
		plan, err := compileAvro(v)
		if err != nil {
			return err
		}
		wantValue, err := plan.FromJSON(v.Plaintext)
		if err != nil {
			return err
		}
		gotBytes, err := plan.Encode(got)
		if err != nil {
			return fmt.Errorf("re-encode: %v", err)
		}
		wantBytes, err := plan.Encode(wantValue)
		if err != nil {
			return err
		}
		same = bytes.Equal(gotBytes, wantBytes)
	case tagseal.TypeProtobuf:
		msg, ok := got.(proto.Message)
		if !ok {
			return fmt.Errorf("got %T, not a proto.Message", got)
		}
		want, err := protoPlaintext(v)
		if err != nil {
			return err
		}
		det := proto.MarshalOptions{Deterministic: true}
		a, err1 := det.Marshal(msg)
		b, err2 := det.Marshal(want)
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		same = bytes.Equal(a, b)
	default:
		return fmt.Errorf("unknown format %q", v.Format)
	}
	if !same {
		return errors.New("decrypted record differs from the plaintext")
	}
	return nil
}

// SamePlaintextJSON reports whether a plaintext another implementation
// returned as JSON (in the vector's plaintext conventions, SPEC.md §9)
// equals the vector's, compared as SamePlaintext does: Avro and Protobuf
// by their deterministic encodings, JSON as parsed documents.
func SamePlaintextJSON(v *Vector, got json.RawMessage) error {
	var same bool
	switch v.Format {
	case tagseal.TypeJSONSchema:
		a, b := parseJSON(got), parseJSON(v.Plaintext)
		same = a != nil && reflect.DeepEqual(a, b)
	case tagseal.TypeAvro:
		plan, err := compileAvro(v)
		if err != nil {
			return err
		}
		gotValue, err := plan.FromJSON(got)
		if err != nil {
			return fmt.Errorf("plaintext is not the record in Avro's JSON encoding: %v", err)
		}
		return differs(SamePlaintext(v, gotValue), v, got)
	case tagseal.TypeProtobuf:
		want, err := protoPlaintext(v)
		if err != nil {
			return err
		}
		m := dynamicpb.NewMessage(want.Descriptor())
		if err := protojson.Unmarshal(got, m); err != nil {
			return fmt.Errorf("plaintext is not the message in proto3 JSON: %v", err)
		}
		return differs(SamePlaintext(v, m), v, got)
	default:
		return fmt.Errorf("unknown format %q", v.Format)
	}
	if !same {
		return differs(errors.New("differs"), v, got)
	}
	return nil
}

// differs shows both plaintexts when err says they differ (vectors hold
// published test data only).
func differs(err error, v *Vector, got json.RawMessage) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("plaintext %s, want %s", compact(got), compact(v.Plaintext))
}

func compact(b []byte) string {
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return string(b)
	}
	return out.String()
}

func parseJSON(b []byte) any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	return v
}

// references returns the texts (dependencies first) and names of the
// record's references.
func references(v *Vector) (texts, names []string) {
	nameOf := map[string]string{}
	for _, s := range v.Schemas {
		for _, r := range s.References {
			nameOf[r.Subject] = r.Name
		}
	}
	for _, s := range v.Schemas[:len(v.Schemas)-1] {
		texts = append(texts, s.Schema)
		names = append(names, nameOf[s.Subject])
	}
	return texts, names
}

func ruleSelector(v *Vector) *tags.RuleSet {
	info := v.Record().Info()
	return tags.FromSchema(&info)
}

func compileAvro(v *Vector) (*avro.Plan, error) {
	texts, _ := references(v)
	return avro.Compile(v.Record().Schema, texts, ruleSelector(v))
}

func compileJSON(v *Vector) (*jsonschema.Plan, error) {
	texts, names := references(v)
	refs := make([]jsonschema.Reference, len(texts))
	for i := range texts {
		refs[i] = jsonschema.Reference{Name: names[i], Schema: texts[i]}
	}
	return jsonschema.Compile(v.Record().Schema, refs, ruleSelector(v))
}

func compileProto(v *Vector) (*protobuf.Plan, error) {
	texts, names := references(v)
	refs := make([]protobuf.Reference, len(texts))
	for i := range texts {
		refs[i] = protobuf.Reference{Name: names[i], Schema: texts[i]}
	}
	return protobuf.Compile(v.Record().Schema, refs, ruleSelector(v))
}

// protoPlaintext parses the vector's plaintext into a dynamic message of the
// record's message type.
func protoPlaintext(v *Vector) (*dynamicpb.Message, error) {
	plan, err := compileProto(v)
	if err != nil {
		return nil, err
	}
	md, err := plan.MessageAt(v.MessageIndexes)
	if err != nil {
		return nil, err
	}
	m := dynamicpb.NewMessage(md)
	if err := protojson.Unmarshal(v.Plaintext, m); err != nil {
		return nil, err
	}
	return m, nil
}
