package keyring

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	tinkregistry "github.com/tink-crypto/tink-go/v2/core/registry"
)

// FuzzStoredValue: decoding a stored field value (base64, version prefix,
// AES-GCM) never panics and fails only with typed errors; well-formed
// ciphertexts round-trip.
func FuzzStoredValue(f *testing.F) {
	kd, err := tinkregistry.NewKeyData(aead.AES128GCMKeyTemplate())
	if err != nil {
		f.Fatal(err)
	}
	c, err := newDEKCipher(AES128GCM, kd.GetValue())
	if err != nil {
		f.Fatal(err)
	}
	e := &DEK{version: 3, cipher: c}
	rotated := &Rule{expiryDays: 1}
	plain := &Rule{}
	good, _, _ := Seal(e, rotated, true, []byte("seed"), nil, nil, nil, nil)
	f.Add(good, true, true)
	f.Add([]byte("AAAA"), true, false)
	f.Add([]byte{0, 0, 0, 0, 3}, false, true)
	f.Add([]byte("!!!!"), true, true)
	f.Fuzz(func(t *testing.T, stored []byte, asString, isRotated bool) {
		rk := plain
		if isRotated {
			rk = rotated
		}
		ct, version, _, err := ParseStored(rk, asString, stored, nil)
		if err != nil {
			if !errors.Is(err, ErrInvalidCiphertext) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if isRotated && version < 0 {
			t.Fatalf("negative version %d", version)
		}
		if _, err := Open(e, ct, nil, nil); err != nil && !errors.Is(err, ErrDecryptionFailed) && !errors.Is(err, ErrInvalidCiphertext) {
			t.Fatalf("untyped error %v", err)
		}
		// Sealing arbitrary bytes and opening them again returns them.
		sealed, _, err := Seal(e, rk, asString, stored, nil, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _, err = ParseStored(rk, asString, sealed, nil)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := Open(e, ct, nil, nil)
		if err != nil || !bytes.Equal(pt, stored) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
