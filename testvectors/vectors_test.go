package testvectors

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const committed = "v1"

// TestCommittedVectorsAreFresh fails when testvectors/v1 differs from what
// the generator writes: run `go run ./cmd/tagseal vectors generate`.
func TestCommittedVectorsAreFresh(t *testing.T) {
	fresh := t.TempDir()
	vectors, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(fresh, vectors); err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Glob(filepath.Join(fresh, "*.json"))
	have, _ := filepath.Glob(filepath.Join(committed, "*.json"))
	if len(want) != len(have) {
		t.Fatalf("committed %d vector files, the generator writes %d: regenerate", len(have), len(want))
	}
	for _, f := range want {
		a, _ := os.ReadFile(f)
		b, err := os.ReadFile(filepath.Join(committed, filepath.Base(f)))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs from a fresh generation: run `go run ./cmd/tagseal vectors generate`", filepath.Base(f))
		}
	}
}

// TestCoverage holds the minimums and the matrix's corners.
func TestCoverage(t *testing.T) {
	vectors, err := Load(committed)
	if err != nil {
		t.Fatal(err)
	}
	pos, neg := 0, map[string]int{}
	seen := map[string]bool{}
	for _, v := range vectors {
		if v.Positive() {
			pos++
			seen[v.Format+"/"+v.Structure] = true
			seen[v.Algorithm] = true
			if v.Rotation {
				seen["rotation/"+v.Format] = true
			}
			if v.Payload {
				seen["payload/"+v.Format] = true
			}
			seen["framing/"+v.Format+"/"+v.FramingOrDefault()] = true
			continue
		}
		neg[v.Expect.Error]++
	}
	if pos < 60 || len(vectors)-pos < 15 {
		t.Errorf("%d positive and %d negative vectors, want ≥ 60 and ≥ 15", pos, len(vectors)-pos)
	}
	for _, want := range []string{
		"AVRO/nested", "AVRO/array", "AVRO/map", "AVRO/union", "AVRO/reference", "AVRO/named-type-reuse", "AVRO/recursion",
		"JSON/nested", "JSON/array", "JSON/oneof", "JSON/reference", "JSON/recursion",
		"PROTOBUF/nested", "PROTOBUF/repeated", "PROTOBUF/map", "PROTOBUF/oneof", "PROTOBUF/reference", "PROTOBUF/recursion",
		"AES128_GCM", "AES256_GCM", "AES256_SIV",
		"rotation/AVRO", "rotation/JSON", "rotation/PROTOBUF", "payload/AVRO", "payload/JSON", "payload/PROTOBUF",
		"framing/AVRO/guid", "framing/AVRO/guid-header", "framing/JSON/guid", "framing/JSON/guid-header",
		"framing/PROTOBUF/guid", "framing/PROTOBUF/guid-header",
	} {
		if !seen[want] {
			t.Errorf("no positive vector for %s", want)
		}
	}
	for _, class := range []string{"ErrDecryptionFailed", "ErrInvalidCiphertext", "ErrDEKNotFound", "ErrDEKUnwrapFailed",
		"ErrUnknownMagicByte", "ErrMalformedPayload", "ErrSchemaNotFound", "ErrShortPayload",
		"ErrUnplaceableTag", "ErrUnsupportedTaggedType"} {
		if neg[class] == 0 {
			t.Errorf("no negative vector expecting %s", class)
		}
	}
}

// TestTagsealReadsEveryVector checks every committed vector's outcome.
func TestTagsealReadsEveryVector(t *testing.T) {
	vectors, err := Load(committed)
	if err != nil {
		t.Fatal(err)
	}
	for i := range vectors {
		v := &vectors[i]
		t.Run(v.Name, func(t *testing.T) {
			if err := Check(v); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestNoPlaintextInVectors: no tagged plaintext appears in a serialized
// record (as text, or as the hex of its bytes).
func TestNoPlaintextInVectors(t *testing.T) {
	vectors, err := Load(committed)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vectors {
		raw, _ := hex.DecodeString(v.Serialized)
		for _, secret := range []string{"Ada Lovelace", "ada@example.com", "Grace Hopper", "1 Navy Way", "Alan Turing",
			"+1-202-555-0143", "Amazing Grace", "221B Baker Street", "root secret", "leaf secret", "078-05-1120", "4111111111111111"} {
			if bytes.Contains(raw, []byte(secret)) {
				t.Errorf("%s: serialized record holds %q in clear", v.Name, secret)
			}
		}
	}
}

// TestCheckWritten: a record freshly written by tagseal (new nonces) passes;
// a record with a field left in clear, or not decrypting, fails.
func TestCheckWritten(t *testing.T) {
	vectors, err := Load(committed)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Vector{}
	for i := range vectors {
		byName[vectors[i].Name] = &vectors[i]
	}
	for _, name := range []string{"avro-flat-aes256-gcm", "json-flat-aes256-gcm-rotation", "protobuf-nested-aes256-gcm"} {
		v := byName[name]
		out, _, err := serialize(v, nil)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(out) == v.Serialized {
			t.Fatalf("%s: fresh nonces gave the vector's bytes", name)
		}
		if err := CheckWritten(v, hex.EncodeToString(out)); err != nil {
			t.Errorf("%s: fresh record: %v", name, err)
		}
	}
	// A record of the flat schema with the rule's fields in clear.
	v := byName["json-flat-aes256-gcm"]
	clear := "0000000001" + hex.EncodeToString(v.Plaintext)
	if err := CheckWritten(v, clear); err == nil || !strings.Contains(err.Error(), "invalid ciphertext") {
		t.Errorf("plaintext record: got %v, want invalid ciphertext", err)
	}
	if err := CheckWritten(byName["avro-flat-aes256-gcm"], byName["neg-avro-tampered-tag"].Serialized); err == nil {
		t.Error("tampered record passed")
	}
}
