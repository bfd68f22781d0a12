package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tagseal/tagseal/registry"
)

// TestRegistryServe starts `tagseal registry serve` on a free port,
// registers a schema and a KEK over HTTP with registry.New, reads them
// back, and stops the server.
func TestRegistryServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	old := serveContext
	serveContext = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	t.Cleanup(func() { serveContext = old; cancel() })

	pr, pw := io.Pipe()
	var errOut bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"registry", "serve", "--listen", "127.0.0.1:0"}, nil, pw, &errOut)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("no output: exit %d: %s", <-code, errOut.String())
	}
	first := lines.Text()
	_, rest, ok := strings.Cut(first, "http://")
	if !ok {
		t.Fatalf("no URL in %q", first)
	}
	url := "http://" + strings.Fields(rest)[0]
	tail := make(chan string, 1)
	go func() {
		var b strings.Builder
		for lines.Scan() {
			b.WriteString(lines.Text() + "\n")
		}
		tail <- b.String()
	}()

	c, err := registry.New(url)
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	schema := registry.Schema{Schema: demoSchema, RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{{Name: "pii",
		Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"}, Params: map[string]string{"encrypt.kek.name": "k"}}}}}
	reg, err := c.Register(rctx, "customers-value", schema, false)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := c.Latest(rctx, "customers-value")
	if err != nil || latest.ID != reg.ID || latest.Version != 1 || latest.RuleSet == nil || latest.RuleSet.DomainRules[0].Name != "pii" {
		t.Fatalf("latest: %+v %v", latest, err)
	}
	if _, err := c.CreateKEK(rctx, registry.KEK{Name: "k", KmsType: "local-kms", KmsKeyID: "x"}); err != nil {
		t.Fatal(err)
	}
	if k, err := c.KEK(rctx, "k", false); err != nil || k.KmsKeyID != "x" {
		t.Fatalf("KEK: %+v %v", k, err)
	}

	// The CLI itself works against it.
	if code, out := cli("lint", "--registry", url, "--subject", "customers-value"); code != 1 || !strings.Contains(out, "kek-not-creatable") {
		t.Fatalf("lint against the served registry: exit %d: %s", code, out)
	}

	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit %d: %s", c, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop")
	}
	if out := <-tail; out != "stopped\n" {
		t.Fatalf("output after the first line: %q", out)
	}
	if _, err := c.Latest(rctx, "customers-value"); err == nil {
		t.Fatal("the registry still answers after stopping")
	}

	if code, _ := cli("registry", "bogus"); code != 2 {
		t.Fatal("unknown subcommand must be a usage error")
	}
	if code, out := cli("registry", "serve", "--listen", "not an address"); code != 1 || !strings.Contains(out, "tagseal registry serve:") {
		t.Fatalf("bad address: exit %d: %s", code, out)
	}
}
