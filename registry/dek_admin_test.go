package registry

import (
	"context"
	"reflect"
	"testing"
)

// adminClients runs f against Memory directly and over HTTP.
func adminClients(t *testing.T, f func(t *testing.T, c interface {
	Client
	DEKAdmin
})) {
	t.Run("direct", func(t *testing.T) { f(t, NewMemory()) })
	t.Run("http", func(t *testing.T) { _, c := serve(t); f(t, c) })
}

func TestKEKNames(t *testing.T) {
	adminClients(t, func(t *testing.T, c interface {
		Client
		DEKAdmin
	}) {
		ctx := context.Background()
		if got, err := c.KEKNames(ctx, false); err != nil || len(got) != 0 {
			t.Fatalf("empty registry: %v %v", got, err)
		}
		for _, n := range []string{"zeta", "alpha", "mid"} {
			if _, err := c.CreateKEK(ctx, KEK{Name: n, KmsType: "local-kms", KmsKeyID: "k"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.DeleteKEK(ctx, "mid", false); err != nil {
			t.Fatal(err)
		}
		if got, err := c.KEKNames(ctx, false); err != nil || !reflect.DeepEqual(got, []string{"alpha", "zeta"}) {
			t.Fatalf("live KEKs %v %v", got, err)
		}
		if got, err := c.KEKNames(ctx, true); err != nil || !reflect.DeepEqual(got, []string{"alpha", "mid", "zeta"}) {
			t.Fatalf("all KEKs %v %v", got, err)
		}
	})
}

// RewrapDEK replaces an existing version's wrapping where CreateDEK is
// refused, keeps the deleted state it is given, and is refused for a
// shared KEK's DEK with material, as Confluent's DEK Registry does.
func TestRewrapDEK(t *testing.T) {
	adminClients(t, func(t *testing.T, c interface {
		Client
		DEKAdmin
	}) {
		ctx := context.Background()
		if _, err := c.CreateKEK(ctx, KEK{Name: "k", KmsType: "local-kms", KmsKeyID: "k"}); err != nil {
			t.Fatal(err)
		}
		for v, m := range []string{"djE=", "djI="} {
			if _, err := c.CreateDEK(ctx, "k", DEK{Subject: "s", Version: v + 1, EncryptedKeyMaterial: m}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := c.CreateDEK(ctx, "k", DEK{Subject: "s", Version: 1, EncryptedKeyMaterial: "bmV3"})
		wantErr(t, err, ErrConflict, CodeKeyExists)
		got, err := c.RewrapDEK(ctx, "k", DEK{Subject: "s", Version: 1, Algorithm: DefaultAlgorithm, EncryptedKeyMaterial: "bmV3"})
		if err != nil || got.EncryptedKeyMaterial != "bmV3" || got.Version != 1 || got.Deleted {
			t.Fatalf("rewrap: %+v %v", got, err)
		}
		if d, _ := c.DEK(ctx, "k", "s", "", 1, false); d.EncryptedKeyMaterial != "bmV3" {
			t.Fatalf("stored v1 %+v", d)
		}
		if d, _ := c.DEK(ctx, "k", "s", "", 2, false); d.EncryptedKeyMaterial != "djI=" {
			t.Fatalf("v2 changed: %+v", d)
		}
		// A soft-deleted version stays soft-deleted.
		if err := c.DeleteDEK(ctx, "k", "s", "", 2, false); err != nil {
			t.Fatal(err)
		}
		if got, err := c.RewrapDEK(ctx, "k", DEK{Subject: "s", Version: 2, EncryptedKeyMaterial: "bmV3Mg==", Deleted: true}); err != nil || !got.Deleted {
			t.Fatalf("rewrap deleted: %+v %v", got, err)
		}
		if vs, _ := c.DEKVersions(ctx, "k", "s", "", false); !reflect.DeepEqual(vs, []int{1}) {
			t.Fatalf("live versions after rewrapping a deleted one: %v", vs)
		}
		if d, _ := c.DEK(ctx, "k", "s", "", 2, true); d.EncryptedKeyMaterial != "bmV3Mg==" || !d.Deleted {
			t.Fatalf("deleted v2 %+v", d)
		}
		_, err = c.RewrapDEK(ctx, "nope", DEK{Subject: "s", Version: 1, EncryptedKeyMaterial: "eA=="})
		wantErr(t, err, ErrNotFound, CodeKeyNotFound)
		if _, err := c.CreateKEK(ctx, KEK{Name: "shared", KmsType: "local-kms", KmsKeyID: "k", Shared: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateDEK(ctx, "shared", DEK{Subject: "s", EncryptedKeyMaterial: "eA=="}); err != nil {
			t.Fatal(err)
		}
		_, err = c.RewrapDEK(ctx, "shared", DEK{Subject: "s", Version: 1, EncryptedKeyMaterial: "eQ=="})
		wantErr(t, err, ErrConflict, CodeKeyExists)
	})
}
