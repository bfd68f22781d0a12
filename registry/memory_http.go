package registry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxBody bounds a request body Memory reads.
const maxBody = 16 << 20

// ServeHTTP serves the registry over the Schema Registry REST API, with
// the DEK Registry under /dek-registry/v1:
//
//	GET    /schemas/ids/{id}[?subject=S]        GET    /dek-registry/v1/keks[?deleted]
//	GET    /schemas/ids/{id}/versions           POST   /dek-registry/v1/keks
//	GET    /schemas/guids/{guid}                GET    /dek-registry/v1/keks/{kek}[?deleted]
//	GET    /subjects[?deleted]                  DELETE /dek-registry/v1/keks/{kek}[?permanent]
//	POST   /subjects/{s}[?deleted]              GET    /dek-registry/v1/keks/{kek}/deks[?deleted]
//	DELETE /subjects/{s}[?permanent]            POST   /dek-registry/v1/keks/{kek}/deks[/{s}][?rewrap]
//	GET    /subjects/{s}/versions[?deleted]     GET    /dek-registry/v1/keks/{kek}/deks/{s}  (version 1)
//	POST   /subjects/{s}/versions               DELETE /dek-registry/v1/keks/{kek}/deks/{s}
//	GET    /subjects/{s}/versions/{v}[?deleted] GET    /dek-registry/v1/keks/{kek}/deks/{s}/versions
//	DELETE /subjects/{s}/versions/{v}           GET    /dek-registry/v1/keks/{kek}/deks/{s}/versions/{v}
//	GET    /subjects/{s}/metadata?key=&value=   DELETE /dek-registry/v1/keks/{kek}/deks/{s}/versions/{v}
//
// DEK requests take ?algorithm= (default AES256_GCM); a DEK POST with
// ?rewrap=true replaces an existing version's wrapping ([Memory.RewrapDEK]); {v} is a number,
// "latest" or -1. Errors are answered as the registry does, with a JSON
// body {"error_code": …, "message": …}. Path segments are percent-decoded
// one by one, so a subject may contain '/' when the client escapes it.
// Mount it at the root of a server: an http.ServeMux in front would clean
// or redirect escaped paths.
func (m *Memory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.calls = append(m.calls, r.Method+" "+r.URL.RequestURI())
	m.mu.Unlock()

	var segs []string
	for _, raw := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		s, err := url.PathUnescape(raw)
		if err != nil {
			writeError(w, errorf(http.StatusBadRequest, http.StatusBadRequest, "malformed path %q", r.URL.EscapedPath()))
			return
		}
		segs = append(segs, s)
	}
	if len(segs) == 1 && segs[0] == "" {
		segs = nil
	}
	q := r.URL.Query()
	ctx := r.Context()
	var (
		out any
		err error
	)
	if len(segs) >= 3 && segs[0] == "dek-registry" && segs[1] == "v1" && segs[2] == "keks" {
		out, err = m.serveDEK(ctx, r, segs[3:], q)
	} else {
		out, err = m.serveSchemas(ctx, r, segs, q)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if out == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	reply(w, http.StatusOK, out)
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e = errorf(http.StatusServiceUnavailable, 50302, "%v", err)
	default:
		e = errorf(http.StatusInternalServerError, CodeStoreError, "%v", err)
	}
	reply(w, e.StatusCode, struct {
		ErrorCode int    `json:"error_code"`
		Message   string `json:"message"`
	}{e.ErrorCode, e.Message})
}

func notServed(r *http.Request) error {
	return errorf(http.StatusNotFound, http.StatusNotFound, "HTTP 404 Not Found: %s %s is not served by registry.Memory", r.Method, r.URL.Path)
}

func methodNotAllowed(r *http.Request) error {
	return errorf(http.StatusMethodNotAllowed, http.StatusMethodNotAllowed, "HTTP 405 Method Not Allowed: %s %s", r.Method, r.URL.Path)
}

func flag(q url.Values, key string) bool {
	b, _ := strconv.ParseBool(q.Get(key))
	return b
}

func decode(r *http.Request, into any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	if err := dec.Decode(into); err != nil {
		return errorf(http.StatusBadRequest, http.StatusBadRequest, "malformed JSON body: %v", err)
	}
	return nil
}

// parseVersion reads a version path segment: a positive number, or
// "latest" / -1 as -1.
func parseVersion(s string) (int, error) {
	if s == "latest" {
		return -1, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v == 0 || v < -1 {
		return 0, invalidVersion(s)
	}
	return v, nil
}

func (m *Memory) serveSchemas(ctx context.Context, r *http.Request, segs []string, q url.Values) (any, error) {
	get, post, del := r.Method == http.MethodGet, r.Method == http.MethodPost, r.Method == http.MethodDelete
	switch {
	case len(segs) >= 3 && segs[0] == "schemas" && segs[1] == "ids":
		id, err := strconv.Atoi(segs[2])
		if err != nil {
			return nil, schemaNotFound()
		}
		switch {
		case len(segs) == 3 && get:
			return m.SchemaByID(ctx, q.Get("subject"), id)
		case len(segs) == 4 && segs[3] == "versions" && get:
			return m.SubjectVersionsOfID(ctx, id, flag(q, "deleted"))
		}
	case len(segs) == 3 && segs[0] == "schemas" && segs[1] == "guids" && get:
		return m.SchemaByGUID(ctx, segs[2])
	case len(segs) == 1 && segs[0] == "subjects" && get:
		return m.Subjects(ctx, flag(q, "deleted"))
	case len(segs) == 2 && segs[0] == "subjects":
		switch {
		case post:
			var s Schema
			if err := decode(r, &s); err != nil {
				return nil, err
			}
			return m.lookup(ctx, segs[1], s, flag(q, "deleted"))
		case del:
			return m.DeleteSubject(ctx, segs[1], flag(q, "permanent"))
		}
		return nil, methodNotAllowed(r)
	case len(segs) == 3 && segs[0] == "subjects" && segs[2] == "versions":
		switch {
		case get:
			return m.Versions(ctx, segs[1], flag(q, "deleted"))
		case post:
			var s Schema
			if err := decode(r, &s); err != nil {
				return nil, err
			}
			return m.Register(ctx, segs[1], s, flag(q, "normalize"))
		}
		return nil, methodNotAllowed(r)
	case len(segs) == 4 && segs[0] == "subjects" && segs[2] == "versions":
		v, err := parseVersion(segs[3])
		if err != nil {
			return nil, err
		}
		switch {
		case get:
			return m.Version(ctx, segs[1], v, flag(q, "deleted"))
		case del:
			return m.DeleteVersion(ctx, segs[1], v, flag(q, "permanent"))
		}
		return nil, methodNotAllowed(r)
	case len(segs) == 3 && segs[0] == "subjects" && segs[2] == "metadata" && get:
		keys, values := q["key"], q["value"]
		if len(keys) != len(values) {
			return nil, errorf(http.StatusBadRequest, http.StatusBadRequest, "metadata keys and values do not pair up")
		}
		md := make(map[string]string, len(keys))
		for i, k := range keys {
			md[k] = values[i]
		}
		return m.latestWithMetadata(ctx, segs[1], md, flag(q, "deleted"))
	}
	return nil, notServed(r)
}

// serveDEK serves /dek-registry/v1/keks/…; segs follow "keks".
func (m *Memory) serveDEK(ctx context.Context, r *http.Request, segs []string, q url.Values) (any, error) {
	get, post, del := r.Method == http.MethodGet, r.Method == http.MethodPost, r.Method == http.MethodDelete
	deleted, permanent, alg := flag(q, "deleted"), flag(q, "permanent"), q.Get("algorithm")
	switch {
	case len(segs) == 0 && get:
		return m.KEKNames(ctx, deleted)
	case len(segs) == 0 && post:
		var in createKEKRequest
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		return m.CreateKEK(ctx, KEK{Name: in.Name, KmsType: in.KmsType, KmsKeyID: in.KmsKeyID, KmsProps: in.KmsProps, Doc: in.Doc, Shared: in.Shared})
	case len(segs) == 1 && get:
		return m.KEK(ctx, segs[0], deleted)
	case len(segs) == 1 && del:
		return nil, m.DeleteKEK(ctx, segs[0], permanent)
	case len(segs) == 2 && segs[1] == "deks" && get:
		return m.DEKSubjects(ctx, segs[0], deleted)
	case (len(segs) == 2 || len(segs) == 3) && segs[1] == "deks" && post:
		var in createDEKRequest
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		if len(segs) == 3 {
			in.Subject = segs[2]
		}
		d := DEK{Subject: in.Subject, Version: in.Version, Algorithm: in.Algorithm, EncryptedKeyMaterial: in.EncryptedKeyMaterial, Deleted: in.Deleted}
		if flag(q, "rewrap") {
			return m.RewrapDEK(ctx, segs[0], d)
		}
		return m.CreateDEK(ctx, segs[0], d)
	case len(segs) == 3 && segs[1] == "deks" && get:
		// Confluent's DEK Registry answers the unversioned path with
		// version 1; the latest is /versions/latest.
		return m.DEK(ctx, segs[0], segs[2], alg, 1, deleted)
	case len(segs) == 3 && segs[1] == "deks" && del:
		return nil, m.DeleteDEK(ctx, segs[0], segs[2], alg, 0, permanent)
	case len(segs) == 4 && segs[1] == "deks" && segs[3] == "versions" && get:
		return m.DEKVersions(ctx, segs[0], segs[2], alg, deleted)
	case len(segs) == 5 && segs[1] == "deks" && segs[3] == "versions":
		v, err := parseVersion(segs[4])
		if err != nil {
			return nil, err
		}
		switch {
		case get:
			return m.DEK(ctx, segs[0], segs[2], alg, v, deleted)
		case del:
			return nil, m.DeleteDEK(ctx, segs[0], segs[2], alg, v, permanent)
		}
		return nil, methodNotAllowed(r)
	}
	return nil, notServed(r)
}
