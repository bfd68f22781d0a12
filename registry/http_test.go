package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	customerAvro = `{"type":"record","name":"Customer","fields":[{"name":"email","type":"string","confluent:tags":["PII"]}]}`
	customerV2   = `{"type":"record","name":"Customer","fields":[{"name":"email","type":"string","confluent:tags":["PII"]},{"name":"n","type":"int","default":0}]}`
)

func encryptRules(kek string) *RuleSet {
	return &RuleSet{DomainRules: []Rule{{
		Name: "encrypt-pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"},
		Params: map[string]string{"encrypt.kek.name": kek, "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "k"},
	}}}
}

// serve starts Memory behind HTTP and a client for it.
func serve(t *testing.T, opts ...Option) (*Memory, *HTTPClient) {
	t.Helper()
	m := NewMemory()
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m, c
}

func wantErr(t *testing.T, err error, sentinel error, code int) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v: want %v", err, sentinel)
	}
	var e *Error
	if code != 0 && (!errors.As(err, &e) || e.ErrorCode != code) {
		t.Fatalf("error %v: want error code %d", err, code)
	}
}

// clients runs a test against Memory directly and over HTTP, so both
// implementations are held to the same behaviour.
func clients(t *testing.T, f func(t *testing.T, c Client, m *Memory)) {
	t.Run("direct", func(t *testing.T) {
		m := NewMemory()
		f(t, m, m)
	})
	t.Run("http", func(t *testing.T) {
		m, c := serve(t)
		f(t, c, m)
	})
}

func TestSchemaRegistrySemantics(t *testing.T) {
	clients(t, func(t *testing.T, c Client, m *Memory) {
		ctx := context.Background()
		plain, err := c.Register(ctx, "orders-value", Schema{Schema: customerAvro}, false)
		if err != nil {
			t.Fatal(err)
		}
		ruled, err := c.Register(ctx, "customers-value", Schema{Schema: customerAvro, SchemaType: TypeAvro, RuleSet: encryptRules("k1")}, false)
		if err != nil {
			t.Fatal(err)
		}
		if plain.ID != ruled.ID || plain.GUID != ruled.GUID || plain.GUID == "" {
			t.Fatalf("identical text: ids %d/%d guids %q/%q; want one id and guid", plain.ID, ruled.ID, plain.GUID, ruled.GUID)
		}
		if plain.Subject != "orders-value" || plain.Version != 1 || ruled.Version != 1 || ruled.SchemaType != "" {
			t.Fatalf("registered %+v and %+v", plain, ruled)
		}

		// Rules belong to the subject version.
		orders, err := c.SchemaByID(ctx, "orders-value", plain.ID)
		if err != nil || orders.RuleSet != nil || orders.Schema != customerAvro {
			t.Fatalf("orders by id: %+v %v", orders, err)
		}
		customers, err := c.SchemaByID(ctx, "customers-value", plain.ID)
		if err != nil || !reflect.DeepEqual(customers.RuleSet, encryptRules("k1")) {
			t.Fatalf("customers by id: %+v %v", customers, err)
		}
		// Unqualified: the first registration of the id (orders', rule-less).
		if first, err := c.SchemaByID(ctx, "", plain.ID); err != nil || first.RuleSet != nil || first.Schema != customerAvro {
			t.Fatalf("unqualified by id: %+v %v", first, err)
		}
		if byGUID, err := c.SchemaByGUID(ctx, plain.GUID); err != nil || byGUID.Schema != customerAvro {
			t.Fatalf("by guid: %+v %v", byGUID, err)
		}

		// A version without rules inherits them; re-registering returns it.
		v2, err := c.Register(ctx, "customers-value", Schema{Schema: customerV2,
			Metadata: &Metadata{Properties: map[string]string{"app": "2"}}}, false)
		if err != nil || v2.Version != 2 || v2.ID == plain.ID || !reflect.DeepEqual(v2.RuleSet, encryptRules("k1")) {
			t.Fatalf("v2 %+v %v: want version 2, new id, inherited rules", v2, err)
		}
		again, err := c.Register(ctx, "customers-value", Schema{Schema: customerV2}, true)
		if err != nil || again.Version != 2 || again.ID != v2.ID {
			t.Fatalf("re-register %+v %v", again, err)
		}
		latest, err := c.Latest(ctx, "customers-value")
		if err != nil || !reflect.DeepEqual(latest, v2) {
			t.Fatalf("latest %+v %v, want %+v", latest, err, v2)
		}
		v1, err := c.Version(ctx, "customers-value", 1, false)
		if err != nil || v1.ID != plain.ID || v1.Metadata != nil {
			t.Fatalf("version 1 %+v %v", v1, err)
		}
		if l, err := c.Version(ctx, "customers-value", -1, false); err != nil || l.Version != 2 {
			t.Fatalf("version -1 %+v %v", l, err)
		}
		found, err := c.Lookup(ctx, "customers-value", Schema{Schema: customerAvro}, false)
		if err != nil || found.Version != 1 || found.ID != plain.ID {
			t.Fatalf("lookup %+v %v", found, err)
		}
		withMD, err := c.LatestWithMetadata(ctx, "customers-value", map[string]string{"app": "2"})
		if err != nil || withMD.Version != 2 {
			t.Fatalf("latest with metadata %+v %v", withMD, err)
		}
		if all, err := c.LatestWithMetadata(ctx, "customers-value", nil); err != nil || all.Version != 2 {
			t.Fatalf("latest with no metadata asked %+v %v", all, err)
		}

		// A soft-deleted version: hidden, unless asked for; its id still reads.
		if _, err := m.DeleteVersion(ctx, "customers-value", 2, false); err != nil {
			t.Fatal(err)
		}
		if l, err := c.Latest(ctx, "customers-value"); err != nil || l.Version != 1 {
			t.Fatalf("latest after delete %+v %v", l, err)
		}
		_, err = c.Version(ctx, "customers-value", 2, false)
		wantErr(t, err, ErrNotFound, CodeVersionNotFound)
		if d, err := c.Version(ctx, "customers-value", 2, true); err != nil || d.ID != v2.ID {
			t.Fatalf("deleted version with includeDeleted %+v %v", d, err)
		}
		if s, err := c.SchemaByID(ctx, "customers-value", v2.ID); err != nil || s.Schema != customerV2 {
			t.Fatalf("deleted version's id %+v %v", s, err)
		}
		_, err = c.LatestWithMetadata(ctx, "customers-value", map[string]string{"app": "2"})
		wantErr(t, err, ErrNotFound, CodeSchemaNotFound)

		// Error paths.
		_, err = c.Latest(ctx, "nobody")
		wantErr(t, err, ErrNotFound, CodeSubjectNotFound)
		_, err = c.SchemaByID(ctx, "orders-value", 999)
		wantErr(t, err, ErrNotFound, CodeSchemaNotFound)
		_, err = c.SchemaByGUID(ctx, "00000000-0000-0000-0000-000000000000")
		wantErr(t, err, ErrNotFound, CodeSchemaNotFound)
		_, err = c.Lookup(ctx, "orders-value", Schema{Schema: `"string"`}, false)
		wantErr(t, err, ErrNotFound, CodeSchemaNotFound)
		_, err = c.Lookup(ctx, "nobody", Schema{Schema: customerAvro}, false)
		wantErr(t, err, ErrNotFound, CodeSubjectNotFound)
		_, err = c.Register(ctx, "orders-value", Schema{Schema: "{not json"}, false)
		wantErr(t, err, ErrInvalid, CodeInvalidSchema)
		_, err = c.Register(ctx, "orders-value", Schema{Schema: `"string"`, SchemaType: "XML"}, false)
		wantErr(t, err, ErrInvalid, CodeInvalidSchema)
		_, err = c.Register(ctx, "orders-value", Schema{Schema: `"string"`,
			References: []Reference{{Name: "x", Subject: "nobody", Version: 1}}}, false)
		wantErr(t, err, ErrInvalid, CodeInvalidSchema)
		_, err = c.Version(ctx, "orders-value", 0, false)
		wantErr(t, err, ErrInvalid, 0)
		_, err = c.Register(ctx, "", Schema{Schema: `"string"`}, false)
		wantErr(t, err, ErrInvalid, 0)
	})
}

// TestRoundTripExact checks every field of a contract survives
// registration and reading back unchanged, over HTTP and directly.
func TestRoundTripExact(t *testing.T) {
	clients(t, func(t *testing.T, c Client, _ *Memory) {
		ctx := context.Background()
		ref, err := c.Register(ctx, "address", Schema{Schema: `syntax = "proto3"; message Address { string street = 1; }`, SchemaType: TypeProtobuf}, false)
		if err != nil {
			t.Fatal(err)
		}
		in := Schema{
			Schema:     `syntax = "proto3"; import "address.proto"; message P { Address a = 1; }`,
			SchemaType: TypeProtobuf,
			References: []Reference{{Name: "address.proto", Subject: "address", Version: ref.Version}},
			Metadata: &Metadata{
				Tags:       map[string][]string{"P.a": {"PII", "ADDRESS"}},
				Properties: map[string]string{"owner": "team-a", "secret": "s"},
				Sensitive:  []string{"secret"},
			},
			RuleSet: &RuleSet{
				MigrationRules: []Rule{{Name: "m", Kind: "TRANSFORM", Mode: "UPGRADE", Type: "JSONATA", Expr: "$", Disabled: true}},
				DomainRules: []Rule{{Name: "e", Doc: "encrypt", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT",
					Tags: []string{"PII"}, Params: map[string]string{"encrypt.kek.name": "k"}, OnSuccess: "NONE,NONE", OnFailure: "ERROR,NONE"}},
				EncodingRules: []Rule{{Name: "p", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT_PAYLOAD",
					Params: map[string]string{"encrypt.kek.name": "k2"}}},
				EnableAt: "2025-01-01T00:00:00Z",
			},
		}
		got, err := c.Register(ctx, "p-value", in, false)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Schema, in) {
			t.Fatalf("registered\n%+v\nwant\n%+v", got.Schema, in)
		}
		byID, err := c.SchemaByID(ctx, "p-value", got.ID)
		if err != nil || !reflect.DeepEqual(byID, in) {
			t.Fatalf("by id\n%+v %v\nwant\n%+v", byID, err, in)
		}
	})
}

func TestDEKRegistry(t *testing.T) {
	clients(t, func(t *testing.T, c Client, _ *Memory) {
		ctx := context.Background()
		k, err := c.CreateKEK(ctx, KEK{Name: "k1", KmsType: "local-kms", KmsKeyID: "key", KmsProps: map[string]string{"p": "v"}, Doc: "d"})
		if err != nil || k.Name != "k1" || k.Ts == 0 || k.KmsProps["p"] != "v" || k.Doc != "d" {
			t.Fatalf("create kek %+v %v", k, err)
		}
		if got, err := c.KEK(ctx, "k1", false); err != nil || !reflect.DeepEqual(got, k) {
			t.Fatalf("kek %+v %v, want %+v", got, err, k)
		}
		_, err = c.CreateKEK(ctx, KEK{Name: "k1", KmsType: "local-kms", KmsKeyID: "key"})
		wantErr(t, err, ErrConflict, CodeKeyExists)
		_, err = c.KEK(ctx, "nope", false)
		wantErr(t, err, ErrNotFound, CodeKeyNotFound)
		_, err = c.CreateKEK(ctx, KEK{Name: "k2", KmsType: "local-kms"})
		wantErr(t, err, ErrInvalid, 0)

		d1, err := c.CreateDEK(ctx, "k1", DEK{Subject: "orders-value", EncryptedKeyMaterial: "ZGVrMQ=="})
		if err != nil || d1.Version != 1 || d1.Algorithm != DefaultAlgorithm || d1.KekName != "k1" {
			t.Fatalf("create dek %+v %v", d1, err)
		}
		d2, err := c.CreateDEK(ctx, "k1", DEK{Subject: "orders-value", Version: 2, Algorithm: DefaultAlgorithm, EncryptedKeyMaterial: "ZGVrMg=="})
		if err != nil || d2.Version != 2 {
			t.Fatalf("create dek v2 %+v %v", d2, err)
		}
		_, err = c.CreateDEK(ctx, "k1", DEK{Subject: "orders-value", Version: 2, EncryptedKeyMaterial: "b3RoZXI="})
		wantErr(t, err, ErrConflict, CodeKeyExists)
		_, err = c.CreateDEK(ctx, "nope", DEK{Subject: "orders-value", EncryptedKeyMaterial: "eA=="})
		wantErr(t, err, ErrNotFound, CodeKeyNotFound)
		_, err = c.CreateDEK(ctx, "k1", DEK{Subject: "x", Algorithm: "ROT13", EncryptedKeyMaterial: "eA=="})
		wantErr(t, err, ErrInvalid, CodeInvalidKey)
		if _, err := c.CreateDEK(ctx, "k1", DEK{Subject: "other-value", Algorithm: "AES256_SIV", EncryptedKeyMaterial: "c2l2"}); err != nil {
			t.Fatal(err)
		}

		if got, err := c.DEK(ctx, "k1", "orders-value", "", 0, false); err != nil || !reflect.DeepEqual(got, d2) {
			t.Fatalf("latest dek %+v %v, want %+v", got, err, d2)
		}
		if got, err := c.DEK(ctx, "k1", "orders-value", DefaultAlgorithm, 1, false); err != nil || !reflect.DeepEqual(got, d1) {
			t.Fatalf("dek v1 %+v %v", got, err)
		}
		_, err = c.DEK(ctx, "k1", "orders-value", "AES256_SIV", 0, false)
		wantErr(t, err, ErrNotFound, CodeKeyNotFound)
		if vs, err := c.DEKVersions(ctx, "k1", "orders-value", "", false); err != nil || !reflect.DeepEqual(vs, []int{1, 2}) {
			t.Fatalf("versions %v %v", vs, err)
		}
		if ss, err := c.DEKSubjects(ctx, "k1", false); err != nil || !reflect.DeepEqual(ss, []string{"orders-value", "other-value"}) {
			t.Fatalf("subjects %v %v", ss, err)
		}

		// Deletes: soft first, then permanent; the KEK last.
		err = c.DeleteDEK(ctx, "k1", "orders-value", "", 2, true)
		wantErr(t, err, ErrNotFound, CodeKeyNotSoftDeleted)
		if err := c.DeleteDEK(ctx, "k1", "orders-value", "", 2, false); err != nil {
			t.Fatal(err)
		}
		if got, err := c.DEK(ctx, "k1", "orders-value", "", 0, false); err != nil || got.Version != 1 {
			t.Fatalf("latest after soft delete %+v %v", got, err)
		}
		_, err = c.DEK(ctx, "k1", "orders-value", "", 2, false)
		wantErr(t, err, ErrNotFound, CodeKeyNotFound)
		if got, err := c.DEK(ctx, "k1", "orders-value", "", 2, true); err != nil || !got.Deleted {
			t.Fatalf("soft-deleted dek with includeDeleted %+v %v", got, err)
		}
		if vs, err := c.DEKVersions(ctx, "k1", "orders-value", "", true); err != nil || !reflect.DeepEqual(vs, []int{1, 2}) {
			t.Fatalf("versions with deleted %v %v", vs, err)
		}
		err = c.DeleteKEK(ctx, "k1", false)
		wantErr(t, err, ErrInvalid, CodeKeyReferenceExists)
		if err := c.DeleteDEK(ctx, "k1", "orders-value", "", 0, false); err != nil {
			t.Fatal(err)
		}
		if err := c.DeleteDEK(ctx, "k1", "other-value", "AES256_SIV", 0, false); err != nil {
			t.Fatal(err)
		}
		if ss, err := c.DEKSubjects(ctx, "k1", false); err != nil || len(ss) != 0 {
			t.Fatalf("subjects after delete %v %v", ss, err)
		}
		if err := c.DeleteKEK(ctx, "k1", false); err != nil {
			t.Fatal(err)
		}
		_, err = c.KEK(ctx, "k1", false)
		wantErr(t, err, ErrNotFound, CodeKeyNotFound)
		if got, err := c.KEK(ctx, "k1", true); err != nil || !got.Deleted {
			t.Fatalf("soft-deleted kek %+v %v", got, err)
		}
		err = c.DeleteKEK(ctx, "k1", true)
		wantErr(t, err, ErrInvalid, CodeKeyReferenceExists) // soft-deleted DEKs still refer to it
		if err := c.DeleteDEK(ctx, "k1", "orders-value", "", 0, true); err != nil {
			t.Fatal(err)
		}
		if err := c.DeleteDEK(ctx, "k1", "other-value", "AES256_SIV", 0, true); err != nil {
			t.Fatal(err)
		}
		_, err = c.DEK(ctx, "k1", "orders-value", "", 1, true)
		wantErr(t, err, ErrNotFound, CodeKeyNotFound)
		if err := c.DeleteKEK(ctx, "k1", true); err != nil {
			t.Fatal(err)
		}
		_, err = c.KEK(ctx, "k1", true)
		wantErr(t, err, ErrNotFound, CodeKeyNotFound)
		err = c.DeleteKEK(ctx, "k1", false)
		wantErr(t, err, ErrNotFound, CodeKeyNotFound)
		err = c.DeleteDEK(ctx, "k1", "orders-value", "", 0, false)
		wantErr(t, err, ErrNotFound, CodeKeyNotFound)
	})
}

// TestKEKUndeleteByCreate: re-creating a soft-deleted KEK with its
// settings undeletes it, as the DEK Registry does; other settings conflict.
func TestKEKUndeleteByCreate(t *testing.T) {
	clients(t, func(t *testing.T, c Client, _ *Memory) {
		ctx := context.Background()
		k := KEK{Name: "k", KmsType: "aws", KmsKeyID: "arn"}
		if got, err := c.CreateKEK(ctx, k); err != nil || got.KmsType != "aws-kms" {
			t.Fatalf("create %+v %v: want the kms type normalized to aws-kms", got, err)
		}
		if err := c.DeleteKEK(ctx, "k", false); err != nil {
			t.Fatal(err)
		}
		_, err := c.CreateKEK(ctx, KEK{Name: "k", KmsType: "aws-kms", KmsKeyID: "other"})
		wantErr(t, err, ErrConflict, CodeKeyExists)
		if got, err := c.CreateKEK(ctx, k); err != nil || got.Deleted {
			t.Fatalf("undelete by create %+v %v", got, err)
		}
		if _, err := c.KEK(ctx, "k", false); err != nil {
			t.Fatal(err)
		}
	})
}

// flaky answers status for the first n requests, then lets next serve.
type flaky struct {
	next   http.Handler
	status int
	n      int32
	count  atomic.Int32
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.count.Add(1) <= f.n {
		http.Error(w, `{"error_code":50301,"message":"try later"}`, f.status)
		return
	}
	f.next.ServeHTTP(w, r)
}

func TestRetries(t *testing.T) {
	ctx := context.Background()
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusInternalServerError} {
		m := NewMemory()
		f := &flaky{next: m, status: status, n: 2}
		srv := httptest.NewServer(f)
		c, err := New(srv.URL, WithRetries(3, time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Register(ctx, "s", Schema{Schema: `"string"`}, false); err != nil {
			t.Fatalf("%d twice then success: %v", status, err)
		}
		if n := f.count.Load(); n != 3 {
			t.Fatalf("%d: %d requests, want 3", status, n)
		}
		srv.Close()
	}

	// A 404 is an answer, not a failure: never retried.
	m := NewMemory()
	f := &flaky{next: m}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, err := New(srv.URL, WithRetries(5, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Latest(ctx, "missing")
	wantErr(t, err, ErrNotFound, CodeSubjectNotFound)
	if n := f.count.Load(); n != 1 {
		t.Fatalf("404: %d requests, want 1", n)
	}

	// Always failing: ErrUnavailable after exactly the configured tries.
	f = &flaky{next: m, status: http.StatusServiceUnavailable, n: 1 << 30}
	srv2 := httptest.NewServer(f)
	defer srv2.Close()
	c, _ = New(srv2.URL, WithRetries(4, time.Millisecond))
	_, err = c.KEK(ctx, "k", false)
	wantErr(t, err, ErrUnavailable, 50301)
	if n := f.count.Load(); n != 4 {
		t.Fatalf("always 503: %d requests, want 4", n)
	}

	// Memory.FailWith over HTTP is the same to a client.
	m.FailWith(http.StatusInternalServerError)
	c, _ = New(srv.URL, WithRetries(2, time.Millisecond))
	_, err = c.KEK(ctx, "k", false)
	wantErr(t, err, ErrUnavailable, CodeStoreError)
	m.FailWith(0)
	_, err = c.KEK(ctx, "k", false)
	wantErr(t, err, ErrNotFound, CodeKeyNotFound)
}

func TestConnectionFailureAndFailover(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	ctx := context.Background()

	c, err := New(deadURL, WithRetries(2, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Latest(ctx, "s")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("connection refused: %v, want ErrUnavailable", err)
	}

	// Several URLs: a dead first one fails over to the next.
	m := NewMemory()
	live := httptest.NewServer(m)
	defer live.Close()
	c, err = New(deadURL+","+live.URL, WithRetries(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, "s", Schema{Schema: `"string"`}, false); err != nil {
		t.Fatalf("failover: %v", err)
	}
}

func TestTimeoutIsRetriedThenUnavailable(t *testing.T) {
	var count atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		<-r.Context().Done()
	}))
	defer srv.Close()
	c, err := New(srv.URL, WithTimeout(30*time.Millisecond), WithRetries(2, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Latest(context.Background(), "s")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v, want ErrUnavailable wrapping context.DeadlineExceeded", err)
	}
	if n := count.Load(); n != 2 {
		t.Fatalf("%d tries, want 2", n)
	}
}

func TestContextCancellation(t *testing.T) {
	release := make(chan struct{})
	var count atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := New(srv.URL, WithRetries(5, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Latest(ctx, "s"); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("canceled before: %v", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, err = c.KEK(ctx, "k", false)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled in flight: %v", err)
	}
	if time.Since(start) > 5*time.Second || count.Load() > 1 {
		t.Fatalf("cancellation took %s and %d tries; want prompt, no retry", time.Since(start), count.Load())
	}

	// Memory honours the context too.
	if _, err := NewMemory().Latest(ctx, "s"); !errors.Is(err, context.Canceled) {
		t.Fatalf("memory, canceled: %v", err)
	}
}

// authed lets a request through to next only with the expected
// Authorization header.
func authed(next http.Handler, want string, seen *atomic.Value) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get("Authorization"))
		if r.Header.Get("Authorization") != want {
			http.Error(w, `{"error_code":40101,"message":"Unauthorized"}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func TestAuth(t *testing.T) {
	ctx := context.Background()
	var seen atomic.Value
	basic := httptest.NewServer(authed(NewMemory(), "Basic "+"dXNlcjpwYXNz", &seen)) // user:pass
	defer basic.Close()
	c, _ := New(basic.URL, WithBasicAuth("user", "pass"))
	if _, err := c.Register(ctx, "s", Schema{Schema: `"string"`}, false); err != nil {
		t.Fatalf("basic auth: %v (server saw %q)", err, seen.Load())
	}
	c, _ = New(basic.URL, WithBasicAuth("user", "wrong"), WithRetries(3, time.Millisecond))
	_, err := c.Latest(ctx, "s")
	wantErr(t, err, ErrUnauthorized, 40101)

	bearer := httptest.NewServer(authed(NewMemory(), "Bearer tok-123", &seen))
	defer bearer.Close()
	c, _ = New(bearer.URL, WithBearerToken("tok-123"))
	if _, err := c.CreateKEK(ctx, KEK{Name: "k", KmsType: "local-kms", KmsKeyID: "x"}); err != nil {
		t.Fatalf("bearer: %v (server saw %q)", err, seen.Load())
	}
	c, _ = New(bearer.URL)
	_, err = c.KEK(ctx, "k", false)
	wantErr(t, err, ErrUnauthorized, 0)
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(NewMemory())
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	mine := &tls.Config{MinVersion: tls.VersionTLS12}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: mine}}
	c, err := New(srv.URL, WithTLSConfig(&tls.Config{RootCAs: pool}), WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(context.Background(), "s", Schema{Schema: `"string"`}, false); err != nil {
		t.Fatalf("TLS: %v", err)
	}
	if tc := hc.Transport.(*http.Transport).TLSClientConfig; tc != mine || tc.RootCAs != nil {
		t.Fatal("New changed the caller's http.Client")
	}
	// Without the CA the server is not trusted.
	c, _ = New(srv.URL, WithRetries(3, time.Millisecond))
	if _, err := c.Latest(context.Background(), "s"); err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("untrusted TLS: %v, want a certificate error, not retried", err)
	}
}

func TestDEKRegistryURL(t *testing.T) {
	schemas, deks := NewMemory(), NewMemory()
	srSrv, dekSrv := httptest.NewServer(schemas), httptest.NewServer(deks)
	defer srSrv.Close()
	defer dekSrv.Close()
	c, err := New(srSrv.URL, WithDEKRegistryURL(dekSrv.URL))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.CreateKEK(ctx, KEK{Name: "k", KmsType: "local-kms", KmsKeyID: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, "s", Schema{Schema: `"string"`}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := deks.KEK(ctx, "k", false); err != nil {
		t.Fatalf("KEK not in the DEK Registry: %v", err)
	}
	if _, err := schemas.KEK(ctx, "k", false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("KEK went to the Schema Registry: %v", err)
	}
	for _, call := range schemas.Calls() {
		if strings.HasPrefix(call, "POST /dek-registry") {
			t.Fatalf("schema registry got %q", call)
		}
	}
	if _, err := deks.Latest(ctx, "s"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("schema went to the DEK Registry: %v", err)
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		url  string
		opts []Option
	}{
		{"", nil},
		{" , ", nil},
		{"ftp://host", nil},
		{"http://", nil},
		{"http://h", []Option{WithRetries(0, time.Second)}},
		{"http://h", []Option{WithTimeout(-1)}},
		{"http://h", []Option{WithHTTPClient(nil)}},
		{"http://h", []Option{WithDEKRegistryURL("::bad")}},
	} {
		if _, err := New(tc.url, tc.opts...); !errors.Is(err, ErrInvalid) {
			t.Errorf("New(%q): %v, want ErrInvalid", tc.url, err)
		}
	}
	if c, err := New("localhost:8081, http://other:8081/"); err != nil || c == nil {
		t.Fatalf("New with host:port and a trailing slash: %v", err)
	}
}

// TestEscapedNames: subjects with '/', spaces, '?' or dots reach Memory
// intact through the client's escaping.
func TestEscapedNames(t *testing.T) {
	_, c := serve(t)
	ctx := context.Background()
	for _, subject := range []string{"a/b", "with space", "q?x=1", ".", "..", "ünï"} {
		got, err := c.Register(ctx, subject, Schema{Schema: `"string"`}, false)
		if err != nil || got.Subject != subject {
			t.Fatalf("register %q: %+v %v", subject, got, err)
		}
		if l, err := c.Latest(ctx, subject); err != nil || l.Subject != subject {
			t.Fatalf("latest %q: %+v %v", subject, l, err)
		}
	}
}
