package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagseal/tagseal/testvectors"
)

const vectorDir = "../../testvectors/v1"

func TestVectorsVerify(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"vectors", "verify", "--dir", vectorDir}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "go (tagseal): 142 passed, 0 failed") {
		t.Errorf("summary: %q", out.String())
	}
}

// TestVectorsCheckWritten feeds check-written the vectors' own records (all
// pass) and then a file where one record is another vector's (fails).
func TestVectorsCheckWritten(t *testing.T) {
	vectors, err := testvectors.Load(vectorDir)
	if err != nil {
		t.Fatal(err)
	}
	write := func(swap bool) string {
		var b bytes.Buffer
		for i, v := range vectors {
			if !v.Positive() {
				continue
			}
			ser := v.Serialized
			if swap && v.Name == "avro-flat-aes256-gcm" {
				ser = vectors[i+1].Serialized
			}
			w := testvectors.Written{Name: v.Name, Serialized: ser, Headers: v.Headers}
			if strings.HasSuffix(v.Name, "-older-dek") {
				// Written under DEK version 1 before version 2 existed; a
				// writer today must use version 2.
				w = testvectors.Written{Name: v.Name, Skipped: "written before the latest DEK"}
			}
			line, _ := json.Marshal(w)
			b.Write(append(line, '\n'))
		}
		path := filepath.Join(t.TempDir(), "written.jsonl")
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	var out bytes.Buffer
	if code := run([]string{"vectors", "check-written", "--dir", vectorDir, "--from", "self", write(false)}, nil, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	if !strings.Contains(out.String(), "self → go (tagseal): 87 passed, 0 failed, 3 known defects") {
		t.Errorf("summary: %q", out.String())
	}
	out.Reset()
	if code := run([]string{"vectors", "check-written", "--dir", vectorDir, "--from", "self", write(true)}, nil, &out, &out); code != 1 {
		t.Fatalf("swapped record: exit %d: %s", code, out.String())
	}
	if !strings.Contains(out.String(), "FAIL avro-flat-aes256-gcm") {
		t.Errorf("output: %q", out.String())
	}
}
