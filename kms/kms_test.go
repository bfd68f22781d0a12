package kms

import (
	"bytes"
	"errors"
	"testing"
)

func TestRegistrySeparatesSecrets(t *testing.T) {
	r := NewRegistry()
	a, err := r.AEAD("local-kms://k", map[string]string{"secret": "one"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.AEAD("local-kms://k", map[string]string{"secret": "two"})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := r.AEAD("local-kms://k", map[string]string{"secret": "one", "unrelated": "x"})
	if again != a {
		t.Fatal("config keys the driver does not read must not split the cache")
	}
	ct, err := a.Encrypt([]byte("dek"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Decrypt(ct, nil); err == nil {
		t.Fatal("a different secret must not unwrap")
	}
	pt, err := a.Decrypt(ct, nil)
	if err != nil || !bytes.Equal(pt, []byte("dek")) {
		t.Fatalf("%q %v", pt, err)
	}
}

func TestErrors(t *testing.T) {
	t.Setenv("LOCAL_SECRET", "")
	r := NewRegistry()
	if _, err := r.AEAD("local-kms://k", nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("missing secret: %v", err)
	}
	if _, err := r.AEAD("nope-kms://k", nil); !errors.Is(err, ErrUnsupportedKMS) {
		t.Fatalf("unknown scheme: %v", err)
	}
	t.Setenv("LOCAL_SECRET", "from-env")
	if _, err := r.AEAD("local-kms://k", nil); err != nil {
		t.Fatalf("LOCAL_SECRET fallback: %v", err)
	}
	if got := KeyURI("local-kms", "abc"); got != "local-kms://abc" {
		t.Fatal(got)
	}
}
