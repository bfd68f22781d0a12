package azurekms_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/tagseal/tagseal/kms"
	"github.com/tagseal/tagseal/kms/azurekms"
)

// fakeVault is a test double of the Key Vault keys REST API: bearer
// challenge authentication, and RSA-OAEP-256 encrypt/decrypt with a real
// RSA key per key name. It checks every request it receives.
type fakeVault struct {
	t       *testing.T
	mu      sync.Mutex
	keys    map[string]*rsa.PrivateKey
	deleted map[string]bool
	authed  int
}

const token = "test-token"

func (f *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/tenant", resource="https://vault.azure.net"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+token {
		f.t.Errorf("unexpected authorization %q", r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	f.authed++
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/") // keys/NAME/VERSION/op
	if len(parts) != 4 || parts[0] != "keys" || r.URL.Query().Get("api-version") == "" || r.Method != http.MethodPost {
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	name, op := parts[1], parts[3]
	if f.deleted[name] {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":{"code":"KeyNotFound","message":"A key with (name/id) was not found in this key vault."}}`))
		return
	}
	var req struct {
		Alg   string `json:"alg"`
		Value string `json:"value"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Alg != "RSA-OAEP-256" {
		f.t.Errorf("bad body (alg %q): %v", req.Alg, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	in, err := base64.RawURLEncoding.DecodeString(req.Value)
	if err != nil {
		f.t.Errorf("value is not base64url: %v", err)
	}
	key := f.keys[name]
	if key == nil {
		key, _ = rsa.GenerateKey(rand.Reader, 2048)
		f.keys[name] = key
	}
	var out []byte
	switch op {
	case "encrypt":
		out, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, &key.PublicKey, in, nil)
	case "decrypt":
		out, err = rsa.DecryptOAEP(sha256.New(), rand.Reader, key, in, nil)
	}
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":{"code":"BadParameter","message":"crypto failed"}}`))
		return
	}
	json.NewEncoder(w).Encode(map[string]string{"kid": "https://" + r.Host + "/keys/" + name + "/" + parts[2], "value": base64.RawURLEncoding.EncodeToString(out)})
}

type staticCredential struct{}

func (staticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestWrapUnwrapAgainstDouble(t *testing.T) {
	fake := &fakeVault{t: t, keys: map[string]*rsa.PrivateKey{}, deleted: map[string]bool{}}
	srv := httptest.NewTLSServer(fake)
	defer srv.Close()
	azurekms.Register(azurekms.Options{Credential: staticCredential{}, Transport: srv.Client(), DisableChallengeResourceVerification: true})
	defer azurekms.Register(azurekms.Options{})

	uri := azurekms.Prefix + srv.URL + "/keys/kek/v1"
	a, err := kms.NewRegistry().AEAD(uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	edek, err := a.Encrypt([]byte("serialized dek"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(edek) != 256 {
		t.Fatalf("EDEK is %d bytes, want an RSA-2048 OAEP block", len(edek))
	}
	if pt, err := a.Decrypt(edek, nil); err != nil || string(pt) != "serialized dek" {
		t.Fatalf("%q %v", pt, err)
	}
	if fake.authed != 2 {
		t.Fatalf("authenticated requests = %d, want 2", fake.authed)
	}
	fake.deleted["kek"] = true
	if _, err := a.Decrypt(edek, nil); !errors.Is(err, kms.ErrKeyShredded) {
		t.Fatalf("deleted key: %v", err)
	}
}

func TestParseKeyURI(t *testing.T) {
	v, n, ver, err := azurekms.ParseKeyURI("azure-kms://https://myvault.vault.azure.net/keys/kek/0123")
	if err != nil || v != "https://myvault.vault.azure.net" || n != "kek" || ver != "0123" {
		t.Fatalf("%q %q %q %v", v, n, ver, err)
	}
	if _, _, _, err := azurekms.ParseKeyURI("azure-kms://https://myvault.vault.azure.net/secrets/x"); !errors.Is(err, kms.ErrConfig) {
		t.Fatal(err)
	}
}
