package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagseal/tagseal/registry"
)

// TestProxyCommand runs `tagseal proxy --config FILE`, reaches the broker
// through it when the test broker is there (TAGSEAL_KAFKA_BOOTSTRAP), and
// stops it as SIGTERM would.
func TestProxyCommand(t *testing.T) {
	upstream := os.Getenv("TAGSEAL_KAFKA_BOOTSTRAP")
	if upstream == "" {
		upstream = "127.0.0.1:9" // nothing listens; the proxy still starts
	}
	reg := httptest.NewServer(registry.NewMemory())
	defer reg.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "proxy.yaml")
	t.Setenv("TAGSEAL_CLI_TEST_SECRET", "cli-secret")
	if err := os.WriteFile(file, []byte(`
upstream: {bootstrap: ["`+upstream+`"]}
listeners: [{name: apps, address: "127.0.0.1:0", decrypt: ["*"]}]
registry: {url: "`+reg.URL+`"}
kms: {ruleConfig: {secret: "${TAGSEAL_CLI_TEST_SECRET}"}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	old := serveContext
	serveContext = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	t.Cleanup(func() { serveContext = old; cancel() })

	pr, pw := io.Pipe()
	var errOut bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"proxy", "--config", file}, nil, pw, &errOut)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("no output: exit %d: %s", <-code, errOut.String())
	}
	first := lines.Text()
	_, addr, ok := strings.Cut(first, "listener apps on ")
	if !ok {
		t.Fatalf("no listener address in %q", first)
	}
	rest := make(chan string, 1)
	go func() {
		var b strings.Builder
		for lines.Scan() {
			b.WriteString(lines.Text() + "\n")
		}
		rest <- b.String()
	}()
	if os.Getenv("TAGSEAL_KAFKA_BOOTSTRAP") != "" {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		pctx, pcancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = cl.Ping(pctx)
		pcancel()
		cl.Close()
		if err != nil {
			t.Fatalf("no broker through the proxy command: %v", err)
		}
	} else {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("the proxy does not listen on %s: %v", addr, err)
		}
		c.Close()
	}
	cancel()
	if c := <-code; c != 0 {
		t.Fatalf("exit %d: %s", c, errOut.String())
	}
	if out := <-rest; !strings.Contains(out, "stopped") {
		t.Fatalf("output after the stop: %q", out)
	}
}

func TestProxyCommandErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if c := run([]string{"proxy"}, nil, &out, &errOut); c != 2 {
		t.Fatalf("no --config: exit %d", c)
	}
	file := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(file, []byte("upstream: {bootstrap: []}\n"), 0o600)
	errOut.Reset()
	if c := run([]string{"proxy", "--config", file}, nil, &out, &errOut); c != 1 || !strings.Contains(errOut.String(), "invalid configuration") {
		t.Fatalf("bad config: exit %d, %q", c, errOut.String())
	}
}
