package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Memory is a Schema Registry and DEK Registry held in process memory. It
// implements [Client] by direct calls (no HTTP), and serves the same
// registry over the Schema Registry REST API as an http.Handler:
//
//	srv := httptest.NewServer(registry.NewMemory())
//	// srv.URL works for registry.New, for Confluent's schemaregistry and
//	// deks clients, and for anything else that speaks the REST API.
//
// It behaves like a real Confluent Schema Registry where that decides
// what gets encrypted, and unlike confluent-kafka-go's mock:// client:
//
//   - one id per schema content (type, text, references) across all
//     subjects, with one GUID per id;
//   - rules and metadata per subject version: SchemaByID(ctx, S, id)
//     answers with S's rules; unqualified, with those of the version
//     that registered the id first;
//   - a version registered without a rule set or metadata inherits the
//     previous (latest live) version's;
//   - registering what a live version of the subject already is — same
//     content, metadata and rules after inheritance — returns that version;
//   - soft deletes hide subject versions, KEKs and DEKs unless asked for
//     with includeDeleted, and a permanent delete requires a soft delete
//     first; a KEK cannot be deleted while it has DEKs (live ones for a
//     soft delete, any for a permanent one); re-creating a soft-deleted key
//     with the same settings undeletes it. These are the DEK Registry's
//     rules as Confluent implements them, error codes included.
//
// What it does not do: schema compatibility checks, normalization (the
// normalize flag is accepted and ignored: texts are compared byte for
// byte), schema contexts, config and mode endpoints, and DEK generation
// for shared KEKs (it holds no KMS credentials; a DEK must come with its
// encrypted key material). Schema texts are checked only for being
// non-empty and, for Avro and JSON Schema, valid JSON.
//
// A Memory is safe for concurrent use. Its zero value is not usable; call
// [NewMemory].
type Memory struct {
	mu       sync.RWMutex
	contents []*content // by id - 1
	subjects map[string]*subjectState
	keks     map[string]*KEK
	deks     map[dekID][]*DEK // versions ascending

	seq     int // registrations so far
	calls   []string
	failing atomic.Int32
	now     func() time.Time
}

// content is what a schema id names.
type content struct {
	schemaType string // "" for Avro, as the registry stores and answers it
	schema     string
	references []Reference
	guid       string
}

type subjectState struct {
	versions []*version // ascending by number
	next     int        // the number the next version gets
}

// version is one subject version: an id plus its own rules and metadata.
type version struct {
	seq      int // registration order across subjects
	number   int
	id       int
	metadata *Metadata
	ruleSet  *RuleSet
	deleted  bool
}

type dekID struct{ kek, subject, algorithm string }

// NewMemory returns an empty in-memory registry.
func NewMemory() *Memory {
	return &Memory{
		subjects: map[string]*subjectState{},
		keks:     map[string]*KEK{},
		deks:     map[dekID][]*DEK{},
		now:      time.Now,
	}
}

// FailWith makes every call and request answer an [*Error] with HTTP
// status (error code status*100+1, as 50001 for 500) until FailWith(0),
// to test how callers handle an unavailable or misbehaving registry.
func (m *Memory) FailWith(status int) { m.failing.Store(int32(status)) }

// Calls returns "METHOD /path?query" of every HTTP request served so far
// (direct calls are not recorded), for tests that assert what a client
// asked for.
func (m *Memory) Calls() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]string(nil), m.calls...)
}

// begin is the common start of a call: the context and injected failure.
func (m *Memory) begin(ctx context.Context) error {
	if ctx == nil {
		return fmt.Errorf("registry: nil context: %w", ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s := int(m.failing.Load()); s != 0 {
		return errorf(s, s*100+1, "failing on purpose (Memory.FailWith)")
	}
	return nil
}

// storedType is the type as the registry stores it: Avro as "".
func storedType(t string) string {
	if t == TypeAvro {
		return ""
	}
	return t
}

func (m *Memory) contentID(s *Schema) int {
	t := storedType(s.SchemaType)
	for i, c := range m.contents {
		if c.schemaType == t && c.schema == s.Schema && sameRefs(c.references, s.References) {
			return i + 1
		}
	}
	return 0
}

// sameJSON compares two values as the registry would see them on the
// wire: a nil and an empty list or map are the same.
func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

func sameRefs(a, b []Reference) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (m *Memory) subjectSchema(subject string, v *version) SubjectSchema {
	c := m.contents[v.id-1]
	return SubjectSchema{
		Schema: Schema{Schema: c.schema, SchemaType: c.schemaType, References: cloneRefs(c.references),
			Metadata: cloneMetadata(v.metadata), RuleSet: cloneRuleSet(v.ruleSet)},
		Subject: subject, Version: v.number, ID: v.id, GUID: c.guid,
	}
}

// live returns the subject's versions that are not soft-deleted, or all
// with includeDeleted.
func (st *subjectState) visible(includeDeleted bool) []*version {
	if st == nil {
		return nil
	}
	var out []*version
	for _, v := range st.versions {
		if includeDeleted || !v.deleted {
			out = append(out, v)
		}
	}
	return out
}

func subjectNotFound(subject string) *Error {
	return errorf(http.StatusNotFound, CodeSubjectNotFound, "Subject '%s' not found.", subject)
}

func schemaNotFound() *Error {
	return errorf(http.StatusNotFound, CodeSchemaNotFound, "Schema not found")
}

func invalidSubject(subject string) error {
	if subject == "" {
		return errorf(http.StatusUnprocessableEntity, CodeInvalidSubject, "Subject must not be empty")
	}
	return nil
}

// validSchema checks what Memory can check of a schema to register.
func (m *Memory) validSchema(s *Schema) error {
	if s.Schema == "" {
		return errorf(http.StatusUnprocessableEntity, CodeInvalidSchema, "Empty schema")
	}
	switch s.Type() {
	case TypeAvro, TypeJSON:
		if !json.Valid([]byte(s.Schema)) {
			return errorf(http.StatusUnprocessableEntity, CodeInvalidSchema, "Invalid schema: %s text is not JSON", s.Type())
		}
	case TypeProtobuf:
	default:
		return errorf(http.StatusUnprocessableEntity, CodeInvalidSchema, "Invalid schema type %q", s.SchemaType)
	}
	for _, r := range s.References {
		st := m.subjects[r.Subject]
		found := false
		for _, v := range st.visible(false) {
			found = found || v.number == r.Version
		}
		if r.Name == "" || !found {
			return errorf(http.StatusUnprocessableEntity, CodeInvalidSchema,
				"Invalid schema: reference %q to subject %q version %d not found", r.Name, r.Subject, r.Version)
		}
	}
	return nil
}

// Register implements [SchemaRegistry.Register].
func (m *Memory) Register(ctx context.Context, subject string, s Schema, normalize bool) (SubjectSchema, error) {
	if err := m.begin(ctx); err != nil {
		return SubjectSchema{}, err
	}
	if err := invalidSubject(subject); err != nil {
		return SubjectSchema{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.validSchema(&s); err != nil {
		return SubjectSchema{}, err
	}
	st := m.subjects[subject]
	live := st.visible(false)
	// Rules and metadata not given are inherited from the previous version.
	if n := len(live); n > 0 {
		if s.Metadata == nil {
			s.Metadata = live[n-1].metadata
		}
		if s.RuleSet == nil {
			s.RuleSet = live[n-1].ruleSet
		}
	}
	id := m.contentID(&s)
	if id == 0 {
		m.contents = append(m.contents, &content{schemaType: storedType(s.SchemaType), schema: s.Schema,
			references: cloneRefs(s.References), guid: uuid.NewString()})
		id = len(m.contents)
	}
	// Registering what a live version already is returns it.
	for i := len(live) - 1; i >= 0; i-- {
		if v := live[i]; v.id == id && sameJSON(v.metadata, s.Metadata) && sameJSON(v.ruleSet, s.RuleSet) {
			return m.subjectSchema(subject, v), nil
		}
	}
	if st == nil {
		st = &subjectState{next: 1}
		m.subjects[subject] = st
	}
	m.seq++
	v := &version{seq: m.seq, number: st.next, id: id, metadata: cloneMetadata(s.Metadata), ruleSet: cloneRuleSet(s.RuleSet)}
	st.next++
	st.versions = append(st.versions, v)
	return m.subjectSchema(subject, v), nil
}

// Lookup implements [SchemaRegistry.Lookup]: the latest live version of
// subject with the content of s (its rules and metadata are not compared).
func (m *Memory) Lookup(ctx context.Context, subject string, s Schema, normalize bool) (SubjectSchema, error) {
	return m.lookup(ctx, subject, s, false)
}

func (m *Memory) lookup(ctx context.Context, subject string, s Schema, includeDeleted bool) (SubjectSchema, error) {
	if err := m.begin(ctx); err != nil {
		return SubjectSchema{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	vs := m.subjects[subject].visible(includeDeleted)
	if len(vs) == 0 {
		return SubjectSchema{}, subjectNotFound(subject)
	}
	if id := m.contentID(&s); id != 0 {
		for i := len(vs) - 1; i >= 0; i-- {
			if vs[i].id == id {
				return m.subjectSchema(subject, vs[i]), nil
			}
		}
	}
	return SubjectSchema{}, schemaNotFound()
}

// SchemaByID implements [SchemaRegistry.SchemaByID]. With a subject, the
// answer carries the rules and metadata of that subject's latest version
// with the id (live versions first, then soft-deleted ones: ids stay
// readable after a soft delete, as records written with them remain).
// Without one, or when the subject never had the id, it is the version
// that registered the id first (of those not permanently deleted), as a
// real registry answers with the schema as first registered.
func (m *Memory) SchemaByID(ctx context.Context, subject string, id int) (Schema, error) {
	if err := m.begin(ctx); err != nil {
		return Schema{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.byID(subject, id)
}

func (m *Memory) byID(subject string, id int) (Schema, error) {
	if id <= 0 || id > len(m.contents) {
		return Schema{}, schemaNotFound()
	}
	if st := m.subjects[subject]; subject != "" && st != nil {
		for _, deleted := range []bool{false, true} {
			for i := len(st.versions) - 1; i >= 0; i-- {
				if v := st.versions[i]; v.id == id && v.deleted == deleted {
					return m.subjectSchema(subject, v).Schema, nil
				}
			}
		}
	}
	if svs := m.versionsWith(id, true); len(svs) > 0 {
		return m.subjectSchema(svs[0].subject, svs[0].v).Schema, nil
	}
	return Schema{}, schemaNotFound()
}

type subjectVersion struct {
	subject string
	v       *version
}

// versionsWith lists the subject versions that have id, in registration
// order.
func (m *Memory) versionsWith(id int, includeDeleted bool) []subjectVersion {
	var out []subjectVersion
	for n, st := range m.subjects {
		for _, v := range st.visible(includeDeleted) {
			if v.id == id {
				out = append(out, subjectVersion{n, v})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].v.seq < out[j].v.seq })
	return out
}

// SchemaByGUID implements [SchemaRegistry.SchemaByGUID], answering as
// SchemaByID does without a subject.
func (m *Memory) SchemaByGUID(ctx context.Context, guid string) (Schema, error) {
	if err := m.begin(ctx); err != nil {
		return Schema{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	for i, c := range m.contents {
		if c.guid == guid && guid != "" {
			return m.byID("", i+1)
		}
	}
	return Schema{}, schemaNotFound()
}

// SetGUID gives schema id the GUID guid (as a real registry's import
// mode can), for fixtures that need fixed GUIDs, such as the test vectors.
// It fails with [ErrInvalid] for an unknown id, a GUID that is not a UUID,
// or one another schema already has.
func (m *Memory) SetGUID(id int, guid string) error {
	u, err := uuid.Parse(guid)
	if err != nil {
		return fmt.Errorf("registry: GUID %q: %v: %w", guid, err, ErrInvalid)
	}
	guid = u.String()
	m.mu.Lock()
	defer m.mu.Unlock()
	if id < 1 || id > len(m.contents) {
		return fmt.Errorf("registry: no schema id %d: %w", id, ErrInvalid)
	}
	for i, c := range m.contents {
		if c.guid == guid && i+1 != id {
			return fmt.Errorf("registry: GUID %s already names schema id %d: %w", guid, i+1, ErrInvalid)
		}
	}
	m.contents[id-1].guid = guid
	return nil
}

// Latest implements [SchemaRegistry.Latest].
func (m *Memory) Latest(ctx context.Context, subject string) (SubjectSchema, error) {
	return m.Version(ctx, subject, -1, false)
}

// Version implements [SchemaRegistry.Version]. Version -1 is the latest
// (with includeDeleted, the latest of all versions); 0 and other
// negatives are [ErrInvalid] (error code 42202).
func (m *Memory) Version(ctx context.Context, subject string, version int, includeDeleted bool) (SubjectSchema, error) {
	if err := m.begin(ctx); err != nil {
		return SubjectSchema{}, err
	}
	if version == 0 || version < -1 {
		return SubjectSchema{}, invalidVersion(fmt.Sprint(version))
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	vs := m.subjects[subject].visible(includeDeleted)
	if len(vs) == 0 {
		return SubjectSchema{}, subjectNotFound(subject)
	}
	if version == -1 {
		return m.subjectSchema(subject, vs[len(vs)-1]), nil
	}
	for _, v := range vs {
		if v.number == version {
			return m.subjectSchema(subject, v), nil
		}
	}
	return SubjectSchema{}, errorf(http.StatusNotFound, CodeVersionNotFound, "Version %d not found.", version)
}

func invalidVersion(v string) *Error {
	return errorf(http.StatusUnprocessableEntity, CodeInvalidVersion,
		"The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)
}

// LatestWithMetadata implements [SchemaRegistry.LatestWithMetadata]: the
// latest live version whose metadata properties hold every pair given.
func (m *Memory) LatestWithMetadata(ctx context.Context, subject string, metadata map[string]string) (SubjectSchema, error) {
	return m.latestWithMetadata(ctx, subject, metadata, false)
}

func (m *Memory) latestWithMetadata(ctx context.Context, subject string, metadata map[string]string, includeDeleted bool) (SubjectSchema, error) {
	if err := m.begin(ctx); err != nil {
		return SubjectSchema{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	vs := m.subjects[subject].visible(includeDeleted)
	if len(vs) == 0 {
		return SubjectSchema{}, subjectNotFound(subject)
	}
	for i := len(vs) - 1; i >= 0; i-- {
		var props map[string]string
		if vs[i].metadata != nil {
			props = vs[i].metadata.Properties
		}
		match := true
		for k, want := range metadata {
			if got, ok := props[k]; !ok || got != want {
				match = false
				break
			}
		}
		if match {
			return m.subjectSchema(subject, vs[i]), nil
		}
	}
	return SubjectSchema{}, schemaNotFound()
}

// Subjects lists the subjects that have a live version (with
// includeDeleted, any version), sorted.
func (m *Memory) Subjects(ctx context.Context, includeDeleted bool) ([]string, error) {
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := []string{}
	for n, st := range m.subjects {
		if len(st.visible(includeDeleted)) > 0 {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Versions lists the version numbers of subject, ascending: the live ones,
// or with includeDeleted all of them.
func (m *Memory) Versions(ctx context.Context, subject string, includeDeleted bool) ([]int, error) {
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	vs := m.subjects[subject].visible(includeDeleted)
	if len(vs) == 0 {
		return nil, subjectNotFound(subject)
	}
	out := make([]int, len(vs))
	for i, v := range vs {
		out[i] = v.number
	}
	return out, nil
}

// DeleteSubject soft-deletes every live version of subject, or with
// permanent removes a subject whose versions are all soft-deleted (error
// code 40405 otherwise), and returns the version numbers it deleted.
func (m *Memory) DeleteSubject(ctx context.Context, subject string, permanent bool) ([]int, error) {
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.subjects[subject]
	all := st.visible(true)
	if len(all) == 0 {
		return nil, subjectNotFound(subject)
	}
	var out []int
	if permanent {
		for _, v := range all {
			if !v.deleted {
				return nil, errorf(http.StatusNotFound, CodeSubjectNotSoftDeleted,
					"Subject '%s' was not deleted first before being permanently deleted", subject)
			}
			out = append(out, v.number)
		}
		delete(m.subjects, subject)
		return out, nil
	}
	for _, v := range all {
		if !v.deleted {
			v.deleted = true
			out = append(out, v.number)
		}
	}
	if len(out) == 0 {
		return nil, errorf(http.StatusNotFound, CodeSubjectSoftDeleted, "Subject '%s' was soft deleted.Set permanent=true to delete permanently", subject)
	}
	return out, nil
}

// DeleteVersion soft-deletes one version of subject (-1: the latest live
// one), or with permanent removes a soft-deleted version (error code
// 40407 otherwise), and returns its number.
func (m *Memory) DeleteVersion(ctx context.Context, subject string, version int, permanent bool) (int, error) {
	if err := m.begin(ctx); err != nil {
		return 0, err
	}
	if version == 0 || version < -1 {
		return 0, invalidVersion(fmt.Sprint(version))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.subjects[subject]
	if len(st.visible(true)) == 0 {
		return 0, subjectNotFound(subject)
	}
	if version == -1 {
		live := st.visible(false)
		if len(live) == 0 {
			return 0, errorf(http.StatusNotFound, CodeVersionNotFound, "Version latest not found.")
		}
		version = live[len(live)-1].number
	}
	for i, v := range st.versions {
		if v.number != version {
			continue
		}
		switch {
		case permanent && !v.deleted:
			return 0, errorf(http.StatusNotFound, CodeVersionNotSoftDeleted,
				"Subject '%s' Version %d was not deleted first before being permanently deleted", subject, version)
		case permanent:
			st.versions = append(st.versions[:i:i], st.versions[i+1:]...)
			if len(st.versions) == 0 {
				delete(m.subjects, subject)
			}
		case v.deleted:
			return 0, errorf(http.StatusNotFound, CodeVersionSoftDeleted,
				"Subject '%s' Version %d was soft deleted.Set permanent=true to delete permanently", subject, version)
		default:
			v.deleted = true
		}
		return version, nil
	}
	return 0, errorf(http.StatusNotFound, CodeVersionNotFound, "Version %d not found.", version)
}

// SubjectVersionsOfID lists the subject versions that have schema id
// (GET /schemas/ids/{id}/versions) in registration order.
func (m *Memory) SubjectVersionsOfID(ctx context.Context, id int, includeDeleted bool) ([]SubjectVersion, error) {
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	svs := m.versionsWith(id, includeDeleted)
	if len(svs) == 0 {
		return nil, schemaNotFound()
	}
	out := make([]SubjectVersion, len(svs))
	for i, sv := range svs {
		out[i] = SubjectVersion{Subject: sv.subject, Version: sv.v.number}
	}
	return out, nil
}

// SubjectVersion names one version of a subject.
type SubjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

func cloneRefs(r []Reference) []Reference {
	if r == nil {
		return nil
	}
	return append([]Reference(nil), r...)
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func cloneMetadata(md *Metadata) *Metadata {
	if md == nil {
		return nil
	}
	out := &Metadata{Properties: cloneMap(md.Properties), Sensitive: cloneStrings(md.Sensitive)}
	if md.Tags != nil {
		out.Tags = make(map[string][]string, len(md.Tags))
		for k, v := range md.Tags {
			out.Tags[k] = cloneStrings(v)
		}
	}
	return out
}

func cloneRules(rs []Rule) []Rule {
	if rs == nil {
		return nil
	}
	out := make([]Rule, len(rs))
	for i, r := range rs {
		r.Tags = cloneStrings(r.Tags)
		r.Params = cloneMap(r.Params)
		out[i] = r
	}
	return out
}

func cloneRuleSet(rs *RuleSet) *RuleSet {
	if rs == nil {
		return nil
	}
	return &RuleSet{MigrationRules: cloneRules(rs.MigrationRules), DomainRules: cloneRules(rs.DomainRules),
		EncodingRules: cloneRules(rs.EncodingRules), EnableAt: rs.EnableAt}
}
