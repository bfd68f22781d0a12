// Package conformance is tagseal's conformance harness: it drives any
// CSFLE implementation (the testee) over the test vectors through a small
// framed JSON protocol on the testee's stdin and stdout, checks every
// answer, and holds a per-testee failure list to the truth, as protobuf's
// conformance suite does.
//
// The protocol (testvectors/SPEC.md, "Conformance protocol"): every message
// is a frame, a 4-byte little-endian length and that many bytes of UTF-8
// JSON. The harness sends a [Request] and the testee answers one
// [Response], in order. The first request is {"op":"capabilities"}; then
// "read" and "write" requests carry the vector's name and its whole file
// object.
package conformance

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/tagseal/tagseal/testvectors"
)

// MaxFrame is the largest frame either side may send (16 MiB).
const MaxFrame = 16 << 20

// Operations of the protocol.
const (
	OpCapabilities = "capabilities"
	OpRead         = "read"
	OpWrite        = "write"
)

// ErrFrameTooLarge is returned for a frame longer than MaxFrame.
var ErrFrameTooLarge = errors.New("conformance: frame longer than MaxFrame")

// Request is what the harness sends.
type Request struct {
	Op     string              `json:"op"`
	Name   string              `json:"name,omitempty"`
	Vector *testvectors.Vector `json:"vector,omitempty"`
}

// Response is the testee's answer: exactly one of Plaintext (read),
// Serialized (write, with Headers when the vector's framing puts the
// schema in a header), Error, Skipped, or, for capabilities, the
// Capabilities fields.
type Response struct {
	Plaintext  json.RawMessage      `json:"plaintext,omitempty"`
	Serialized *string              `json:"serialized,omitempty"` // hex
	Headers    []testvectors.Header `json:"headers,omitempty"`
	Error      *Error               `json:"error,omitempty"`
	Skipped    string               `json:"skipped,omitempty"`
	*Capabilities
}

// Error is a testee's failure: Class is a SPEC.md §7 class name (or empty
// when the testee cannot tell), Message its own words.
type Error struct {
	Class   string `json:"class,omitempty"`
	Message string `json:"message"`
}

// Capabilities is the answer to the capabilities request. A vector that
// needs a format, algorithm, KMS type, operation or framing the testee
// does not list is counted skipped, not sent. ErrorClasses lists the
// SPEC.md §7 classes the testee reports: a negative vector whose class is
// listed must fail with that class; otherwise any error passes.
type Capabilities struct {
	Name         string   `json:"name"`
	Formats      []string `json:"formats"`            // AVRO, JSON, PROTOBUF
	Algorithms   []string `json:"algorithms"`         // AES128_GCM, AES256_GCM, AES256_SIV
	KMS          []string `json:"kms"`                // local-kms, …
	ErrorClasses []string `json:"errorClasses"`       // ErrDecryptionFailed, …
	Ops          []string `json:"ops"`                // read, write
	Framings     []string `json:"framings,omitempty"` // id, guid, guid-header; absent: all
}

// WriteFrame writes v as one frame.
func WriteFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > MaxFrame {
		return ErrFrameTooLarge
	}
	buf := make([]byte, 4, 4+len(b))
	binary.LittleEndian.PutUint32(buf, uint32(len(b)))
	_, err = w.Write(append(buf, b...))
	return err
}

// ReadFrame reads one frame into v. It returns io.EOF when r ends before
// a frame starts, and io.ErrUnexpectedEOF when it ends inside one.
func ReadFrame(r io.Reader, v any) error {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return err
	}
	size := binary.LittleEndian.Uint32(n[:])
	if size > MaxFrame {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("conformance: frame is not the expected JSON: %v", err)
	}
	return nil
}
