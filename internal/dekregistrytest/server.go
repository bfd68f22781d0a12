// Package dekregistrytest is an in-memory HTTP double of Confluent's DEK
// Registry REST API (/dek-registry/v1), for tests that need what the
// mock:// client lacks: deletion (soft and permanent) and failure
// injection, exercised through confluent-kafka-go's real deks client.
package dekregistrytest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/deks"
)

// Server is a running double. Its zero state is empty.
type Server struct {
	*httptest.Server
	// Fail makes every request answer 500.
	Fail  atomic.Bool
	mu    sync.Mutex
	keks  map[string]*deks.Kek
	deks  map[string][]*deks.Dek // kek/subject/algorithm → versions in order
	Calls []string               // "METHOD path" of every request
}

// New starts a double; it stops with the test.
func New(t interface{ Cleanup(func()) }) *Server {
	s := NewUnstarted()
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

// NewUnstarted returns a double without a listener, to mount its handler
// (ServeHTTP) under another server, as a Schema Registry double does.
func NewUnstarted() *Server {
	return &Server{keks: map[string]*deks.Kek{}, deks: map[string][]*deks.Dek{}}
}

// ServeHTTP serves the /dek-registry/v1 REST subset.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r) }

func dekKey(kek, subject, alg string) string { return kek + "\x00" + subject + "\x00" + alg }

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter, what string) {
	reply(w, http.StatusNotFound, map[string]any{"error_code": 40470, "message": what + " not found"})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.Fail.Load() {
		reply(w, http.StatusInternalServerError, map[string]any{"error_code": 50001, "message": "failing on purpose"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Calls = append(s.Calls, r.Method+" "+r.URL.Path)
	q := r.URL.Query()
	deleted := q.Get("deleted") == "true"
	permanent := q.Get("permanent") == "true"
	path := strings.TrimPrefix(r.URL.Path, "/dek-registry/v1/keks")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if parts[0] == "" {
		parts = nil
	}
	switch {
	case len(parts) == 0 && r.Method == http.MethodPost:
		var in deks.CreateKekRequest
		_ = json.NewDecoder(r.Body).Decode(&in)
		if k, ok := s.keks[in.Name]; ok && !k.Deleted {
			reply(w, http.StatusConflict, map[string]any{"error_code": 40972, "message": "kek exists"})
			return
		}
		k := &deks.Kek{Name: in.Name, KmsType: in.KmsType, KmsKeyID: in.KmsKeyID, KmsProps: in.KmsProps, Shared: in.Shared, Ts: time.Now().UnixMilli()}
		s.keks[in.Name] = k
		reply(w, http.StatusOK, k)
	case len(parts) == 1:
		k, ok := s.keks[parts[0]]
		switch r.Method {
		case http.MethodGet:
			if !ok || k.Deleted && !deleted {
				notFound(w, "kek")
				return
			}
			reply(w, http.StatusOK, k)
		case http.MethodDelete:
			if !ok {
				notFound(w, "kek")
				return
			}
			if permanent {
				delete(s.keks, parts[0])
			} else {
				k.Deleted = true
			}
			w.WriteHeader(http.StatusNoContent)
		}
	case (len(parts) == 2 || len(parts) == 3) && parts[1] == "deks" && r.Method == http.MethodPost:
		var in deks.CreateDekRequest
		_ = json.NewDecoder(r.Body).Decode(&in)
		if len(parts) == 3 {
			in.Subject = parts[2]
		}
		if in.Version == 0 {
			in.Version = 1
		}
		if in.Algorithm == "" {
			in.Algorithm = "AES256_GCM"
		}
		key := dekKey(parts[0], in.Subject, in.Algorithm)
		for _, d := range s.deks[key] {
			if d.Version == in.Version {
				reply(w, http.StatusConflict, map[string]any{"error_code": 40972, "message": "dek exists"})
				return
			}
		}
		d := &deks.Dek{KekName: parts[0], Subject: in.Subject, Version: in.Version, Algorithm: in.Algorithm,
			EncryptedKeyMaterial: in.EncryptedKeyMaterial, Ts: time.Now().UnixMilli()}
		s.deks[key] = append(s.deks[key], d)
		reply(w, http.StatusOK, d)
	case len(parts) >= 3 && parts[1] == "deks":
		s.serveDek(w, r, parts, deleted, permanent)
	default:
		notFound(w, "path")
	}
}

func (s *Server) serveDek(w http.ResponseWriter, r *http.Request, parts []string, deleted, permanent bool) {
	alg := r.URL.Query().Get("algorithm")
	if alg == "" {
		alg = "AES256_GCM"
	}
	key := dekKey(parts[0], parts[2], alg)
	versions := s.deks[key]
	version := 0 // latest
	if len(parts) == 5 && parts[3] == "versions" {
		v, err := strconv.Atoi(parts[4])
		if err != nil {
			notFound(w, "version")
			return
		}
		if v > 0 {
			version = v
		}
	}
	var match []*deks.Dek
	for _, d := range versions {
		if (version == 0 || d.Version == version) && (!d.Deleted || deleted || r.Method == http.MethodDelete) {
			match = append(match, d)
		}
	}
	if len(match) == 0 {
		notFound(w, "dek")
		return
	}
	if r.Method == http.MethodGet {
		reply(w, http.StatusOK, match[len(match)-1])
		return
	}
	if r.Method != http.MethodDelete {
		notFound(w, "method")
		return
	}
	var kept []*deks.Dek
	for _, d := range versions {
		hit := version == 0 || d.Version == version
		switch {
		case hit && permanent:
		case hit:
			d.Deleted = true
			kept = append(kept, d)
		default:
			kept = append(kept, d)
		}
	}
	s.deks[key] = kept
	w.WriteHeader(http.StatusNoContent)
}

// Dek returns a stored DEK version (deleted ones included), for assertions.
func (s *Server) Dek(kek, subject, alg string, version int) (deks.Dek, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.deks[dekKey(kek, subject, alg)] {
		if d.Version == version {
			return *d, true
		}
	}
	return deks.Dek{}, false
}

// Kek returns a stored KEK (deleted included), for assertions.
func (s *Server) Kek(name string) (deks.Kek, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keks[name]
	if !ok {
		return deks.Kek{}, false
	}
	return *k, true
}
