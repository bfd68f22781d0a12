package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// TestMemoryConcurrentRegistration: many goroutines registering the same
// text under many subjects get one id, and every subject one version.
func TestMemoryConcurrentRegistration(t *testing.T) {
	m := NewMemory()
	ctx := context.Background()
	var wg sync.WaitGroup
	ids := make([]int, 64)
	errs := make([]error, 64)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ss, err := m.Register(ctx, fmt.Sprintf("s%d", i%8), Schema{Schema: customerAvro, RuleSet: encryptRules("k")}, false)
			ids[i], errs[i] = ss.ID, err
			if err == nil {
				_, errs[i] = m.SchemaByID(ctx, ss.Subject, ss.ID)
			}
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("goroutine %d: id %d (want %d), %v", i, ids[i], ids[0], errs[i])
		}
	}
	subjects, _ := m.Subjects(ctx, false)
	for _, s := range subjects {
		if vs, err := m.Versions(ctx, s, false); err != nil || !reflect.DeepEqual(vs, []int{1}) {
			t.Fatalf("%s: versions %v %v", s, vs, err)
		}
	}
}

// TestMemoryIsolation: what a caller gets back, or handed in, is a copy.
func TestMemoryIsolation(t *testing.T) {
	m := NewMemory()
	ctx := context.Background()
	rules := encryptRules("k")
	ss, err := m.Register(ctx, "s", Schema{Schema: customerAvro, RuleSet: rules}, false)
	if err != nil {
		t.Fatal(err)
	}
	rules.DomainRules[0].Params["encrypt.kek.name"] = "changed-by-caller"
	ss.RuleSet.DomainRules[0].Tags[0] = "changed-by-caller"
	got, _ := m.Latest(ctx, "s")
	if !reflect.DeepEqual(got.RuleSet, encryptRules("k")) {
		t.Fatalf("stored rules changed through a caller's copy: %+v", got.RuleSet)
	}
}

// TestMemoryInheritance: metadata and rules each carry over from the
// latest live version when not given, and a given empty set overrides.
func TestMemoryInheritance(t *testing.T) {
	m := NewMemory()
	ctx := context.Background()
	md := &Metadata{Properties: map[string]string{"owner": "a"}}
	if _, err := m.Register(ctx, "s", Schema{Schema: `"string"`, Metadata: md, RuleSet: encryptRules("k")}, false); err != nil {
		t.Fatal(err)
	}
	v2, _ := m.Register(ctx, "s", Schema{Schema: `"int"`, RuleSet: encryptRules("k2")}, false)
	if !reflect.DeepEqual(v2.Metadata, md) || v2.RuleSet.DomainRules[0].Params["encrypt.kek.name"] != "k2" {
		t.Fatalf("v2 %+v", v2)
	}
	// The same text with other rules is a new version with the same id.
	v3, _ := m.Register(ctx, "s", Schema{Schema: `"int"`, RuleSet: &RuleSet{}}, false)
	if v3.Version != 3 || v3.ID != v2.ID || v3.RuleSet == nil || len(v3.RuleSet.DomainRules) != 0 {
		t.Fatalf("v3 %+v", v3)
	}
	// Registering an older version's content with its rules returns it.
	again, _ := m.Register(ctx, "s", Schema{Schema: `"int"`, RuleSet: encryptRules("k2")}, false)
	if again.Version != 2 {
		t.Fatalf("re-register of version 2's content and rules: %+v", again)
	}
}

func TestMemorySubjectDeletes(t *testing.T) {
	m := NewMemory()
	ctx := context.Background()
	v1, _ := m.Register(ctx, "s", Schema{Schema: `"string"`}, false)
	m.Register(ctx, "s", Schema{Schema: `"int"`}, false)

	_, err := m.DeleteVersion(ctx, "s", 1, true)
	wantErr(t, err, ErrNotFound, CodeVersionNotSoftDeleted)
	if n, err := m.DeleteVersion(ctx, "s", -1, false); err != nil || n != 2 {
		t.Fatalf("soft delete latest: %d %v", n, err)
	}
	_, err = m.DeleteVersion(ctx, "s", 2, false)
	wantErr(t, err, ErrNotFound, CodeVersionSoftDeleted)
	// Registering the deleted content again makes a new version.
	if v3, _ := m.Register(ctx, "s", Schema{Schema: `"int"`}, false); v3.Version != 3 {
		t.Fatalf("re-register after soft delete: %+v", v3)
	}
	_, err = m.DeleteSubject(ctx, "s", true)
	wantErr(t, err, ErrNotFound, CodeSubjectNotSoftDeleted)
	if vs, err := m.DeleteSubject(ctx, "s", false); err != nil || !reflect.DeepEqual(vs, []int{1, 3}) {
		t.Fatalf("soft delete subject: %v %v", vs, err)
	}
	_, err = m.Latest(ctx, "s")
	wantErr(t, err, ErrNotFound, CodeSubjectNotFound)
	if s, err := m.SchemaByID(ctx, "s", v1.ID); err != nil || s.Schema != `"string"` {
		t.Fatalf("id after soft delete: %+v %v", s, err)
	}
	if vs, err := m.DeleteSubject(ctx, "s", true); err != nil || !reflect.DeepEqual(vs, []int{1, 2, 3}) {
		t.Fatalf("hard delete subject: %v %v", vs, err)
	}
	_, err = m.SchemaByID(ctx, "s", v1.ID)
	wantErr(t, err, ErrNotFound, CodeSchemaNotFound)
	// The content keeps its id when registered again.
	if again, _ := m.Register(ctx, "t", Schema{Schema: `"string"`}, false); again.ID != v1.ID || again.Version != 1 {
		t.Fatalf("register after hard delete: %+v", again)
	}
}

func TestMemoryFailWith(t *testing.T) {
	m := NewMemory()
	ctx := context.Background()
	m.FailWith(http.StatusServiceUnavailable)
	_, err := m.Register(ctx, "s", Schema{Schema: `"string"`}, false)
	wantErr(t, err, ErrUnavailable, 50301)
	err = m.DeleteKEK(ctx, "k", false)
	wantErr(t, err, ErrUnavailable, 50301)
	m.FailWith(0)
	if _, err := m.Register(ctx, "s", Schema{Schema: `"string"`}, false); err != nil {
		t.Fatal(err)
	}
}

// TestMemoryBadInput: malformed names, versions and requests are errors,
// never panics.
func TestMemoryBadInput(t *testing.T) {
	m := NewMemory()
	ctx := context.Background()
	checks := []error{
		func() error { _, err := m.SchemaByID(ctx, "", -3); return err }(),
		func() error { _, err := m.Version(ctx, "s", -7, true); return err }(),
		func() error { _, err := m.KEK(ctx, "1starts-with-digit", false); return err }(),
		func() error { _, err := m.KEK(ctx, "", false); return err }(),
		func() error {
			_, err := m.CreateDEK(ctx, "k", DEK{Subject: "bad\x00subject", EncryptedKeyMaterial: "eA=="})
			return err
		}(),
		func() error { _, err := m.DEK(ctx, "k", "s", "", -5, false); return err }(),
		func() error { return m.DeleteDEK(ctx, "k", "s", "", -5, false) }(),
		func() error { _, err := m.DEKVersions(ctx, "k", "", "", false); return err }(),
	}
	for i, err := range checks {
		if err == nil || !(errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound)) {
			t.Errorf("check %d: %v", i, err)
		}
	}
}

// TestMemorySetGUID: a fixed GUID replaces the generated one for lookups
// by GUID and in subject answers; unknown ids, bad and taken GUIDs are
// refused.
func TestMemorySetGUID(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	a, err := m.Register(ctx, "a-value", Schema{Schema: `"string"`}, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Register(ctx, "b-value", Schema{Schema: `"int"`}, false)
	if err != nil {
		t.Fatal(err)
	}
	const guid = "0f8fad5b-d9cb-469f-a165-70867728950e"
	if err := m.SetGUID(a.ID, strings.ToUpper(guid)); err != nil {
		t.Fatal(err)
	}
	if got, err := m.SchemaByGUID(ctx, guid); err != nil || got.Schema != `"string"` {
		t.Fatalf("SchemaByGUID: %+v, %v", got, err)
	}
	if latest, err := m.Latest(ctx, "a-value"); err != nil || latest.GUID != guid {
		t.Fatalf("Latest: %+v, %v", latest, err)
	}
	if _, err := m.SchemaByGUID(ctx, a.GUID); err == nil {
		t.Error("the replaced GUID still names the schema")
	}
	for _, c := range []struct {
		id   int
		guid string
	}{{b.ID, guid}, {99, "6ba7b810-9dad-11d1-80b4-00c04fd430c8"}, {b.ID, "not-a-guid"}} {
		if err := m.SetGUID(c.id, c.guid); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetGUID(%d, %q): %v, want ErrInvalid", c.id, c.guid, err)
		}
	}
}
