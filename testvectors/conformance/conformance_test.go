package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagseal/tagseal/testvectors"
)

const vectorDir = "../v1"

// The test binary is also the fake testees: with TAGSEAL_FAKE_TESTEE set
// it serves the protocol on stdin/stdout instead of running tests.
const fakeEnv = "TAGSEAL_FAKE_TESTEE"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeEnv); mode != "" {
		if err := Serve(os.Stdin, os.Stdout, fake(mode)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fake returns a testee: "tagseal" (the real one), "wrong" (every read
// answers a wrong value), "crash" and "hang" (tagseal, except that it exits
// or stops answering on the vector named by TAGSEAL_FAKE_VECTOR, once per
// process), "stderr" (tagseal that logs each request on stderr).
func fake(mode string) Handler {
	special := os.Getenv("TAGSEAL_FAKE_VECTOR")
	return func(req Request) Response {
		switch {
		case mode == "wrong" && req.Op == OpRead:
			return Response{Plaintext: json.RawMessage(`{"id":0,"name":"not the plaintext"}`)}
		case mode == "crash" && req.Name == special:
			os.Exit(3)
		case mode == "hang" && req.Name == special:
			time.Sleep(time.Hour)
		case mode == "stderr":
			fmt.Fprintf(os.Stderr, "request %s %s\n", req.Op, req.Name)
		}
		return TagsealTestee(req)
	}
}

// fakeCommand is the shell command that starts a fake testee.
func fakeCommand(t *testing.T, mode, vector string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s=%s TAGSEAL_FAKE_VECTOR=%s exec '%s'", fakeEnv, mode, vector, exe)
}

func run(t *testing.T, cfg Config) (*Report, string) {
	t.Helper()
	var out, log bytes.Buffer
	cfg.Out, cfg.Log = &out, &log
	if cfg.Dir == "" {
		cfg.Dir = vectorDir
	}
	rep, err := Run(cfg)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out.String(), log.String())
	}
	return rep, out.String() + log.String()
}

func cases(t *testing.T) (reads, writes int) {
	t.Helper()
	vectors, err := testvectors.Load(vectorDir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range vectors {
		reads++
		if len(opsFor(&vectors[i])) == 2 {
			writes++
		}
	}
	return reads, writes
}

// TestTagsealPassesEverything: tagseal's own testee passes every case with
// an empty failure list.
func TestTagsealPassesEverything(t *testing.T) {
	reads, writes := cases(t)
	rep, out := run(t, Config{Testee: fakeCommand(t, "tagseal", "")})
	if !rep.OK() || rep.Count(Passed) != reads+writes {
		t.Fatalf("want %d passed: %s\n%s", reads+writes, rep.Summary(), out)
	}
	want := fmt.Sprintf("tagseal: %d passed, 0 failed, 0 known failures, 0 skipped", reads+writes)
	if !strings.Contains(out, want+"\n") {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}

// TestWrongReadsFail: a testee answering every read with a wrong value
// fails every read, and the run.
func TestWrongReadsFail(t *testing.T) {
	reads, writes := cases(t)
	rep, out := run(t, Config{Testee: fakeCommand(t, "wrong", "")})
	if rep.OK() {
		t.Fatalf("a testee with wrong plaintexts passed: %s", rep.Summary())
	}
	failedReads := 0
	for _, r := range rep.Results {
		if r.Op == OpRead && r.Outcome == Failed {
			failedReads++
		}
	}
	if failedReads != reads {
		t.Errorf("%d of %d reads failed:\n%s", failedReads, reads, out)
	}
	if rep.Count(Passed) != writes {
		t.Errorf("%d passed, want the %d writes", rep.Count(Passed), writes)
	}
}

// TestFailureList: a listed failure is known; a listed case that passes,
// and an entry naming no case, are stale and fail the run; --fix rewrites
// the list to the true one, keeping reasons.
func TestFailureList(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "failures.txt")
	write := func(s string) {
		if err := os.WriteFile(list, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	only := "avro-flat-aes256-gcm,json-flat-aes256-gcm,neg-avro-tampered-tag"
	// The wrong testee fails the three reads; listing them all makes a pass.
	write("# header\n\navro-flat-aes256-gcm:read  # wrong value\njson-flat-aes256-gcm:read # wrong too\nneg-avro-tampered-tag # no error\n")
	rep, out := run(t, Config{Testee: fakeCommand(t, "wrong", ""), Only: only, FailureList: list})
	if !rep.OK() || rep.Count(Known) != 3 || rep.Count(Passed) != 2 {
		t.Fatalf("%s\n%s", rep.Summary(), out)
	}
	if !strings.Contains(out, "KNOWN avro-flat-aes256-gcm:read: wrong value") {
		t.Errorf("no KNOWN line:\n%s", out)
	}
	// tagseal passes them: every entry is stale.
	rep, out = run(t, Config{Testee: fakeCommand(t, "tagseal", ""), Only: only, FailureList: list})
	if rep.OK() || rep.Count(Stale) != 3 {
		t.Fatalf("stale entries passed: %s\n%s", rep.Summary(), out)
	}
	if !strings.Contains(out, "tagseal: 2 passed, 3 failed, 0 known failures, 0 skipped") {
		t.Errorf("summary:\n%s", out)
	}
	// An entry naming a vector that does not exist is stale.
	write("no-such-vector # gone\n")
	rep, out = run(t, Config{Testee: fakeCommand(t, "tagseal", ""), Only: only, FailureList: list})
	if rep.OK() || len(rep.StaleEntries) != 1 || !strings.Contains(out, "STALE no-such-vector") {
		t.Fatalf("stale entry passed: %s\n%s", rep.Summary(), out)
	}
	// --fix: the entry without an op narrows to read (the write passes),
	// a stale one goes, a new failure arrives with a TODO.
	write("# header\n\n# above\navro-flat-aes256-gcm  # wrong value\nno-such-vector # gone\n")
	rep, _ = run(t, Config{Testee: fakeCommand(t, "wrong", ""), Only: only, FailureList: list, Fix: true})
	if rep.OK() {
		t.Fatal("a run with unlisted failures is OK")
	}
	b, _ := os.ReadFile(list)
	fixed := string(b)
	for _, want := range []string{"# header\n", "# above\navro-flat-aes256-gcm:read", "# wrong value", "json-flat-aes256-gcm:read", "TODO why", "neg-avro-tampered-tag:read"} {
		if !strings.Contains(fixed, want) {
			t.Errorf("fixed list lacks %q:\n%s", want, fixed)
		}
	}
	if strings.Contains(fixed, "no-such-vector") {
		t.Errorf("fixed list keeps a stale entry:\n%s", fixed)
	}
	rep, out = run(t, Config{Testee: fakeCommand(t, "wrong", ""), Only: only, FailureList: list})
	if !rep.OK() {
		t.Errorf("the fixed list does not pass: %s\n%s", rep.Summary(), out)
	}
}

// TestCrashAndHang: a testee that exits or stops answering fails that case
// with a reason, is restarted, and the run goes on without hanging.
func TestCrashAndHang(t *testing.T) {
	only := "avro-flat-aes256-gcm,avro-nested-aes256-gcm,json-flat-aes256-gcm"
	for _, mode := range []string{"crash", "hang"} {
		t.Run(mode, func(t *testing.T) {
			start := time.Now()
			rep, out := run(t, Config{Testee: fakeCommand(t, mode, "avro-nested-aes256-gcm"), Only: only, Timeout: 2 * time.Second})
			if time.Since(start) > time.Minute {
				t.Errorf("the run took %v", time.Since(start))
			}
			if rep.OK() || rep.Count(Failed) != 2 || rep.Count(Passed) != 4 {
				t.Fatalf("%s\n%s", rep.Summary(), out)
			}
			want := "exited"
			if mode == "hang" {
				want = "no answer within 2s"
			}
			for _, r := range rep.Results {
				if r.Outcome == Failed && (r.Vector != "avro-nested-aes256-gcm" || !strings.Contains(r.Reason, want)) {
					t.Errorf("failure %s:%s: %s, want %q", r.Vector, r.Op, r.Reason, want)
				}
			}
		})
	}
}

// TestStderrAndOnly: --only selects vectors; the testee's stderr reaches
// the log with the command prefix.
func TestStderrAndOnly(t *testing.T) {
	rep, out := run(t, Config{Testee: fakeCommand(t, "stderr", ""), Only: "json-flat-*"})
	if !rep.OK() || rep.Count(Passed) == 0 {
		t.Fatalf("%s\n%s", rep.Summary(), out)
	}
	if !strings.Contains(out, "] request read json-flat-aes256-gcm\n") {
		t.Errorf("testee stderr not passed through:\n%s", out)
	}
	for _, r := range rep.Results {
		if !strings.HasPrefix(r.Vector, "json-flat-") {
			t.Errorf("--only let %s through", r.Vector)
		}
	}
}

// TestMinimalPythonTestee runs the README's example testee with its
// failure list, when python3 with the cryptography package is installed:
// it reads flat JSON Schema records (AES-GCM), reports negative vectors'
// classes and skips everything else; a capabilities skip and a testee skip
// both happen.
func TestMinimalPythonTestee(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: the README's minimal testee is not run")
	}
	if out, err := exec.Command(python, "-c", "import cryptography").CombinedOutput(); err != nil {
		t.Skipf("python3 lacks the cryptography package (%s): the README's minimal testee is not run", bytes.TrimSpace(out))
	}
	script, _ := filepath.Abs("../examples/minimal_testee.py")
	rep, out := run(t, Config{Testee: python + " " + script, FailureList: "../examples/minimal_failures.txt"})
	if !rep.OK() || rep.Count(Passed) < 15 || rep.Count(Known) != 3 || rep.Count(Skipped) == 0 {
		t.Fatalf("%s\n%s", rep.Summary(), out)
	}
	byReason := map[bool]int{}
	for _, r := range rep.Results {
		if r.Outcome == Skipped {
			byReason[strings.HasPrefix(r.Reason, "testee:")]++
		}
	}
	if byReason[true] == 0 || byReason[false] == 0 {
		t.Errorf("skips by testee %d, by capabilities %d: want both", byReason[true], byReason[false])
	}
	t.Log(rep.Summary())
}

func TestFailureListParse(t *testing.T) {
	for _, bad := range []string{"a b\n", "a:delete\n", "a\na\n"} {
		if _, err := ParseFailureList([]byte(bad), "x"); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	text := "# head\n\n# about b\nb:write  # why b\na # why a\n"
	fl, err := ParseFailureList([]byte(text), "x")
	if err != nil {
		t.Fatal(err)
	}
	if len(fl.Entries) != 2 || fl.Entries[0].Key() != "b:write" || fl.Entries[0].Why != "why b" || fl.Entries[0].Above[0] != "# about b" {
		t.Fatalf("%+v", fl)
	}
	if _, ok := fl.Find("b", OpRead); ok {
		t.Error("b:write covers b:read")
	}
	if _, ok := fl.Find("a", OpWrite); !ok {
		t.Error("a does not cover a:write")
	}
	want := "# head\n\na        # why a\n# about b\nb:write  # why b\n"
	if got := string(fl.Format()); got != want {
		t.Errorf("format:\n%s\nwant\n%s", got, want)
	}
}

// TestReadmeShowsTheMinimalTestee: the README's testee is the file the
// tests run.
func TestReadmeShowsTheMinimalTestee(t *testing.T) {
	script, err := os.ReadFile("../examples/minimal_testee.py")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, append([]byte("```python\n"), script...)) {
		t.Error("README.md does not show testvectors/examples/minimal_testee.py as it is")
	}
}

func TestFrames(t *testing.T) {
	var b bytes.Buffer
	if err := WriteFrame(&b, Request{Op: OpRead, Name: "x"}); err != nil {
		t.Fatal(err)
	}
	if n := int(b.Bytes()[0]) | int(b.Bytes()[1])<<8; n != b.Len()-4 {
		t.Fatalf("length prefix %d for a %d-byte body", n, b.Len()-4)
	}
	var req Request
	if err := ReadFrame(&b, &req); err != nil || req.Op != OpRead || req.Name != "x" {
		t.Fatalf("%+v, %v", req, err)
	}
	if err := ReadFrame(&b, &req); err != io.EOF {
		t.Errorf("empty stream: %v, want io.EOF", err)
	}
	if err := ReadFrame(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0x7f}), &req); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("2 GiB frame: %v", err)
	}
	if err := ReadFrame(bytes.NewReader([]byte{5, 0, 0, 0, '{'}), &req); err != io.ErrUnexpectedEOF {
		t.Errorf("cut frame: %v", err)
	}
	if err := ReadFrame(bytes.NewReader([]byte{2, 0, 0, 0, '{', '{'}), &req); err == nil {
		t.Error("bad JSON read")
	}
}
