package tagseal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/core/registry"
)

// FuzzFrame: the frame parser never panics, never reads past the payload,
// and fails only with ErrShortPayload, ErrUnknownMagicByte or (message
// indexes) ErrMalformedPayload.
func FuzzFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 2, 2, 'x'}, false)
	f.Add([]byte{1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0}, true)
	f.Add([]byte{0, 0, 0, 0, 7, 0x7f}, false)
	f.Add([]byte{9}, false)
	f.Fuzz(func(t *testing.T, payload []byte, inHeader bool) {
		var headers []Header
		if inHeader {
			headers = []Header{{Key: ValueSchemaIDHeader, Value: payload}}
		}
		fr, err := readFrame(Value, headers, payload)
		if err != nil {
			if !errors.Is(err, ErrShortPayload) && !errors.Is(err, ErrUnknownMagicByte) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if fr.n > len(payload) {
			t.Fatalf("frame claims %d bytes of a %d-byte payload", fr.n, len(payload))
		}
		idx, err := fr.messageIndexes()
		if err != nil {
			if !errors.Is(err, ErrMalformedPayload) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if fr.n > len(payload) || len(idx) == 0 {
			t.Fatalf("indexes %v, frame %d of %d bytes", idx, fr.n, len(payload))
		}
	})
}

// FuzzStoredValue: decoding a stored field value (base64, version prefix,
// AES-GCM) never panics and fails only with typed errors; well-formed
// ciphertexts round-trip.
func FuzzStoredValue(f *testing.F) {
	kd, err := registry.NewKeyData(aead.AES128GCMKeyTemplate())
	if err != nil {
		f.Fatal(err)
	}
	c, err := newDEKCipher(AES128GCM, kd.GetValue())
	if err != nil {
		f.Fatal(err)
	}
	e := &dekEntry{version: 3, cipher: c}
	rotated := &ruleKeys{expiryDays: 1}
	plain := &ruleKeys{}
	good, _, _ := sealValue(e, rotated, true, []byte("seed"), nil, nil, nil, nil)
	f.Add(good, true, true)
	f.Add([]byte("AAAA"), true, false)
	f.Add([]byte{0, 0, 0, 0, 3}, false, true)
	f.Add([]byte("!!!!"), true, true)
	f.Fuzz(func(t *testing.T, stored []byte, asString, isRotated bool) {
		rk := plain
		if isRotated {
			rk = rotated
		}
		ct, version, _, err := parseStored(rk, asString, stored, nil)
		if err != nil {
			if !errors.Is(err, ErrInvalidCiphertext) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if isRotated && version < 0 {
			t.Fatalf("negative version %d", version)
		}
		if _, err := openValue(e, ct, nil, nil); err != nil && !errors.Is(err, ErrDecryptionFailed) && !errors.Is(err, ErrInvalidCiphertext) {
			t.Fatalf("untyped error %v", err)
		}
		// Sealing arbitrary bytes and opening them again returns them.
		sealed, _, err := sealValue(e, rk, asString, stored, nil, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _, err = parseStored(rk, asString, sealed, nil)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := openValue(e, ct, nil, nil)
		if err != nil || !bytes.Equal(pt, stored) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
