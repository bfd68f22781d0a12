package tagseal

import (
	"context"
	"testing"

	"github.com/tagseal/tagseal/internal/keyring"
	"github.com/tagseal/tagseal/registry"
	"github.com/tagseal/tagseal/tags"
)

// One test per cache named in core.go: two entries that differ only in the
// part of the key easiest to forget must not collide. They run over the
// embedded registry.Memory, which shares one id across subjects as real
// registries do.

const cacheKeySchema = `{"type":"record","name":"K","namespace":"cachekeys","fields":[
 {"name":"email","type":"string","confluent:tags":["PII"]}]}`

func cacheKeyRule(kek, algorithm string, extra ...string) registry.Rule {
	params := map[string]string{ParamKEKName: kek, ParamKMSType: "local-kms", ParamKMSKeyID: "k", ParamDEKAlgorithm: algorithm}
	for i := 0; i+1 < len(extra); i += 2 {
		params[extra[i]] = extra[i+1]
	}
	return registry.Rule{Name: "e", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"}, Params: params}
}

// cacheKeyRegistry is an embedded registry with real id semantics: one id
// for identical text across subjects, rules per subject version.
func cacheKeyRegistry(*testing.T) *registry.Memory { return registry.NewMemory() }

// twoSubjects registers the same text under plain-value (no rules) and
// ruled-value (an ENCRYPT rule) and returns the one id both get.
func twoSubjects(t *testing.T, c *registry.Memory) int {
	t.Helper()
	ctx := context.Background()
	a, err := c.Register(ctx, "plain-value", registry.Schema{Schema: cacheKeySchema}, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Register(ctx, "ruled-value", registry.Schema{Schema: cacheKeySchema,
		RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{cacheKeyRule("kek-ck", AES256GCM)}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID {
		t.Fatalf("ids %d and %d: the registry must share ids", a.ID, b.ID)
	}
	return a.ID
}

// core.plans and core.writers, read side: the same id under two subjects
// yields each subject's rules, whichever is asked first, alternating.
func TestCacheKeyDeserializerPlansAndWritersBySubject(t *testing.T) {
	c := cacheKeyRegistry(t)
	ctx := context.Background()
	id := twoSubjects(t, c)
	d, err := NewDeserializer(c, Value, DeserializerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		for topic, want := range map[string]int{"plain": 0, "ruled": 1} {
			w, err := d.writerSchema(ctx, topic, schemaRef{id: id})
			if err != nil {
				t.Fatal(err)
			}
			if got := w.RuleSet != nil; got != (want == 1) {
				t.Fatalf("round %d: writer schema of %s has rules: %v", round, topic, got)
			}
			src, err := d.source(ctx, topic, schemaRef{id: id})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(src.plan.rules.Field); got != want {
				t.Fatalf("round %d: plan for %s has %d field rules, want %d", round, topic, got, want)
			}
		}
	}
}

// core.plans, Serializer.resolved and Serializer.hot, write side.
func TestCacheKeySerializerPlansBySubject(t *testing.T) {
	c := cacheKeyRegistry(t)
	ctx := context.Background()
	twoSubjects(t, c)
	s, err := NewSerializer(c, Value, SerializerConfig{UseLatestVersion: true, Keys: Keys{RuleConfig: map[string]string{"secret": "s"}}})
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		for _, topic := range []string{"plain", "ruled"} {
			_, subject, p, err := s.target(ctx, topic, map[string]any{"email": "x"})
			if err != nil {
				t.Fatal(err)
			}
			if subject != topic+"-value" || p.sealsFields != (topic == "ruled") {
				t.Fatalf("round %d: topic %s resolved to subject %s, sealsFields %v", round, topic, subject, p.sealsFields)
			}
		}
	}
}

// core.latest: a latest-with-metadata answer is not the plain latest one.
func TestCacheKeyLatestByMetadata(t *testing.T) {
	c := cacheKeyRegistry(t)
	ctx := context.Background()
	for i, app := range []string{"one", "two"} {
		schema := `{"type":"record","name":"L","fields":[{"name":"f` + app + `","type":"string"}]}`
		if _, err := c.Register(ctx, "latest-value", registry.Schema{Schema: schema,
			Metadata: &registry.Metadata{Properties: map[string]string{"app": app}}}, false); err != nil {
			t.Fatalf("version %d: %v", i+1, err)
		}
	}
	d, err := NewDeserializer(c, Value, DeserializerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		metadata map[string]string
		version  int
	}{{nil, 2}, {map[string]string{"app": "one"}, 1}, {nil, 2}, {map[string]string{"app": "two"}, 2}, {map[string]string{"app": "one"}, 1}} {
		m, err := d.latestSchema(ctx, "latest-value", q.metadata)
		if err != nil {
			t.Fatal(err)
		}
		if m.Version != q.version {
			t.Fatalf("latest with %v: version %d, want %d", q.metadata, m.Version, q.version)
		}
	}
}

// keyring.write and keyring.read: a DEK belongs to (KEK, subject,
// algorithm[, version]); none of them may be dropped from the key.
func TestCacheKeyDEKs(t *testing.T) {
	c := cacheKeyRegistry(t)
	ctx := context.Background()
	k := keyring.New(c, keyring.Config{RuleConfig: map[string]string{"secret": "s"}})
	keysOf := func(r registry.Rule) *keyring.Rule {
		rs := tags.FromSchema(&registry.Schema{RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{r}}})
		return keyring.ParseRule(&rs.Field[0])
	}
	gcm := keysOf(cacheKeyRule("kek-deks", AES256GCM))
	siv := keysOf(cacheKeyRule("kek-deks", AES256SIV))
	rotating := keysOf(cacheKeyRule("kek-deks", AES256GCM, ParamDEKExpiryDays, "30"))
	otherKEK := keysOf(cacheKeyRule("kek-deks-2", AES256GCM))

	write := func(rk *keyring.Rule, subject string) *keyring.DEK {
		t.Helper()
		e, err := k.WriteDEK(ctx, rk, subject)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	base := write(gcm, "a")
	for name, e := range map[string]*keyring.DEK{
		"subject":   write(gcm, "b"),
		"algorithm": write(siv, "a"),
		"rotation":  write(rotating, "a"),
		"kek":       write(otherKEK, "a"),
	} {
		if e == base {
			t.Errorf("a DEK differing only in %s shares the cached entry", name)
		}
	}
	if again := write(gcm, "a"); again != base {
		t.Error("the same key did not hit the cache")
	}

	read := func(rk *keyring.Rule, subject string, version int) *keyring.DEK {
		t.Helper()
		e, err := k.ReadDEK(ctx, rk, subject, version)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	r := read(gcm, "a", 0)
	if rb := read(gcm, "b", 0); rb == r {
		t.Error("read DEKs of two subjects share an entry")
	}
	if rs := read(siv, "a", 0); rs == r {
		t.Error("read DEKs of two algorithms share an entry")
	}
	if rv := read(rotating, "a", 1); rv == r {
		t.Error("the versioned and unversioned read DEKs share an entry")
	}
}
