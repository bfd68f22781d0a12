// Package fmterr holds the sentinel errors that every format package returns,
// so serde can re-export one value per condition whatever the format.
package fmterr

import "errors"

// Sentinels shared by formats/* and re-exported by serde.
var (
	ErrUnsupportedTaggedType = errors.New("tagged field type cannot carry ciphertext")
	ErrMalformed             = errors.New("malformed payload")
	ErrSchema                = errors.New("invalid schema")
	ErrEncode                = errors.New("value does not match schema")
	ErrDecode                = errors.New("cannot decode payload")
	ErrValidation            = errors.New("value fails its schema")
)
