package hcvault_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/kms"
	"github.com/tagseal/tagseal/kms/hcvault"
	sr "github.com/tagseal/tagseal/registry"
)

// policy lets a token use transit key name (and look itself up and renew
// itself, as Vault's default policy does).
func policy(t *testing.T, c *api.Client, name string) string {
	t.Helper()
	p := fmt.Sprintf(`
path "transit/encrypt/%[1]s" { capabilities = ["update"] }
path "transit/decrypt/%[1]s" { capabilities = ["update"] }
path "transit/rewrap/%[1]s" { capabilities = ["update"] }
`, name)
	pname := "tagseal-" + name
	if err := c.Sys().PutPolicy(pname, p); err != nil {
		t.Fatal(err)
	}
	return pname
}

// appRole creates an AppRole whose tokens may use transit key name and
// live ttl, renewable up to maxTTL, and returns its credentials.
func appRole(t *testing.T, c *api.Client, name, ttl, maxTTL string) (roleID, secretID string) {
	t.Helper()
	err := c.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"})
	if err != nil && !strings.Contains(err.Error(), "already in use") {
		t.Fatal(err)
	}
	role := "auth/approle/role/" + name
	if _, err := c.Logical().Write(role, map[string]any{
		"token_policies": policy(t, c, name), "token_ttl": ttl, "token_max_ttl": maxTTL,
	}); err != nil {
		t.Fatal(err)
	}
	r, err := c.Logical().Read(role + "/role-id")
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Logical().Write(role+"/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	return r.Data["role_id"].(string), s.Data["secret_id"].(string)
}

// watchers counts the goroutines renewing Vault tokens.
func watchers() int {
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	n := 0
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "hcvault.(*session)") || strings.Contains(g, "(*LifetimeWatcher)") {
			n++
		}
	}
	return n
}

// waitNoWatchers fails unless every token-renewal goroutine has ended
// within 5 s, running the garbage collector meanwhile (unreachable AEADs
// stop theirs).
func waitNoWatchers(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for watchers() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d token-renewal goroutines left", watchers())
		}
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
}

// closeAndCheckGoroutines closes a and checks that no renewal goroutine is
// left.
func closeAndCheckGoroutines(t *testing.T, a *hcvault.AEAD) {
	t.Helper()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if n := watchers(); n != 0 {
		t.Fatalf("%d token-renewal goroutines after Close", n)
	}
}

func newVaultAEAD(t *testing.T, keyURI string, config map[string]string) *hcvault.AEAD {
	t.Helper()
	d, err := kms.NewRegistry().AEAD(keyURI, config)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := d.(*hcvault.AEAD)
	if !ok {
		t.Fatalf("driver returned %T", d)
	}
	return a
}

// An AppRole token with a 2 s TTL renewable to 60 s is kept alive by
// renewal alone: after 2.5 TTLs the same login still unwraps.
func TestAppRoleTokenRenewedWithinMaxTTL(t *testing.T) {
	c, addr, _ := vault(t)
	waitNoWatchers(t)
	proxy := newCountingProxy(t, addr)
	name := newKey(t, c)
	roleID, secretID := appRole(t, c, name, "2s", "60s")
	a := newVaultAEAD(t, "hcvault://"+keyID(proxy.URL, name), map[string]string{
		hcvault.ConfigAppRoleRoleID: roleID, hcvault.ConfigAppRoleSecretID: secretID})
	edek, err := a.Encrypt([]byte("dek"), nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	pt, err := a.Decrypt(edek, nil)
	if err != nil || string(pt) != "dek" {
		t.Fatalf("decrypt after 2.5 TTLs: %q, %v", pt, err)
	}
	if got := proxy.logins.Load(); got != 1 {
		t.Errorf("%d AppRole logins, want 1 (renewal alone keeps the token)", got)
	}
	if proxy.renewals.Load() < 2 {
		t.Errorf("%d token renewals in 2.5 TTLs, want ≥ 2", proxy.renewals.Load())
	}
	if proxy.denied.Load() != 0 {
		t.Errorf("%d requests denied", proxy.denied.Load())
	}
	closeAndCheckGoroutines(t, a)
}

// Records keep flowing through a pure-API serializer and deserializer
// across more than two token TTLs although the token's max TTL (4 s) ends
// its renewal: the driver logs in again. After the first token's expiry a
// new DEK (new subject) is created and a cold deserializer unwraps every
// DEK.
func TestAppRoleReloginKeepsRecordsFlowing(t *testing.T) {
	c, addr, _ := vault(t)
	proxy := newCountingProxy(t, addr)
	name := newKey(t, c)
	roleID, secretID := appRole(t, c, name, "2s", "4s")
	ctx := context.Background()
	reg := sr.NewMemory()
	rule := sr.Rule{Name: "enc", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"},
		Params: map[string]string{tagseal.ParamKEKName: "kek-" + name, tagseal.ParamKMSType: "hcvault",
			tagseal.ParamKMSKeyID: keyID(proxy.URL, name)}}
	for _, topic := range []string{"cards", "cards2"} {
		if _, err := reg.Register(ctx, topic+"-value", sr.Schema{Schema: cardSchema,
			RuleSet: &sr.RuleSet{DomainRules: []sr.Rule{rule}}}, false); err != nil {
			t.Fatal(err)
		}
	}
	keys := tagseal.Keys{DEKCacheTTL: 300 * time.Millisecond, RuleConfig: map[string]string{
		hcvault.ConfigAppRoleRoleID: roleID, hcvault.ConfigAppRoleSecretID: secretID}}
	ser, err := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	de, err := tagseal.NewDeserializer(reg, tagseal.Value, tagseal.DeserializerConfig{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		topic string
		b     []byte
	}
	var recs []rec
	start := time.Now()
	for i := 0; time.Since(start) < 9*time.Second; i++ {
		topic := "cards"
		if time.Since(start) > 4500*time.Millisecond && i%2 == 1 {
			topic = "cards2" // first used after the first token's max TTL
		}
		in := &Card{ID: int32(i), Email: fmt.Sprintf("u%d@example.com", i), PAN: "4111111111111111"}
		b, err := ser.Serialize(ctx, topic, in)
		if err != nil {
			t.Fatalf("record %d at %v: %v", i, time.Since(start).Round(time.Millisecond), err)
		}
		var out Card
		if err := de.DeserializeInto(ctx, topic, b, &out); err != nil || out.Email != in.Email {
			t.Fatalf("record %d at %v: %+v, %v", i, time.Since(start).Round(time.Millisecond), out, err)
		}
		recs = append(recs, rec{topic, b})
		time.Sleep(100 * time.Millisecond)
	}
	if got := proxy.logins.Load(); got < 2 {
		t.Errorf("%d AppRole logins across 9 s of 4 s-max tokens, want ≥ 2", got)
	}
	if got := proxy.okUnwraps.Load(); got < 10 {
		t.Errorf("%d successful unwraps, want ≥ 10 (DEK cache TTL 300 ms)", got)
	}
	// A cold deserializer unwraps both subjects' DEKs with the current token.
	cold, err := tagseal.NewDeserializer(reg, tagseal.Value, tagseal.DeserializerConfig{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		var out Card
		if err := cold.DeserializeInto(ctx, r.topic, r.b, &out); err != nil {
			t.Fatalf("cold read of %s: %v", r.topic, err)
		}
		seen[r.topic] = true
	}
	if !seen["cards2"] {
		t.Fatal("no record under the DEK created after the first token expired")
	}
	if watchers() == 0 {
		t.Fatal("no token-renewal goroutine while the serdes are alive")
	}
	runtime.KeepAlive(ser)
	runtime.KeepAlive(de)
	runtime.KeepAlive(cold)
	t.Logf("%d records, %d logins, %d renewals, %d unwraps, %d denied", len(recs),
		proxy.logins.Load(), proxy.renewals.Load(), proxy.okUnwraps.Load(), proxy.denied.Load())
	// The serdes are unreachable now: their AEADs' cleanups stop renewal.
	waitNoWatchers(t)
}

func tokenFor(t *testing.T, c *api.Client, pol string, req *api.TokenCreateRequest) string {
	t.Helper()
	req.Policies = []string{pol}
	req.NoParent = true
	s, err := c.Auth().Token().CreateOrphan(req)
	if err != nil {
		t.Fatal(err)
	}
	return s.Auth.ClientToken
}

// A static renewable token (token.id) is renewed in the background and
// outlives its TTL.
func TestStaticRenewableTokenKeptAlive(t *testing.T) {
	c, addr, _ := vault(t)
	proxy := newCountingProxy(t, addr)
	name := newKey(t, c)
	tok := tokenFor(t, c, policy(t, c, name), &api.TokenCreateRequest{TTL: "2s", Renewable: ptr(true)})
	a := newVaultAEAD(t, "hcvault://"+keyID(proxy.URL, name), map[string]string{hcvault.ConfigToken: tok})
	edek, err := a.Encrypt([]byte("dek"), nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	if pt, err := a.Decrypt(edek, nil); err != nil || string(pt) != "dek" {
		t.Fatalf("decrypt after 2.5 TTLs: %q, %v", pt, err)
	}
	if proxy.renewals.Load() < 2 {
		t.Errorf("%d renewals, want ≥ 2", proxy.renewals.Load())
	}
	closeAndCheckGoroutines(t, a)
}

// A static token past its max TTL cannot be re-obtained: the error says so
// and is typed.
func TestStaticTokenExpiredIsTyped(t *testing.T) {
	c, addr, _ := vault(t)
	name := newKey(t, c)
	pol := policy(t, c, name)
	tok := tokenFor(t, c, pol, &api.TokenCreateRequest{TTL: "2s", ExplicitMaxTTL: "2s"})
	a := newVaultAEAD(t, "hcvault://"+keyID(addr, name), map[string]string{hcvault.ConfigToken: tok})
	edek, err := a.Encrypt([]byte("dek"), nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	_, err = a.Decrypt(edek, nil)
	if !errors.Is(err, hcvault.ErrTokenExpired) || !errors.Is(err, kms.ErrUnavailable) {
		t.Fatalf("decrypt with an expired static token: %v, want ErrTokenExpired (kms.ErrUnavailable)", err)
	}
	if !strings.Contains(err.Error(), "approle") {
		t.Errorf("error does not say how to fix it: %v", err)
	}
	// A valid token without rights to the key is a different failure.
	other := newKey(t, c)
	b := newVaultAEAD(t, "hcvault://"+keyID(addr, other), map[string]string{
		hcvault.ConfigToken: tokenFor(t, c, pol, &api.TokenCreateRequest{TTL: "1m"})})
	if _, err := b.Encrypt([]byte("dek"), nil); err == nil || errors.Is(err, hcvault.ErrTokenExpired) {
		t.Fatalf("encrypt without rights: %v, want a permission error that is not ErrTokenExpired", err)
	}
	closeAndCheckGoroutines(t, b)
	closeAndCheckGoroutines(t, a)
}

// Transit rewrap moves a wrapped DEK to the key's newest version; the DEK
// is unchanged, and kms.Rewrap uses it.
func TestRewrapUsesTransitRewrap(t *testing.T) {
	c, addr, _ := vault(t)
	name := newKey(t, c)
	a := newVaultAEAD(t, "hcvault://"+keyID(addr, name), map[string]string{"token.id": c.Token()})
	defer a.Close()
	edek, err := a.Encrypt([]byte("the dek"), nil)
	if err != nil || !strings.HasPrefix(string(edek), "vault:v1:") {
		t.Fatalf("%q, %v", edek, err)
	}
	if _, err := c.Logical().Write("transit/keys/"+name+"/rotate", nil); err != nil {
		t.Fatal(err)
	}
	out, err := kms.Rewrap(a, edek)
	if err != nil || !strings.HasPrefix(string(out), "vault:v2:") {
		t.Fatalf("rewrap: %q, %v", out, err)
	}
	if pt, err := a.Decrypt(out, nil); err != nil || string(pt) != "the dek" {
		t.Fatalf("decrypt rewrapped: %q, %v", pt, err)
	}
	if _, err := kms.Rewrap(a, []byte("vault:v1:bogus")); !errors.Is(err, kms.ErrRewrap) {
		t.Fatalf("rewrap of garbage: %v, want kms.ErrRewrap", err)
	}
}

func ptr[T any](v T) *T { return &v }
