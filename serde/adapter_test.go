package serde

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rest"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/deks"

	"github.com/tagseal/tagseal/registry"
)

// adaptErr classifies by error type and status code, never by text.
func TestAdaptErrByType(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want error
		code int
	}{
		{"schema not found", &rest.Error{Code: 40403, Message: "Schema not found"}, registry.ErrNotFound, 40403},
		{"key not found", &rest.Error{Code: 40470, Message: "whatever text"}, registry.ErrNotFound, 40470},
		{"bare 404", &rest.Error{Code: 404, Message: "Key Not Found"}, registry.ErrNotFound, 404},
		{"key exists", &rest.Error{Code: 40971, Message: "x"}, registry.ErrConflict, 40971},
		{"invalid schema", &rest.Error{Code: 42201, Message: "x"}, registry.ErrInvalid, 42201},
		{"unauthorized", &rest.Error{Code: 401, Message: "x"}, registry.ErrUnauthorized, 401},
		{"store error", &rest.Error{Code: 50001, Message: "x"}, registry.ErrUnavailable, 50001},
		// The text says "not found"; the type says a transport failure.
		{"transport", &url.Error{Op: "Get", URL: "http://127.0.0.1:1/subjects", Err: errors.New("not found")}, registry.ErrUnavailable, 0},
		{"mock miss", &url.Error{Op: "GET", URL: "mock://x/subjects/s", Err: errors.New("Subject Not Found")}, registry.ErrNotFound, 0},
		{"plain", errors.New("subject not found"), registry.ErrUnavailable, 0},
	} {
		err := adaptErr(c.err)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		var re *registry.Error
		if c.code != 0 && (!errors.As(err, &re) || re.ErrorCode != c.code) {
			t.Errorf("%s: %v, want a *registry.Error with code %d", c.name, err, c.code)
		}
	}
	if adaptErr(nil) != nil {
		t.Error("nil error adapted to non-nil")
	}
}

// The real mock:// clients' misses all come out as ErrNotFound.
func TestAdaptMockMisses(t *testing.T) {
	ctx := context.Background()
	client, err := schemaregistry.NewClient(schemaregistry.NewConfig("mock://adapter-errors"))
	if err != nil {
		t.Fatal(err)
	}
	sr := schemaRegistry{client}
	if _, err := sr.Latest(ctx, "no-such-subject"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("latest: %v", err)
	}
	if _, err := sr.SchemaByID(ctx, "", 987654); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("by id: %v", err)
	}
	if _, err := sr.Lookup(ctx, "no-such-subject", registry.Schema{Schema: `"string"`}, false); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("lookup: %v", err)
	}
	dc, err := deks.NewClient(schemaregistry.NewConfig("mock://adapter-errors"))
	if err != nil {
		t.Fatal(err)
	}
	dr := dekRegistry{c: dc}
	if _, err := dr.KEK(ctx, "no-such-kek", false); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("kek: %v", err)
	}
	if _, err := dr.DEK(ctx, "no-such-kek", "s", "AES256_GCM", 0, false); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("dek: %v", err)
	}
	// A real client whose registry is unreachable: unavailable, not "not found".
	down, err := schemaregistry.NewClient(schemaregistry.NewConfig("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (schemaRegistry{down}).Latest(ctx, "s"); !errors.Is(err, registry.ErrUnavailable) || errors.Is(err, registry.ErrNotFound) {
		t.Errorf("unreachable registry: %v", err)
	}
}
