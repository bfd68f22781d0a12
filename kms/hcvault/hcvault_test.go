package hcvault_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	chcvault "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/hcvault"
	"github.com/hashicorp/vault/api"

	"github.com/tagseal/tagseal/kms"
	"github.com/tagseal/tagseal/kms/hcvault"
)

func TestParseKeyURI(t *testing.T) {
	for uri, want := range map[string][2]string{
		"hcvault://vault.example:8200/transit/keys/k":             {"https://vault.example:8200", "/transit/keys/k"},
		"hcvault://http://127.0.0.1:8200/transit/keys/k":          {"http://127.0.0.1:8200", "/transit/keys/k"},
		"hcvault://https://v:8200/custom-transit/keys/team-a-kek": {"https://v:8200", "/custom-transit/keys/team-a-kek"},
	} {
		addr, path, err := hcvault.ParseKeyURI(uri)
		if err != nil || addr != want[0] || path != want[1] {
			t.Errorf("%s → %q %q %v", uri, addr, path, err)
		}
	}
	for _, bad := range []string{"hcvault://v:8200/transit/k", "aws-kms://x", "hcvault://"} {
		if _, _, err := hcvault.ParseKeyURI(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// tagseal's driver and Confluent's unwrap each other's EDEKs: both are the
// transit ciphertext string.
func TestInteropWithConfluentDriver(t *testing.T) {
	c, addr, token := vault(t)
	name := newKey(t, c)
	uri := "hcvault://" + keyID(addr, name)
	ours, err := kms.NewRegistry().AEAD(uri, map[string]string{hcvault.ConfigToken: token})
	if err != nil {
		t.Fatal(err)
	}
	client, err := chcvault.NewClient(uri, nil, "", token)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := client.GetAEAD(uri)
	if err != nil {
		t.Fatal(err)
	}
	dek := []byte("serialized tink key proto")
	edek, err := ours.Encrypt(dek, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(edek), "vault:v1:") {
		t.Fatalf("EDEK %q is not a transit ciphertext", edek)
	}
	if got, err := theirs.Decrypt(edek, []byte{}); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("confluent unwrap: %q %v", got, err)
	}
	edek2, err := theirs.Encrypt(dek, []byte{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ours.Decrypt(edek2, nil); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("tagseal unwrap: %q %v", got, err)
	}
}

// Rotating the transit key keeps old EDEKs readable and wraps new ones
// under the latest version; raising min_decryption_version or deleting the
// key shreds the old ones.
func TestRotationAndShredding(t *testing.T) {
	c, addr, token := vault(t)
	name := newKey(t, c)
	uri := "hcvault://" + keyID(addr, name)
	a, err := kms.NewRegistry().AEAD(uri, map[string]string{hcvault.ConfigToken: token})
	if err != nil {
		t.Fatal(err)
	}
	v1, err := a.Encrypt([]byte("dek-1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("transit/keys/"+name+"/rotate", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Decrypt(v1, nil); err != nil || string(got) != "dek-1" {
		t.Fatalf("v1 after rotate: %q %v", got, err)
	}
	v2, err := a.Encrypt([]byte("dek-2"), nil)
	if err != nil || !strings.HasPrefix(string(v2), "vault:v2:") {
		t.Fatalf("new EDEK %q %v, want version 2", v2, err)
	}
	if _, err := c.Logical().Write("transit/keys/"+name+"/config", map[string]any{"min_decryption_version": 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Decrypt(v1, nil); !errors.Is(err, kms.ErrKeyShredded) {
		t.Fatalf("v1 below min_decryption_version: %v, want ErrKeyShredded", err)
	}
	if got, err := a.Decrypt(v2, nil); err != nil || string(got) != "dek-2" {
		t.Fatalf("v2: %q %v", got, err)
	}
	if _, err := c.Logical().Write("transit/keys/"+name+"/config", map[string]any{"deletion_allowed": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Delete("transit/keys/" + name); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Decrypt(v2, nil); !errors.Is(err, kms.ErrKeyShredded) {
		t.Fatalf("deleted key: %v, want ErrKeyShredded", err)
	}
}

// writePolicy creates a policy that may only wrap and unwrap with key name.
func writePolicy(t *testing.T, c *api.Client, name string) string {
	t.Helper()
	policy := "tagseal-" + name
	rules := `path "transit/encrypt/` + name + `" { capabilities = ["update"] }
path "transit/decrypt/` + name + `" { capabilities = ["update"] }`
	if err := c.Sys().PutPolicy(policy, rules); err != nil {
		t.Fatal(err)
	}
	return policy
}

// AppRole credentials from rule config log in and may use the key their
// policy names, and nothing else.
func TestAppRole(t *testing.T) {
	c, addr, _ := vault(t)
	name, other := newKey(t, c), newKey(t, c)
	policy := writePolicy(t, c, name)
	if err := c.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil && !strings.Contains(err.Error(), "already in use") {
		t.Fatal(err)
	}
	role := "tagseal-" + name
	if _, err := c.Logical().Write("auth/approle/role/"+role, map[string]any{"token_policies": policy}); err != nil {
		t.Fatal(err)
	}
	rid, err := c.Logical().Read("auth/approle/role/" + role + "/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := c.Logical().Write("auth/approle/role/"+role+"/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	config := map[string]string{
		hcvault.ConfigAppRoleRoleID:   rid.Data["role_id"].(string),
		hcvault.ConfigAppRoleSecretID: sid.Data["secret_id"].(string),
	}
	t.Setenv("VAULT_TOKEN", "")
	a, err := kms.NewRegistry().AEAD("hcvault://"+keyID(addr, name), config)
	if err != nil {
		t.Fatal(err)
	}
	edek, err := a.Encrypt([]byte("dek"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := a.Decrypt(edek, nil); err != nil || string(got) != "dek" {
		t.Fatalf("%q %v", got, err)
	}
	b, err := kms.NewRegistry().AEAD("hcvault://"+keyID(addr, other), config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Encrypt([]byte("dek"), nil); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("policy must confine the role to its key: %v", err)
	}
	config[hcvault.ConfigAppRoleSecretID] = "not-the-secret"
	if _, err := kms.NewRegistry().AEAD("hcvault://"+keyID(addr, name), config); err == nil {
		t.Fatal("a wrong secret id must fail to log in")
	}
}

func TestUnreachableServer(t *testing.T) {
	a, err := kms.NewRegistry().AEAD("hcvault://http://127.0.0.1:1/transit/keys/k", map[string]string{hcvault.ConfigToken: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Decrypt([]byte("vault:v1:abc"), nil); !isUnreachable(err) {
		t.Fatalf("connection refused must surface as a network error, got %v", err)
	}
}
