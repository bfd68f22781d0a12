package serde

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rest"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/deks"

	"github.com/tagseal/tagseal/registry"
)

// schemaRegistry adapts confluent-kafka-go's schemaregistry.Client to the
// engine's registry.SchemaRegistry. Confluent's client has no contexts:
// calls run to its own timeouts.
type schemaRegistry struct{ c schemaregistry.Client }

// toSchema and toInfo convert between Confluent's types and tagseal's,
// which are JSON-identical: a JSON round trip carries every field,
// including ones a later version of either side adds.
func toSchema(info schemaregistry.SchemaInfo) registry.Schema {
	var s registry.Schema
	convert(info, &s)
	return s
}

func toInfo(s registry.Schema) schemaregistry.SchemaInfo {
	var info schemaregistry.SchemaInfo
	convert(s, &info)
	return info
}

func toSubjectSchema(m schemaregistry.SchemaMetadata) registry.SubjectSchema {
	out := registry.SubjectSchema{Schema: toSchema(m.SchemaInfo), Subject: m.Subject, Version: m.Version, ID: m.ID, GUID: m.GUID}
	return out
}

func convert(from, to any) {
	b, err := json.Marshal(from)
	if err == nil {
		err = json.Unmarshal(b, to)
	}
	if err != nil {
		panic(fmt.Sprintf("tagseal: registry types are not JSON-identical: %v", err)) // a programming error, never input
	}
}

// adaptErr maps Confluent's errors to the registry sentinels by type, never
// by message text:
//
//   - a *rest.Error (a registry's answer, and every deks mock answer)
//     becomes a *registry.Error with its HTTP status, the leading three
//     digits of Confluent error codes such as 40403;
//   - a *url.Error from the mock:// client is its "not found" answer (the
//     mock reports a missing subject, version, id or guid that way and no
//     other way); from a real client it is a transport failure
//     (ErrUnavailable);
//   - anything else is ErrUnavailable.
func adaptErr(err error) error {
	if err == nil {
		return nil
	}
	var re *rest.Error
	if errors.As(err, &re) {
		status := re.Code
		for status >= 1000 {
			status /= 100 // error codes such as 40403 carry the status first
		}
		return &registry.Error{StatusCode: status, ErrorCode: re.Code, Message: re.Message}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.Scheme == "mock" {
			return fmt.Errorf("%w: %v", registry.ErrNotFound, err)
		}
	}
	return fmt.Errorf("%w: %v", registry.ErrUnavailable, err)
}

// isMock reports whether c is Confluent's mock:// client.
func isMock(c schemaregistry.Client) bool {
	conf := c.Config()
	return conf != nil && strings.HasPrefix(conf.SchemaRegistryURL, "mock://")
}

func (a schemaRegistry) SchemaByID(_ context.Context, subject string, id int) (registry.Schema, error) {
	info, err := a.c.GetBySubjectAndID(subject, id)
	return toSchema(info), adaptErr(err)
}

func (a schemaRegistry) SchemaByGUID(_ context.Context, guid string) (registry.Schema, error) {
	info, err := a.c.GetByGUID(guid)
	return toSchema(info), adaptErr(err)
}

func (a schemaRegistry) Latest(_ context.Context, subject string) (registry.SubjectSchema, error) {
	m, err := a.c.GetLatestSchemaMetadata(subject)
	return toSubjectSchema(m), adaptErr(err)
}

func (a schemaRegistry) LatestWithMetadata(_ context.Context, subject string, metadata map[string]string) (registry.SubjectSchema, error) {
	m, err := a.c.GetLatestWithMetadata(subject, metadata, true)
	return toSubjectSchema(m), adaptErr(err)
}

func (a schemaRegistry) Version(_ context.Context, subject string, version int, includeDeleted bool) (registry.SubjectSchema, error) {
	m, err := a.c.GetSchemaMetadataIncludeDeleted(subject, version, includeDeleted)
	return toSubjectSchema(m), adaptErr(err)
}

func (a schemaRegistry) Register(_ context.Context, subject string, s registry.Schema, normalize bool) (registry.SubjectSchema, error) {
	m, err := a.c.RegisterFullResponse(subject, toInfo(s), normalize)
	return toSubjectSchema(m), adaptErr(err)
}

func (a schemaRegistry) Lookup(_ context.Context, subject string, s registry.Schema, normalize bool) (registry.SubjectSchema, error) {
	m, err := a.c.GetIDFullResponse(subject, toInfo(s), normalize)
	var re *rest.Error
	var ue *url.Error
	if err != nil && !errors.As(err, &re) && !errors.As(err, &ue) && isMock(a.c) {
		// The mock's lookup answers an unknown schema with a bare error,
		// and fails in no other way.
		return registry.SubjectSchema{}, fmt.Errorf("%w: %v", registry.ErrNotFound, err)
	}
	return toSubjectSchema(m), adaptErr(err)
}

// dekRegistry adapts confluent-kafka-go's deks.Client. Confluent's client
// caches keys for ever, which would hide deletions (crypto-shredding), so
// lookups go through a fresh client when one can be made.
type dekRegistry struct {
	c     deks.Client
	fresh func() (deks.Client, error) // nil when the client was passed in
}

func (a dekRegistry) loader() deks.Client {
	if a.fresh != nil {
		if c, err := a.fresh(); err == nil {
			return c
		}
	}
	return a.c
}

func toKEK(k deks.Kek) registry.KEK {
	return registry.KEK{Name: k.Name, KmsType: k.KmsType, KmsKeyID: k.KmsKeyID, KmsProps: k.KmsProps, Doc: k.Doc, Shared: k.Shared, Ts: k.Ts, Deleted: k.Deleted}
}

func toDEK(d deks.Dek) registry.DEK {
	return registry.DEK{KekName: d.KekName, Subject: d.Subject, Version: d.Version, Algorithm: d.Algorithm,
		EncryptedKeyMaterial: d.EncryptedKeyMaterial, KeyMaterial: d.KeyMaterial, Ts: d.Ts, Deleted: d.Deleted}
}

func (a dekRegistry) KEK(_ context.Context, name string, includeDeleted bool) (registry.KEK, error) {
	k, err := a.loader().GetKek(name, includeDeleted)
	return toKEK(k), adaptErr(err)
}

func (a dekRegistry) CreateKEK(_ context.Context, k registry.KEK) (registry.KEK, error) {
	out, err := a.c.RegisterKek(k.Name, k.KmsType, k.KmsKeyID, k.KmsProps, k.Doc, k.Shared)
	return toKEK(out), adaptErr(err)
}

func (a dekRegistry) DEK(_ context.Context, kek, subject, algorithm string, version int, includeDeleted bool) (registry.DEK, error) {
	var d deks.Dek
	var err error
	if version <= 0 {
		// The latest version. Confluent's GetDek means the same against a
		// real registry, but its mock answers version 1.
		version = -1
	}
	d, err = a.loader().GetDekVersion(kek, subject, version, algorithm, includeDeleted)
	return toDEK(d), adaptErr(err)
}

func (a dekRegistry) CreateDEK(_ context.Context, kek string, d registry.DEK) (registry.DEK, error) {
	out, err := a.c.RegisterDekVersion(kek, d.Subject, max(d.Version, 1), d.Algorithm, d.EncryptedKeyMaterial)
	return toDEK(out), adaptErr(err)
}

// errNoAdmin: confluent-kafka-go's DEK client has no delete or list calls;
// use registry.New for key administration (tagseal shred, tagseal keys).
var errNoAdmin = fmt.Errorf("%w: confluent-kafka-go's DEK client cannot delete or list keys; use registry.New", registry.ErrInvalid)

func (a dekRegistry) DeleteKEK(context.Context, string, bool) error { return errNoAdmin }

func (a dekRegistry) DeleteDEK(context.Context, string, string, string, int, bool) error {
	return errNoAdmin
}

func (a dekRegistry) DEKSubjects(context.Context, string, bool) ([]string, error) {
	return nil, errNoAdmin
}

func (a dekRegistry) DEKVersions(context.Context, string, string, string, bool) ([]int, error) {
	return nil, errNoAdmin
}
