// Package testvectors generates, loads and checks tagseal's cross-language
// test vectors: self-contained JSON files, each holding a record's schemas,
// rules, keys, plaintext and serialized bytes, which any CSFLE
// implementation must read (and, for positive vectors, be able to write) as
// SPEC.md describes.
package testvectors

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/registry"
)

// Version is the vector file layout version; files live in testvectors/v1.
const Version = 1

// Vector is one test vector. The last schema in Schemas is the record's;
// earlier ones are its references, registered first, so that registering
// them in order in an empty registry gives every schema the ID it lists.
type Vector struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Format is the schema type: AVRO, JSON or PROTOBUF.
	Format string `json:"format"`
	// Structure names the schema shape under test (flat, nested, map, …).
	Structure string `json:"structure"`
	// Algorithm is the DEK algorithm of the field rules.
	Algorithm string `json:"algorithm"`
	// Rotation is true when the rules set encrypt.dek.expiry.days, so every
	// ciphertext starts with the DEK version prefix.
	Rotation bool `json:"rotation"`
	// Payload is true when an ENCRYPT_PAYLOAD rule encrypts the whole body.
	Payload bool `json:"payload"`
	// Topic names the subject: Topic + "-value".
	Topic   string   `json:"topic"`
	Schemas []Schema `json:"schemas"`
	// LocalKMSSecret is the local-kms secret (rule config "secret") every
	// KEK of the vector uses.
	LocalKMSSecret string `json:"localKmsSecret"`
	KEKs           []KEK  `json:"keks"`
	// DEKs are the DEK Registry's entries, in registration order.
	DEKs []DEK `json:"deks"`
	// ProtoDescriptorSet (Protobuf only) is a base64 FileDescriptorSet of the
	// record's .proto and every file it imports, dependencies first, for
	// implementations that cannot parse .proto text.
	ProtoDescriptorSet string `json:"protoDescriptorSet,omitempty"`
	// MessageIndexes (Protobuf only) locate the record's message.
	MessageIndexes []int `json:"messageIndexes,omitempty"`
	// Plaintext is the record as JSON: Avro's JSON encoding (unions as
	// {"branch": value}, bytes as U+0000..U+00FF characters), the document
	// itself for JSON Schema, the proto3 JSON mapping for Protobuf.
	Plaintext json.RawMessage `json:"plaintext"`
	// Framing is how the record names its writer schema (SPEC.md §1):
	// empty or "id" (0x00 + schema id), "guid" (0x01 + the schema's GUID in
	// the value), "guid-header" (0x01 + GUID in the __value_schema_id header,
	// no prefix in the value).
	Framing string `json:"framing,omitempty"`
	// Serialized is the Kafka record value, hex.
	Serialized string `json:"serialized"`
	// Headers are the Kafka record headers, values hex (guid-header framing).
	Headers []Header `json:"headers,omitempty"`
	Expect  Expect   `json:"expect"`
}

// Framings of a vector's record (Vector.Framing).
const (
	FramingID         = "id"
	FramingGUID       = "guid"
	FramingGUIDHeader = "guid-header"
)

// Header is a Kafka record header; Value is hex.
type Header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Schema is a registered schema version, in the registry's JSON names.
type Schema struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
	ID      int    `json:"id"`
	// GUID is the schema's GUID where the vector's framing names it; a
	// registry set up from the vector must give the schema this GUID.
	GUID       string               `json:"guid,omitempty"`
	SchemaType string               `json:"schemaType"`
	Schema     string               `json:"schema"`
	References []registry.Reference `json:"references,omitempty"`
	Metadata   *registry.Metadata   `json:"metadata,omitempty"`
	RuleSet    *registry.RuleSet    `json:"ruleSet,omitempty"`
}

// Info returns the schema as the registry takes it.
func (s *Schema) Info() registry.Schema {
	return registry.Schema{Schema: s.Schema, SchemaType: s.SchemaType, References: s.References, Metadata: s.Metadata, RuleSet: s.RuleSet}
}

// KEK is a DEK Registry KEK entry.
type KEK struct {
	Name     string `json:"name"`
	KMSType  string `json:"kmsType"`
	KMSKeyID string `json:"kmsKeyId"`
	Shared   bool   `json:"shared"`
}

// DEK is a DEK Registry DEK entry. KeyMaterial (the serialized Tink key,
// base64) is what unwrapping EncryptedKeyMaterial gives; it is there for
// implementers to check their unwrap, and is never registered.
type DEK struct {
	KEKName              string `json:"kekName"`
	Subject              string `json:"subject"`
	Version              int    `json:"version"`
	Algorithm            string `json:"algorithm"`
	EncryptedKeyMaterial string `json:"encryptedKeyMaterial"`
	KeyMaterial          string `json:"keyMaterial"`
}

// Expect is a vector's outcome: "ok" (reading Serialized gives Plaintext)
// or "error" with the error class (a tagseal sentinel name, SPEC.md §7).
type Expect struct {
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

// Positive reports whether reading the vector must succeed.
func (v *Vector) Positive() bool { return v.Expect.Outcome == "ok" }

// FramingOrDefault is Framing, or FramingID when it is empty.
func (v *Vector) FramingOrDefault() string {
	if v.Framing == "" {
		return FramingID
	}
	return v.Framing
}

// Message decodes the vector's record: the value bytes and the headers.
func (v *Vector) Message() ([]byte, []tagseal.Header, error) {
	payload, err := hex.DecodeString(v.Serialized)
	if err != nil {
		return nil, nil, fmt.Errorf("serialized: %v", err)
	}
	headers, err := DecodeHeaders(v.Headers)
	return payload, headers, err
}

// DecodeHeaders turns hex headers into tagseal headers.
func DecodeHeaders(hs []Header) ([]tagseal.Header, error) {
	var out []tagseal.Header
	for _, h := range hs {
		b, err := hex.DecodeString(h.Value)
		if err != nil {
			return nil, fmt.Errorf("header %s: %v", h.Key, err)
		}
		out = append(out, tagseal.Header{Key: h.Key, Value: b})
	}
	return out, nil
}

// EncodeHeaders turns tagseal headers into hex headers.
func EncodeHeaders(hs []tagseal.Header) []Header {
	var out []Header
	for _, h := range hs {
		out = append(out, Header{Key: h.Key, Value: hex.EncodeToString(h.Value)})
	}
	return out
}

// Algorithms lists every DEK algorithm the vector's rules use.
func (v *Vector) Algorithms() []string {
	var out []string
	for _, d := range v.DEKs {
		if !slices.Contains(out, d.Algorithm) {
			out = append(out, d.Algorithm)
		}
	}
	if len(out) == 0 && v.Algorithm != "" {
		out = append(out, v.Algorithm)
	}
	return out
}

// KMSTypes lists every KMS type the vector's KEKs use.
func (v *Vector) KMSTypes() []string {
	var out []string
	for _, k := range v.KEKs {
		if !slices.Contains(out, k.KMSType) {
			out = append(out, k.KMSType)
		}
	}
	return out
}

// Subject is the record's subject.
func (v *Vector) Subject() string { return v.Topic + "-value" }

// Record returns the record's schema (the last one).
func (v *Vector) Record() *Schema { return &v.Schemas[len(v.Schemas)-1] }

// Marshal returns the vector's file content: indented JSON, newline-ended.
func (v *Vector) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Write writes each vector to dir/NAME.json, removing other .json files so
// that the directory holds exactly the given vectors.
func Write(dir string, vectors []Vector) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	keep := map[string]bool{}
	for i := range vectors {
		b, err := vectors[i].Marshal()
		if err != nil {
			return err
		}
		name := vectors[i].Name + ".json"
		keep[name] = true
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range old {
		if !keep[filepath.Base(f)] {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// Load reads every dir/*.json vector, sorted by name.
func Load(dir string) ([]Vector, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no vectors in %s", dir)
	}
	slices.Sort(files)
	out := make([]Vector, 0, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var v Vector
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("%s: %v", f, err)
		}
		if v.Name+".json" != filepath.Base(f) {
			return nil, fmt.Errorf("%s: vector is named %q", f, v.Name)
		}
		out = append(out, v)
	}
	return out, nil
}

// Written is one record another implementation serialized from a positive
// vector's plaintext, one JSON object per line in its output file.
type Written struct {
	Name       string `json:"name"`
	Serialized string `json:"serialized,omitempty"` // hex
	// Headers are the record's headers (values hex), for a vector whose
	// framing puts the schema GUID in a header.
	Headers []Header `json:"headers,omitempty"`
	// Skipped, instead of Serialized, says why the implementation could not
	// write this vector (a defect its runner knows and reports).
	Skipped string `json:"skipped,omitempty"`
	// KnownDefect marks a record the writer is known to get wrong: the check
	// reports it as such if it fails, and as a failure if it passes (so the
	// writer's list of defects cannot go stale).
	KnownDefect string `json:"knownDefect,omitempty"`
}

// LoadWritten reads a JSON-lines file of Written records.
func LoadWritten(path string) ([]Written, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Written
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var w Written
		if err := json.Unmarshal([]byte(line), &w); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, i+1, err)
		}
		out = append(out, w)
	}
	return out, nil
}

// WrittenReport is the result of checking another implementation's records.
type WrittenReport struct {
	Passed   int
	Failures []string // "name: reason"
	Skipped  []string // "name: reason", as the writer reported them
	Known    []string // "name: reason: error", records with a known defect that failed
}

// CheckWrittenFile checks the records in a Written JSON-lines file against
// the positive vectors in dir. Every positive vector must have a record,
// except those framed by a GUID prefix, which no writer produces (they are
// read-only: a record for one is ignored and counts nowhere).
func CheckWrittenFile(dir, path string) (*WrittenReport, error) {
	vectors, err := Load(dir)
	if err != nil {
		return nil, err
	}
	written, err := LoadWritten(path)
	if err != nil {
		return nil, err
	}
	byName := map[string]Written{}
	skipped := map[string]string{}
	for _, w := range written {
		if w.Skipped != "" {
			skipped[w.Name] = w.Skipped
			continue
		}
		byName[w.Name] = w
	}
	r := &WrittenReport{}
	for i := range vectors {
		v := &vectors[i]
		if !v.Positive() {
			continue
		}
		if v.FramingOrDefault() == FramingGUID {
			delete(byName, v.Name) // a record for it is not checked
			continue
		}
		w, ok := byName[v.Name]
		if reason, skip := skipped[v.Name]; skip && !ok {
			r.Skipped = append(r.Skipped, v.Name+": "+reason)
			continue
		}
		if !ok {
			r.Failures = append(r.Failures, v.Name+": no record written")
			continue
		}
		delete(byName, v.Name)
		err := checkWrittenRecord(v, w)
		switch {
		case w.KnownDefect != "" && err != nil:
			r.Known = append(r.Known, v.Name+": "+w.KnownDefect+": "+err.Error())
		case w.KnownDefect != "":
			r.Failures = append(r.Failures, v.Name+": marked as a known defect but correct: drop it from the runner's list")
		case err != nil:
			r.Failures = append(r.Failures, v.Name+": "+err.Error())
		default:
			r.Passed++
		}
	}
	for name := range byName {
		r.Failures = append(r.Failures, name+": not a positive vector")
	}
	slices.Sort(r.Failures)
	return r, nil
}

func checkWrittenRecord(v *Vector, w Written) error {
	payload, err := hex.DecodeString(w.Serialized)
	if err != nil {
		return fmt.Errorf("serialized: %v", err)
	}
	headers, err := DecodeHeaders(w.Headers)
	if err != nil {
		return err
	}
	return CheckWrittenMessage(v, payload, headers)
}
