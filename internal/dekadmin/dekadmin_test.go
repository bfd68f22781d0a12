package dekadmin

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/tagseal/tagseal/registry"
)

// keys fills a registry with KEK k1: orders-value DEK versions 1 and 2
// (AES256_GCM), payments-value version 1 (AES256_SIV).
func keys(t *testing.T, mem *registry.Memory) {
	t.Helper()
	ctx := context.Background()
	if _, err := mem.CreateKEK(ctx, registry.KEK{Name: "k1", KmsType: "local-kms", KmsKeyID: "id"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []registry.DEK{
		{Subject: "orders-value", Version: 1, Algorithm: "AES256_GCM", EncryptedKeyMaterial: "ZWRlaw=="},
		{Subject: "orders-value", Version: 2, Algorithm: "AES256_GCM", EncryptedKeyMaterial: "ZWRlaw=="},
		{Subject: "payments-value", Version: 1, Algorithm: "AES256_SIV", EncryptedKeyMaterial: "ZWRlaw=="},
	} {
		if _, err := mem.CreateDEK(ctx, "k1", d); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDeleteOverHTTP(t *testing.T) {
	ctx := context.Background()
	mem := registry.NewMemory()
	srv := httptest.NewServer(mem)
	defer srv.Close()
	keys(t, mem)
	c := &Client{BaseURL: srv.URL}

	if err := c.Delete(Target{KEK: "k1", Subject: "orders-value", Version: 1}, false); err != nil {
		t.Fatal(err)
	}
	if d, err := mem.DEK(ctx, "k1", "orders-value", "", 1, true); err != nil || !d.Deleted {
		t.Fatalf("version 1: %+v %v", d, err)
	}
	if d, err := mem.DEK(ctx, "k1", "orders-value", "", 2, false); err != nil || d.Deleted {
		t.Fatalf("version 2 must be untouched: %+v %v", d, err)
	}
	if err := c.Delete(Target{KEK: "k1", Subject: "orders-value"}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := mem.DEK(ctx, "k1", "orders-value", "", 0, true); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("orders-value DEKs not purged: %v", err)
	}
	// The KEK still has payments-value's (SIV) DEK: the registry refuses a
	// bare KEK delete, so the DEK goes first.
	if err := mem.DeleteKEK(ctx, "k1", false); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("Memory deletes a KEK with live DEKs: %v", err)
	}
	if err := c.Delete(Target{KEK: "k1"}, false); err != nil {
		t.Fatal(err)
	}
	if k, err := mem.KEK(ctx, "k1", true); err != nil || !k.Deleted {
		t.Fatalf("KEK: %+v %v", k, err)
	}
	if d, err := mem.DEK(ctx, "k1", "payments-value", "AES256_SIV", 1, true); err != nil || !d.Deleted {
		t.Fatalf("the KEK's DEK is not soft-deleted: %+v %v", d, err)
	}
	if err := c.Delete(Target{KEK: "nope"}, false); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("unknown KEK: %v", err)
	}
	if err := c.Delete(Target{}, false); err == nil {
		t.Fatal("no KEK name: no error")
	}
}

func TestDeleteKEKPermanently(t *testing.T) {
	ctx := context.Background()
	mem := registry.NewMemory()
	keys(t, mem)
	c := &Client{Registry: mem}
	got, err := DEKs(ctx, mem, "k1", false)
	want := []Target{{KEK: "k1", Subject: "orders-value", Algorithm: "AES256_GCM"}, {KEK: "k1", Subject: "payments-value", Algorithm: "AES256_SIV"}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("DEKs: %v %v", got, err)
	}
	if err := c.Delete(Target{KEK: "k1"}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := mem.KEK(ctx, "k1", true); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("KEK not purged: %v", err)
	}
	for _, d := range want {
		if _, err := mem.DEK(ctx, "k1", d.Subject, d.Algorithm, 0, true); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("%s not purged: %v", d, err)
		}
	}
	// A permanent delete of a KEK already soft-deleted, with soft-deleted DEKs.
	keys(t, mem)
	if err := c.Delete(Target{KEK: "k1"}, false); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(Target{KEK: "k1"}, true); err != nil {
		t.Fatal(err)
	}
	if names, _ := mem.KEKNames(ctx, true); len(names) != 0 {
		t.Fatalf("KEKs left: %v", names)
	}
}
