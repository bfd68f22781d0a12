// Package registry reaches a Confluent-compatible Schema Registry and DEK
// Registry in pure Go (no cgo, no librdkafka), and provides an embedded
// in-memory registry that behaves like the real one and serves the same
// REST API.
//
// Two implementations of [Client]:
//
//   - [New] returns an [*HTTPClient] for a running registry (Confluent
//     Schema Registry, Confluent Cloud, or anything speaking its REST API),
//     with basic or bearer auth, TLS, URL failover, retries with
//     exponential backoff on 5xx/429/timeouts, and per-request timeouts.
//   - [NewMemory] returns a [*Memory]: a registry held in process memory,
//     called directly (no HTTP) and also an http.Handler, so
//     httptest.NewServer(registry.NewMemory()) gives other processes, and
//     Confluent's own clients, a registry to talk to.
//
// Both keep the registry semantics that decide what gets encrypted: a
// schema id names schema content (type, text, references) across all
// subjects, while rules and metadata belong to each subject version —
// so a caller must ask for a schema by id *and subject*
// ([SchemaRegistry.SchemaByID]) to learn the rules that apply to it.
//
// Failures come back as errors matching [ErrNotFound], [ErrConflict],
// [ErrInvalid], [ErrUnauthorized] or [ErrUnavailable] under errors.Is;
// registry answers are [*Error] values carrying the registry's error code.
package registry

import "context"

// SchemaRegistry is the Schema Registry subset a CSFLE serializer and
// deserializer need. Every call takes a context, which bounds it
// (including retries, for [HTTPClient]).
type SchemaRegistry interface {
	// SchemaByID returns the schema with the given id as subject's
	// version of it sees it: GET /schemas/ids/{id}?subject=S, answered
	// with S's rules and metadata. Subject "" asks unqualified, and the
	// registry picks a version (the rules may then not be the ones that
	// apply to the record's topic).
	SchemaByID(ctx context.Context, subject string, id int) (Schema, error)
	// SchemaByGUID returns the schema with the given GUID (GET
	// /schemas/guids/{guid}), as a record header names it.
	SchemaByGUID(ctx context.Context, guid string) (Schema, error)
	// Latest returns subject's latest version that is not soft-deleted
	// (GET /subjects/{s}/versions/latest).
	Latest(ctx context.Context, subject string) (SubjectSchema, error)
	// LatestWithMetadata returns subject's latest version whose metadata
	// properties hold every key/value pair given (GET
	// /subjects/{s}/metadata?key=k&value=v…).
	LatestWithMetadata(ctx context.Context, subject string, metadata map[string]string) (SubjectSchema, error)
	// Version returns one version of subject (GET
	// /subjects/{s}/versions/{v}); includeDeleted also finds a
	// soft-deleted version. Version -1 means the latest.
	Version(ctx context.Context, subject string, version int, includeDeleted bool) (SubjectSchema, error)
	// Register registers s under subject (POST /subjects/{s}/versions) and
	// returns the version it became — or the existing version when s is
	// already what one of subject's versions is. A nil RuleSet or
	// Metadata inherits the previous version's. normalize asks the
	// registry to normalize the schema text first.
	Register(ctx context.Context, subject string, s Schema, normalize bool) (SubjectSchema, error)
	// Lookup returns the version of subject whose content is s (POST
	// /subjects/{s}) without registering anything.
	Lookup(ctx context.Context, subject string, s Schema, normalize bool) (SubjectSchema, error)
}

// DEKRegistry is the DEK Registry (REST API under /dek-registry/v1): where
// encryption rules keep their key-encryption keys' descriptions and the
// wrapped data-encryption keys. Soft-deleted keys are found only with
// includeDeleted; a permanent delete needs a soft delete first.
type DEKRegistry interface {
	// KEK returns the KEK with the given name.
	KEK(ctx context.Context, name string, includeDeleted bool) (KEK, error)
	// CreateKEK records a KEK; one of that name already existing is
	// [ErrConflict] (re-creating a soft-deleted KEK with the same
	// settings undeletes it instead).
	CreateKEK(ctx context.Context, k KEK) (KEK, error)
	// DEK returns a DEK version for the KEK, subject and algorithm
	// ("" means AES256_GCM); version 0 means the latest.
	DEK(ctx context.Context, kek, subject, algorithm string, version int, includeDeleted bool) (DEK, error)
	// CreateDEK records a DEK under the named KEK (d.KekName is ignored);
	// d.Version 0 means 1. A DEK already at that version is [ErrConflict].
	CreateDEK(ctx context.Context, kek string, d DEK) (DEK, error)
	// DeleteKEK soft-deletes the KEK, or with permanent removes a
	// soft-deleted one. A KEK that still has DEKs (live ones for a soft
	// delete, any for a permanent one) is [ErrInvalid].
	DeleteKEK(ctx context.Context, name string, permanent bool) error
	// DeleteDEK soft-deletes a DEK version (version 0: every version), or
	// with permanent removes soft-deleted ones.
	DeleteDEK(ctx context.Context, kek, subject, algorithm string, version int, permanent bool) error
	// DEKSubjects lists the subjects that have DEKs under the KEK, sorted.
	DEKSubjects(ctx context.Context, kek string, includeDeleted bool) ([]string, error)
	// DEKVersions lists the versions of a subject's DEK, ascending.
	DEKVersions(ctx context.Context, kek, subject, algorithm string, includeDeleted bool) ([]int, error)
}

// Client is a Schema Registry and its DEK Registry, as an encryption
// engine uses them. [*HTTPClient] and [*Memory] implement it.
type Client interface {
	SchemaRegistry
	DEKRegistry
}

var (
	_ Client = (*HTTPClient)(nil)
	_ Client = (*Memory)(nil)
)
