// Package registrytest is an in-memory HTTP double of a Schema Registry
// (the REST subset Confluent's clients and tagseal use) with a DEK Registry
// mounted under /dek-registry/v1. Unlike confluent-kafka-go's mock:// client
// it behaves as real registries do where that decides what gets encrypted:
//
//   - a schema id names schema *content* (type, text, references): identical
//     text registered under two subjects gets one id;
//   - rules and metadata belong to the subject version: GET
//     /schemas/ids/{id}?subject=S answers with S's rule set and metadata;
//   - a version registered without a rule set or metadata inherits the
//     previous version's, as Confluent Schema Registry does.
//
// Tests use it to prove that nothing derived from a schema's rules is
// cached by schema id alone.
package registrytest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/google/uuid"

	"github.com/tagseal/tagseal/internal/dekregistrytest"
)

// Server is a running double with an empty registry.
type Server struct {
	*httptest.Server
	// DEKs is the DEK Registry served under /dek-registry/v1.
	DEKs *dekregistrytest.Server

	mu       sync.Mutex
	contents []content            // by id - 1
	subjects map[string][]version // subject → versions in order
	calls    []string
}

// content is what an id names.
type content struct {
	schemaType string
	schema     string
	references []schemaregistry.Reference
	guid       string
}

// version is one subject version: an id plus its own rules and metadata.
type version struct {
	id       int
	metadata *schemaregistry.Metadata
	ruleSet  *schemaregistry.RuleSet
}

// New starts a double on 127.0.0.1; it stops with the test.
func New(t interface{ Cleanup(func()) }) *Server {
	s := Start()
	t.Cleanup(s.Close)
	return s
}

// Start starts a double on 127.0.0.1 that the caller closes, for a
// TestMain that shares one registry across a package's tests (Confluent's
// encryption executor is process-wide and accepts one registry).
func Start() *Server {
	s := &Server{DEKs: dekregistrytest.NewUnstarted(), subjects: map[string][]version{}}
	s.Server = httptest.NewServer(s)
	return s
}

// Calls returns "METHOD path?query" of every Schema Registry request so far.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code, errorCode int, msg string) {
	reply(w, code, map[string]any{"error_code": errorCode, "message": msg})
}

// ServeHTTP serves the REST subset.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/dek-registry/") {
		s.DEKs.ServeHTTP(w, r)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, r.Method+" "+r.URL.RequestURI())
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	switch {
	case len(parts) == 3 && parts[0] == "schemas" && parts[1] == "ids" && r.Method == http.MethodGet:
		s.byID(w, parts[2], q.Get("subject"))
	case len(parts) == 4 && parts[0] == "schemas" && parts[1] == "ids" && parts[3] == "versions":
		s.versionsOfID(w, parts[2])
	case len(parts) == 3 && parts[0] == "schemas" && parts[1] == "guids":
		s.byGUID(w, parts[2])
	case len(parts) == 1 && parts[0] == "subjects":
		names := make([]string, 0, len(s.subjects))
		for n := range s.subjects {
			names = append(names, n)
		}
		reply(w, http.StatusOK, names)
	case len(parts) == 2 && parts[0] == "subjects" && r.Method == http.MethodPost:
		s.lookup(w, r, parts[1])
	case len(parts) == 3 && parts[0] == "subjects" && parts[2] == "versions" && r.Method == http.MethodPost:
		s.register(w, r, parts[1])
	case len(parts) == 3 && parts[0] == "subjects" && parts[2] == "versions":
		vs := s.subjects[parts[1]]
		if len(vs) == 0 {
			fail(w, http.StatusNotFound, 40401, "Subject not found")
			return
		}
		out := make([]int, len(vs))
		for i := range vs {
			out[i] = i + 1
		}
		reply(w, http.StatusOK, out)
	case len(parts) == 4 && parts[0] == "subjects" && parts[2] == "versions":
		s.byVersion(w, parts[1], parts[3])
	case len(parts) == 3 && parts[0] == "subjects" && parts[2] == "metadata":
		s.latestWithMetadata(w, parts[1], q)
	default:
		fail(w, http.StatusNotFound, 404, "not served by registrytest: "+r.Method+" "+r.URL.Path)
	}
}

func (s *Server) metadata(subject string, v int) schemaregistry.SchemaMetadata {
	ver := s.subjects[subject][v-1]
	c := s.contents[ver.id-1]
	return schemaregistry.SchemaMetadata{
		SchemaInfo: schemaregistry.SchemaInfo{Schema: c.schema, SchemaType: c.schemaType, References: c.references,
			Metadata: ver.metadata, RuleSet: ver.ruleSet},
		ID: ver.id, GUID: c.guid, Subject: subject, Version: v,
	}
}

// schemaType is the type as stored: Avro is the registry's default and is
// answered with an empty schemaType, as the real server does.
func schemaType(t string) string {
	if t == "AVRO" {
		return ""
	}
	return t
}

func (s *Server) contentID(info *schemaregistry.SchemaInfo) int {
	for i, c := range s.contents {
		if c.schemaType == schemaType(info.SchemaType) && c.schema == info.Schema && sameRefs(c.references, info.References) {
			return i + 1
		}
	}
	return 0
}

func sameRefs(a, b []schemaregistry.Reference) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

func (s *Server) register(w http.ResponseWriter, r *http.Request, subject string) {
	var in schemaregistry.SchemaMetadata
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Schema == "" {
		fail(w, http.StatusUnprocessableEntity, 42201, "Invalid schema")
		return
	}
	vs := s.subjects[subject]
	// Rules and metadata not given are inherited from the previous version.
	if len(vs) > 0 {
		prev := vs[len(vs)-1]
		if in.Metadata == nil {
			in.Metadata = prev.metadata
		}
		if in.RuleSet == nil {
			in.RuleSet = prev.ruleSet
		}
	}
	id := s.contentID(&in.SchemaInfo)
	if id == 0 {
		s.contents = append(s.contents, content{schemaType: schemaType(in.SchemaType), schema: in.Schema,
			references: in.References, guid: uuid.NewString()})
		id = len(s.contents)
	}
	// Registering what the latest version already is returns it.
	for i := len(vs) - 1; i >= 0; i-- {
		if v := vs[i]; v.id == id && reflect.DeepEqual(v.metadata, in.Metadata) && reflect.DeepEqual(v.ruleSet, in.RuleSet) {
			reply(w, http.StatusOK, s.metadata(subject, i+1))
			return
		}
	}
	s.subjects[subject] = append(vs, version{id: id, metadata: in.Metadata, ruleSet: in.RuleSet})
	reply(w, http.StatusOK, s.metadata(subject, len(vs)+1))
}

// lookup answers POST /subjects/{subject}: the latest version of subject
// whose content is the given schema.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request, subject string) {
	var in schemaregistry.SchemaMetadata
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(w, http.StatusUnprocessableEntity, 42201, "Invalid schema")
		return
	}
	vs, ok := s.subjects[subject]
	if !ok {
		fail(w, http.StatusNotFound, 40401, "Subject not found")
		return
	}
	id := s.contentID(&in.SchemaInfo)
	for i := len(vs) - 1; i >= 0; i-- {
		if id != 0 && vs[i].id == id {
			reply(w, http.StatusOK, s.metadata(subject, i+1))
			return
		}
	}
	fail(w, http.StatusNotFound, 40403, "Schema not found")
}

// byID answers GET /schemas/ids/{id}[?subject=S] with S's latest version
// of that content; without a subject (or when S never had the id), with
// the first version registered under it.
func (s *Server) byID(w http.ResponseWriter, idText, subject string) {
	id, _ := strconv.Atoi(idText)
	if id <= 0 || id > len(s.contents) {
		fail(w, http.StatusNotFound, 40403, "Schema not found")
		return
	}
	if subject != "" {
		vs := s.subjects[subject]
		for i := len(vs) - 1; i >= 0; i-- {
			if vs[i].id == id {
				reply(w, http.StatusOK, s.metadata(subject, i+1).SchemaInfo)
				return
			}
		}
	}
	for _, sv := range s.versionsWith(id) {
		reply(w, http.StatusOK, s.metadata(sv.Subject, sv.Version).SchemaInfo)
		return
	}
	fail(w, http.StatusNotFound, 40403, "Schema not found")
}

type subjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// versionsWith lists the subject versions of an id, in registration order
// per subject and subjects by name, so answers are deterministic.
func (s *Server) versionsWith(id int) []subjectVersion {
	names := make([]string, 0, len(s.subjects))
	for n := range s.subjects {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []subjectVersion
	for _, n := range names {
		for i, v := range s.subjects[n] {
			if v.id == id {
				out = append(out, subjectVersion{n, i + 1})
			}
		}
	}
	return out
}

func (s *Server) versionsOfID(w http.ResponseWriter, idText string) {
	id, _ := strconv.Atoi(idText)
	out := s.versionsWith(id)
	if len(out) == 0 {
		fail(w, http.StatusNotFound, 40403, "Schema not found")
		return
	}
	reply(w, http.StatusOK, out)
}

func (s *Server) byGUID(w http.ResponseWriter, guid string) {
	for i, c := range s.contents {
		if c.guid == guid {
			if svs := s.versionsWith(i + 1); len(svs) > 0 {
				reply(w, http.StatusOK, s.metadata(svs[0].Subject, svs[0].Version).SchemaInfo)
				return
			}
		}
	}
	fail(w, http.StatusNotFound, 40403, "Schema not found")
}

func (s *Server) byVersion(w http.ResponseWriter, subject, v string) {
	vs := s.subjects[subject]
	if len(vs) == 0 {
		fail(w, http.StatusNotFound, 40401, "Subject not found")
		return
	}
	n := len(vs)
	if v != "latest" && v != "-1" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > len(vs) {
			fail(w, http.StatusNotFound, 40402, "Version not found")
			return
		}
	}
	reply(w, http.StatusOK, s.metadata(subject, n))
}

// latestWithMetadata answers GET /subjects/{s}/metadata?key=k&value=v…:
// the latest version whose metadata properties hold every pair.
func (s *Server) latestWithMetadata(w http.ResponseWriter, subject string, q map[string][]string) {
	keys, values := q["key"], q["value"]
	vs := s.subjects[subject]
	for i := len(vs) - 1; i >= 0; i-- {
		props := map[string]string{}
		if vs[i].metadata != nil {
			props = vs[i].metadata.Properties
		}
		match := len(keys) == len(values)
		for j := 0; match && j < len(keys); j++ {
			match = props[keys[j]] == values[j]
		}
		if match {
			reply(w, http.StatusOK, s.metadata(subject, i+1))
			return
		}
	}
	fail(w, http.StatusNotFound, 40403, "Schema not found")
}
