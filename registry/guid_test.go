package registry

import (
	"context"
	"testing"

	"github.com/google/uuid"
)

// TestGUIDInSubjectAnswers: every answer naming a subject version carries
// the schema's GUID, as Confluent Platform 8 registries send it (what a
// serializer needs to write the GUID header, whichever way it chose the
// schema), and the GUID leads back to the content, directly and over HTTP.
func TestGUIDInSubjectAnswers(t *testing.T) {
	clients(t, func(t *testing.T, c Client, _ *Memory) {
		ctx := context.Background()
		reg, err := c.Register(ctx, "g-value", Schema{Schema: customerAvro,
			Metadata: &Metadata{Properties: map[string]string{"app": "1"}}}, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := uuid.Parse(reg.GUID); err != nil {
			t.Fatalf("registration answered GUID %q: %v", reg.GUID, err)
		}
		answers := map[string]func() (SubjectSchema, error){
			"Lookup":  func() (SubjectSchema, error) { return c.Lookup(ctx, "g-value", Schema{Schema: customerAvro}, false) },
			"Latest":  func() (SubjectSchema, error) { return c.Latest(ctx, "g-value") },
			"Version": func() (SubjectSchema, error) { return c.Version(ctx, "g-value", 1, false) },
			"LatestWithMetadata": func() (SubjectSchema, error) {
				return c.LatestWithMetadata(ctx, "g-value", map[string]string{"app": "1"})
			},
			"Register again": func() (SubjectSchema, error) { return c.Register(ctx, "g-value", Schema{Schema: customerAvro}, false) },
		}
		for name, get := range answers {
			got, err := get()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got.GUID != reg.GUID || got.ID != reg.ID {
				t.Errorf("%s: id %d GUID %q, want %d %q", name, got.ID, got.GUID, reg.ID, reg.GUID)
			}
		}
		if s, err := c.SchemaByGUID(ctx, reg.GUID); err != nil || s.Schema != customerAvro {
			t.Fatalf("SchemaByGUID: %+v, %v", s, err)
		}
	})
}
