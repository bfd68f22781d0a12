package dekadmin_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/internal/dekadmin"
	"github.com/tagseal/tagseal/internal/vaulttest"
	"github.com/tagseal/tagseal/kms"
	_ "github.com/tagseal/tagseal/kms/hcvault"
	"github.com/tagseal/tagseal/registry"
)

// transitKey creates a fresh transit key on the OpenBao server that the
// README test command starts (skipping outside it) and returns a root
// client, the key's name and the rule params naming it.
func transitKey(t *testing.T, what string) (*api.Client, string, map[string]string) {
	t.Helper()
	c, addr, _ := vaulttest.Server(t)
	name := vaulttest.NewTransitKey(t, c, "dekadmin-"+what)
	return c, name, map[string]string{tagseal.ParamKMSType: "hcvault", tagseal.ParamKMSKeyID: addr + "/transit/keys/" + name,
		tagseal.ParamDEKExpiryDays: "30"}
}

// rotateTransit makes a new transit key version the one that encrypts.
func rotateTransit(t *testing.T, c *api.Client, name string) {
	t.Helper()
	if _, err := c.Logical().Write("transit/keys/"+name+"/rotate", nil); err != nil {
		t.Fatal(err)
	}
}

// retireV1 stops the transit key decrypting version 1 ciphertexts.
func retireV1(t *testing.T, c *api.Client, name string) {
	t.Helper()
	if _, err := c.Logical().Write("transit/keys/"+name+"/config", map[string]any{"min_decryption_version": 2}); err != nil {
		t.Fatal(err)
	}
}

// The scenario against OpenBao: records under three DEKs (two
// subjects, two versions of one), transit key rotated, every DEK rewrapped
// with transit rewrap, version 1 retired (min_decryption_version=2): every
// old record still reads with cold caches. The control shows the bump
// alone makes them unreadable, with the typed error.
func TestRewrapThenRetireOldKeyVersion(t *testing.T) {
	ctx := context.Background()
	c, name, params := transitKey(t, "rewrap")
	conf := map[string]string{"token.id": c.Token()}
	mem := registry.NewMemory()
	fixture(t, mem, "vault-kek", params, "orders", "payments")
	recs := produce(t, mem, conf, 3, "orders", "payments")
	keys := dekadmin.Keys{Config: conf}
	if _, err := dekadmin.Rotate(ctx, mem, keys, "vault-kek", "orders-value", ""); err != nil {
		t.Fatal(err)
	}
	recs = append(recs, produce(t, mem, conf, 3, "orders")...)

	rotateTransit(t, c, name)
	got, err := dekadmin.Rewrap(ctx, mem, mem, keys, "vault-kek", "", true, nil)
	if err != nil || len(got) != 3 {
		t.Fatalf("rewrap: %+v %v", got, err)
	}
	for _, r := range got {
		if r.From != "v1" || r.To != "v2" || r.Unchanged {
			t.Fatalf("rewrapped %+v, want v1 → v2", r)
		}
	}
	list, err := dekadmin.List(ctx, mem, mem, "vault-kek", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list[0].DEKs {
		dek, _ := mem.DEK(ctx, "vault-kek", d.Subject, d.Algorithm, d.Version, true)
		edek, _ := base64.StdEncoding.DecodeString(dek.EncryptedKeyMaterial)
		if !strings.HasPrefix(string(edek), "vault:v2:") || d.KMSKeyVersion != "v2" {
			t.Fatalf("%s v%d wrapped as %.9q (%s), want vault:v2:", d.Subject, d.Version, edek, d.KMSKeyVersion)
		}
	}
	// A second run has nothing to do.
	again, err := dekadmin.Rewrap(ctx, mem, mem, keys, "vault-kek", "", true, nil)
	if err != nil || len(again) != 3 || !again[0].Unchanged {
		t.Fatalf("second rewrap: %+v %v", again, err)
	}
	retireV1(t, c, name)
	if err := readAll(mem, conf, recs); err != nil {
		t.Fatalf("after rewrap and min_decryption_version=2: %v", err)
	}
	// New records still work too.
	if err := readAll(mem, conf, produce(t, mem, conf, 1, "orders", "payments")); err != nil {
		t.Fatal(err)
	}
}

func TestRetireWithoutRewrapFailsTyped(t *testing.T) {
	c, name, params := transitKey(t, "control")
	conf := map[string]string{"token.id": c.Token()}
	mem := registry.NewMemory()
	fixture(t, mem, "vault-kek", params, "orders")
	recs := produce(t, mem, conf, 2, "orders")
	rotateTransit(t, c, name)
	retireV1(t, c, name)
	err := readAll(mem, conf, recs)
	if !errors.Is(err, tagseal.ErrKeyShredded) {
		t.Fatalf("read after retiring the key version the DEK is wrapped with: %v, want ErrKeyShredded", err)
	}
	// Rewrap cannot rescue it any more: Vault refuses the old version.
	_, err = dekadmin.Rewrap(context.Background(), mem, mem, dekadmin.Keys{Config: conf}, "vault-kek", "", false, nil)
	if !errors.Is(err, kms.ErrRewrap) || !errors.Is(err, kms.ErrKeyShredded) {
		t.Fatalf("rewrap after retirement: %v, want kms.ErrRewrap and kms.ErrKeyShredded", err)
	}
}
