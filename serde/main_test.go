package serde_test

import (
	"bytes"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// logSink collects everything the package logs (slog at debug level, and
// the standard logger Confluent's code uses) while the tests run.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// count returns how many log lines contain s.
func (s *logSink) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.buf.String(), sub)
}

// sink receives the package's logs during the tests.
var sink = &logSink{}

// readNoneRan is set by the test whose read action NONE must log at debug
// level; the scan then also checks that debug output was captured.
var readNoneRan atomic.Bool

// plaintexts are every tagged value the tests in this package use.
var plaintexts = []string{"Ada Lovelace", "ada@example.com", "Only Name", "4111111111111111"}

// TestMain runs the suite — bad input, fail-closed faults, read action NONE
// — with logging captured, then fails if any tagged plaintext was logged.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(sink, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log.SetOutput(sink)
	code := m.Run()
	sink.mu.Lock()
	logged := sink.buf.String()
	sink.mu.Unlock()
	for _, p := range plaintexts {
		if strings.Contains(logged, p) {
			fmt.Fprintf(os.Stderr, "FAIL: a tagged plaintext value appears in the logs\n")
			code = 1
		}
	}
	if readNoneRan.Load() && !strings.Contains(logged, "onFailure NONE") {
		fmt.Fprintf(os.Stderr, "FAIL: the log scan saw no debug output; it would not catch a leak\n")
		code = 1
	}
	os.Exit(code)
}
