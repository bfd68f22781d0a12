package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagseal/tagseal/testvectors"
	"github.com/tagseal/tagseal/testvectors/conformance"
)

// With TAGSEAL_CLI_TESTEE set the test binary is a testee: "tagseal" runs
// `tagseal conformance testee`, "wrong" answers every read with a wrong
// value.
func TestMain(m *testing.M) {
	switch os.Getenv("TAGSEAL_CLI_TESTEE") {
	case "":
		os.Exit(m.Run())
	case "tagseal":
		os.Exit(run([]string{"conformance", "testee"}, os.Stdin, os.Stdout, os.Stderr))
	case "wrong":
		err := conformance.Serve(os.Stdin, os.Stdout, func(req conformance.Request) conformance.Response {
			if req.Op == conformance.OpRead {
				return conformance.Response{Plaintext: json.RawMessage(`"wrong"`)}
			}
			return conformance.TagsealTestee(req)
		})
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func cliTestee(t *testing.T, mode string) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("TAGSEAL_CLI_TESTEE=%s exec '%s'", mode, exe)
}

// TestConformanceExitCodes: tagseal's testee passes (exit 0), a testee
// with wrong reads fails (exit 1), and a stale failure-list entry fails a
// passing testee (exit 1).
func TestConformanceExitCodes(t *testing.T) {
	stale := filepath.Join(t.TempDir(), "failures.txt")
	if err := os.WriteFile(stale, []byte("avro-flat-aes256-gcm:read # said to fail\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vectors, err := testvectors.Load(vectorDir)
	if err != nil {
		t.Fatal(err)
	}
	reads, writes := len(vectors), 0
	for i := range vectors {
		if vectors[i].Positive() && vectors[i].FramingOrDefault() != testvectors.FramingGUID {
			writes++
		}
	}
	for _, c := range []struct {
		name, mode string
		extra      []string
		code       int
		want       string
	}{
		{"tagseal", "tagseal", nil, 0, fmt.Sprintf("tagseal: %d passed, 0 failed, 0 known failures, 0 skipped", reads+writes)},
		{"wrong reads", "wrong", nil, 1, fmt.Sprintf("tagseal: %d passed, %d failed, 0 known failures, 0 skipped", writes, reads)},
		{"stale entry", "tagseal", []string{"--failure-list", stale}, 1, "STALE avro-flat-aes256-gcm:read"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"conformance", "--dir", vectorDir, "--testee", cliTestee(t, c.mode)}, c.extra...)
			if code := run(args, nil, &out, &errOut); code != c.code {
				t.Fatalf("exit %d, want %d:\n%s%s", code, c.code, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), c.want) {
				t.Errorf("output lacks %q:\n%s", c.want, out.String())
			}
		})
	}
}
