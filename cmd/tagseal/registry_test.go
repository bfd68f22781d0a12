package main

import (
	"context"
	"strings"
	"testing"

	"github.com/tagseal/tagseal/registry"
)

// TestEmbeddedRegistryURL: mock://NAME (and mem://NAME) name one embedded
// registry for the whole process, so commands share it by name.
func TestEmbeddedRegistryURL(t *testing.T) {
	a, err := newRegistryClient("mock://cli-embedded", "")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newRegistryClient("mock://cli-embedded", "")
	other, _ := newRegistryClient("mem://cli-embedded-other", "")
	if a != b || a == other {
		t.Fatal("mock://NAME must name one registry per NAME")
	}
	if _, err := a.Register(context.Background(), "e-value", registry.Schema{Schema: demoSchema}, false); err != nil {
		t.Fatal(err)
	}
	if code, out := cli("lint", "--registry", "mock://cli-embedded", "--subject", "e-value"); code != 1 || !strings.Contains(out, "tag-without-rule") {
		t.Fatalf("lint on mock://: exit %d: %s", code, out)
	}
	if code, out := cli("lint", "--registry", "mem://cli-embedded-other", "--subject", "e-value"); code != 1 || !strings.Contains(out, "not found") {
		t.Fatalf("another embedded registry: exit %d: %s", code, out)
	}
	if _, err := newRegistryClient("http://localhost:1", "no-colon"); err == nil {
		t.Fatal("basic auth without a colon accepted")
	}
}
