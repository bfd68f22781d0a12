package main

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tagseal/tagseal/registry"
)

func TestShred(t *testing.T) {
	ctx := context.Background()
	mem := registry.NewMemory()
	reg := httptest.NewServer(mem)
	defer reg.Close()
	// dek reads a DEK version as the registry holds it, soft-deleted or
	// not; ok is false when it is gone for good.
	dek := func(kek, subject, alg string, version int) (registry.DEK, bool) {
		d, err := mem.DEK(ctx, kek, subject, alg, version, true)
		return d, err == nil
	}
	if _, err := mem.CreateKEK(ctx, registry.KEK{Name: "k1", KmsType: "local-kms", KmsKeyID: "id"}); err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 2; v++ {
		if _, err := mem.CreateDEK(ctx, "k1", registry.DEK{Subject: "orders-value", Version: v, Algorithm: "AES256_GCM", EncryptedKeyMaterial: "ZWRlaw=="}); err != nil {
			t.Fatal(err)
		}
	}
	shred := func(stdin string, args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := run(append([]string{"shred", "--registry", reg.URL}, args...), strings.NewReader(stdin), &out, &errOut)
		return code, out.String() + errOut.String()
	}

	if code, out := shred("no\n", "--kek", "k1", "--subject", "orders-value", "--version", "1"); code != 1 || !strings.Contains(out, "Nothing deleted") {
		t.Fatalf("declined: %d %s", code, out)
	}
	if d, _ := dek("k1", "orders-value", "AES256_GCM", 1); d.Deleted {
		t.Fatal("a declined shred deleted the DEK")
	}
	if code, out := shred("yes\n", "--kek", "k1", "--subject", "orders-value", "--version", "1"); code != 0 || !strings.Contains(out, "Soft-deleted DEK version 1") {
		t.Fatalf("confirmed: %d %s", code, out)
	}
	if d, ok := dek("k1", "orders-value", "AES256_GCM", 1); !ok || !d.Deleted {
		t.Fatal("DEK version 1 not soft-deleted")
	}
	if d, _ := dek("k1", "orders-value", "AES256_GCM", 2); d.Deleted {
		t.Fatal("version 2 must be untouched")
	}
	if code, out := shred("", "--kek", "k1", "--subject", "orders-value", "--permanent", "--yes"); code != 0 || !strings.Contains(out, "Permanently deleted all DEK versions") {
		t.Fatalf("permanent: %d %s", code, out)
	}
	if _, ok := dek("k1", "orders-value", "AES256_GCM", 2); ok {
		t.Fatal("DEK not hard-deleted")
	}
	if code, _ := shred("", "--kek", "k1", "--yes"); code != 0 {
		t.Fatal("KEK delete failed")
	}
	if k, _ := mem.KEK(ctx, "k1", true); !k.Deleted {
		t.Fatal("KEK not soft-deleted")
	}
	if code, out := shred("", "--kek", "nope", "--yes"); code != 1 || !strings.Contains(out, "404") {
		t.Fatalf("unknown KEK: %d %s", code, out)
	}
	if code, _ := shred("", "--yes"); code != 2 {
		t.Fatal("missing --kek must be a usage error")
	}
	// A KEK with live DEKs: the registry deletes it only after them, so
	// they go first (and the prompt lists them).
	if _, err := mem.CreateKEK(ctx, registry.KEK{Name: "k2", KmsType: "local-kms", KmsKeyID: "id"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"a-value", "b-value"} {
		if _, err := mem.CreateDEK(ctx, "k2", registry.DEK{Subject: s, Algorithm: "AES256_SIV", EncryptedKeyMaterial: "ZWRlaw=="}); err != nil {
			t.Fatal(err)
		}
	}
	if code, out := shred("yes\n", "--kek", "k2"); code != 0 || !strings.Contains(out, `subject "a-value" (AES256_SIV)`) || !strings.Contains(out, `Soft-deleted KEK "k2"`) {
		t.Fatalf("KEK with DEKs: %d %s", code, out)
	}
	if d, ok := dek("k2", "b-value", "AES256_SIV", 1); !ok || !d.Deleted {
		t.Fatal("the KEK's DEK is not soft-deleted")
	}
	if code, out := shred("", "--kek", "k2", "--permanent", "--yes"); code != 0 || !strings.Contains(out, `Permanently deleted KEK "k2"`) {
		t.Fatalf("permanent KEK: %d %s", code, out)
	}
	if _, err := mem.KEK(ctx, "k2", true); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("KEK k2 not hard-deleted: %v", err)
	}
	if _, ok := dek("k2", "a-value", "AES256_SIV", 1); ok {
		t.Fatal("the KEK's DEK is not hard-deleted")
	}

	var out, errOut bytes.Buffer
	if code := run([]string{"shred", "--help"}, nil, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "--permanent") {
		t.Fatalf("help: %d %s", code, errOut.String())
	}
}
