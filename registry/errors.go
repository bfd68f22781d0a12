package registry

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors, one per way a registry call can fail that a caller
// can act on. Every error this package returns for a registry answer is
// an [*Error] that errors.Is matches to the sentinel for its HTTP status;
// transport failures after the last retry wrap [ErrUnavailable].
var (
	// ErrNotFound: the subject, version, schema, KEK or DEK does not
	// exist (HTTP 404, whatever the registry's error code), or is
	// soft-deleted and was asked for without includeDeleted.
	ErrNotFound = errors.New("registry: not found")
	// ErrConflict: the KEK or DEK already exists, or the schema is
	// incompatible with the subject's earlier versions (HTTP 409).
	ErrConflict = errors.New("registry: conflict")
	// ErrInvalid: the registry rejected the request itself — an invalid
	// schema, version, key name, or a missing field (HTTP 400 or 422).
	ErrInvalid = errors.New("registry: invalid request")
	// ErrUnauthorized: the registry refused the credentials (HTTP 401 or
	// 403).
	ErrUnauthorized = errors.New("registry: unauthorized")
	// ErrUnavailable: the registry could not answer — HTTP 5xx or 429,
	// a request timeout, or a connection failure — and retries did not
	// help. It is the one error worth retrying later.
	ErrUnavailable = errors.New("registry: unavailable")
)

// Error codes the Schema Registry and DEK Registry put in the
// "error_code" field of an error body, as Confluent's servers do. They
// refine the HTTP status; [Memory] answers with them.
const (
	CodeSubjectNotFound       = 40401 // subject has no (visible) version
	CodeVersionNotFound       = 40402 // subject has no such version
	CodeSchemaNotFound        = 40403 // no schema with that id, guid, text or metadata
	CodeSubjectSoftDeleted    = 40404 // soft-deleting a subject whose versions all are
	CodeSubjectNotSoftDeleted = 40405 // permanent subject delete before a soft delete
	CodeVersionSoftDeleted    = 40406 // soft-deleting a version that already is
	CodeVersionNotSoftDeleted = 40407 // permanent version delete before a soft delete
	CodeKeyNotFound           = 40470 // no such KEK or DEK
	CodeKeyNotSoftDeleted     = 40471 // permanent key delete before a soft delete
	CodeKeyExists             = 40971 // KEK or DEK already exists
	CodeInvalidSchema         = 42201 // schema text or type rejected
	CodeInvalidVersion        = 42202 // version is not a positive number or "latest"
	CodeInvalidSubject        = 42208 // subject name rejected
	CodeInvalidKey            = 42271 // KEK or DEK field missing or malformed
	CodeKeyReferenceExists    = 42272 // KEK still has DEKs
	CodeStoreError            = 50001 // registry backend failure
)

// Error is a registry's error answer: the HTTP StatusCode, the
// registry's own ErrorCode (see the Code constants; 0 when the body
// carried none) and its Message. errors.Is(err, ErrNotFound) and the
// other sentinels match by StatusCode, so callers rarely need the type;
// use errors.As to read the code:
//
//	var e *registry.Error
//	if errors.As(err, &e) && e.ErrorCode == registry.CodeKeyNotFound { … }
type Error struct {
	StatusCode int
	ErrorCode  int
	Message    string
}

// Error formats the message with its status and error code.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	return fmt.Sprintf("registry: %s (HTTP %d, error code %d)", msg, e.StatusCode, e.ErrorCode)
}

// Is reports whether target is the sentinel for e's HTTP status.
func (e *Error) Is(target error) bool {
	s := sentinelFor(e.StatusCode)
	return s != nil && target == s
}

// sentinelFor maps an HTTP status to its sentinel, nil for none.
func sentinelFor(status int) error {
	switch {
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusConflict:
		return ErrConflict
	case status == http.StatusBadRequest, status == http.StatusUnprocessableEntity:
		return ErrInvalid
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return ErrUnauthorized
	case status == http.StatusTooManyRequests, status >= 500 && status <= 599:
		return ErrUnavailable
	}
	return nil
}

// errorf builds the *Error a registry answers with.
func errorf(status, code int, format string, args ...any) *Error {
	return &Error{StatusCode: status, ErrorCode: code, Message: fmt.Sprintf(format, args...)}
}
