// Package fmterr holds the sentinel errors that every format package returns,
// so serde can re-export one value per condition whatever the format.
package fmterr

import (
	"errors"
	"fmt"
)

// Sentinels shared by formats/* and re-exported by serde.
var (
	ErrUnsupportedTaggedType = errors.New("tagged field type cannot carry ciphertext")
	// ErrUnplaceableTag: a tag (inline, option or metadata.tags pattern)
	// sits where the rewriter cannot reach it, so its values could not be
	// encrypted. Plans fail with it rather than ignore the tag.
	ErrUnplaceableTag = errors.New("tag cannot be placed on a position the rewriter visits")
	ErrMalformed      = errors.New("malformed payload")
	ErrSchema         = errors.New("invalid schema")
	ErrEncode         = errors.New("value does not match schema")
	ErrDecode         = errors.New("cannot decode payload")
	ErrValidation     = errors.New("value fails its schema")
)

// PlanError is a plan-time refusal at one place in a schema: the field or
// schema path and the keyword (JSON Schema keyword, Avro type, Protobuf
// construct) that holds the tag. It never carries a value. Err is
// ErrUnsupportedTaggedType or ErrUnplaceableTag, for errors.Is.
type PlanError struct {
	Path    string // "$.a.b", "com.acme.Customer.email", "acme.Customer.email"
	Keyword string // "then", "additionalProperties", "map key", "int", …
	Reason  string // optional detail, e.g. the declared type
	Err     error
}

func (e *PlanError) Error() string {
	msg := fmt.Sprintf("%v: %s (keyword %s)", e.Err, e.Path, e.Keyword)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

func (e *PlanError) Unwrap() error { return e.Err }
