// Package entropy is where serde draws AES-GCM nonces: crypto/rand, unless
// the test-vector generator (the only caller of Override, which this module's
// internal/ rule keeps away from users) installs a seeded source so that its
// vector files are reproducible byte for byte.
package entropy

import (
	"crypto/rand"
	"sync/atomic"
)

var override atomic.Pointer[func([]byte)]

// Overridden reports whether a seeded source is installed. Callers that
// batch random bytes must not batch while it is, or the bytes a value gets
// would depend on pooling.
func Overridden() bool { return override.Load() != nil }

// Read fills b from the installed source, or from crypto/rand.
func Read(b []byte) {
	if f := override.Load(); f != nil {
		(*f)(b)
		return
	}
	rand.Read(b)
}

// Override installs fill as the source of every nonce until the returned
// restore function runs. Only the vector generator may call it.
func Override(fill func([]byte)) (restore func()) {
	override.Store(&fill)
	return func() { override.Store(nil) }
}
