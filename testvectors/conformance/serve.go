package conformance

import (
	"bufio"
	"encoding/hex"
	"errors"
	"io"
	"slices"

	"github.com/tagseal/tagseal/testvectors"
)

// Handler answers one request of the protocol.
type Handler func(Request) Response

// Serve is the testee side of the protocol for Go testees: it reads
// requests from r and writes each handler's answer to w until r ends.
func Serve(r io.Reader, w io.Writer, h Handler) error {
	br := bufio.NewReader(r)
	for {
		var req Request
		if err := ReadFrame(br, &req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := WriteFrame(w, h(req)); err != nil {
			return err
		}
	}
}

// ErrorResponse answers with err, classed as SPEC.md §7 classes it.
func ErrorResponse(err error) Response {
	return Response{Error: &Error{Class: testvectors.ClassOf(err), Message: err.Error()}}
}

// WrittenResponse answers a write with a record.
func WrittenResponse(payload []byte, headers []testvectors.Header) Response {
	s := hex.EncodeToString(payload)
	return Response{Serialized: &s, Headers: headers}
}

// AllErrorClasses lists every SPEC.md §7 class name, sorted.
func AllErrorClasses() []string {
	var out []string
	for name := range testvectors.ErrorClasses {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// TagsealTestee is tagseal's own testee: every request is answered with
// the pure-Go API over a fresh embedded registry set up from the vector
// (`tagseal conformance testee`).
func TagsealTestee(req Request) Response {
	switch req.Op {
	case OpCapabilities:
		return Response{Capabilities: &Capabilities{
			Name:         "tagseal",
			Formats:      []string{"AVRO", "JSON", "PROTOBUF"},
			Algorithms:   []string{"AES128_GCM", "AES256_GCM", "AES256_SIV"},
			KMS:          []string{"local-kms"},
			ErrorClasses: AllErrorClasses(),
			Ops:          []string{OpRead, OpWrite},
			Framings:     []string{testvectors.FramingID, testvectors.FramingGUID, testvectors.FramingGUIDHeader},
		}}
	case OpRead:
		if req.Vector == nil {
			return Response{Error: &Error{Message: "no vector in the request"}}
		}
		plain, err := testvectors.ReadJSON(req.Vector)
		if err != nil {
			return ErrorResponse(err)
		}
		return Response{Plaintext: plain}
	case OpWrite:
		if req.Vector == nil {
			return Response{Error: &Error{Message: "no vector in the request"}}
		}
		payload, headers, err := testvectors.WriteMessage(req.Vector)
		if err != nil {
			return ErrorResponse(err)
		}
		return WrittenResponse(payload, testvectors.EncodeHeaders(headers))
	}
	return Response{Error: &Error{Message: "unknown op " + req.Op}}
}
