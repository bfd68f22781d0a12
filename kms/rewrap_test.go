package kms_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tagseal/tagseal/kms"
)

// Without a KMS rewrap, Rewrap decrypts and encrypts again: a new
// ciphertext of the same DEK.
func TestRewrapByDecryptEncrypt(t *testing.T) {
	a, err := kms.NewLocalAEAD("secret")
	if err != nil {
		t.Fatal(err)
	}
	edek, err := a.Encrypt([]byte("dek"), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := kms.Rewrap(a, edek)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(out, edek) {
		t.Fatal("rewrap returned the same ciphertext")
	}
	if pt, err := a.Decrypt(out, nil); err != nil || string(pt) != "dek" {
		t.Fatalf("decrypt rewrapped: %q, %v", pt, err)
	}
	other, _ := kms.NewLocalAEAD("other")
	if _, err := kms.Rewrap(other, edek); !errors.Is(err, kms.ErrRewrap) {
		t.Fatalf("rewrap under the wrong key: %v, want ErrRewrap", err)
	}
}
