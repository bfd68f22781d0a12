package tagseal

import (
	"errors"
	"testing"
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
