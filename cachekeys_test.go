package tagseal

import (
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/deks"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"

	"github.com/tagseal/tagseal/internal/registrytest"
	"github.com/tagseal/tagseal/tags"
)

// One test per cache named in core.go: two entries that differ only in the
// part of the key easiest to forget must not collide. They run over the
// HTTP registry double, which shares one id across subjects as real
// registries do.

const cacheKeySchema = `{"type":"record","name":"K","namespace":"cachekeys","fields":[
 {"name":"email","type":"string","confluent:tags":["PII"]}]}`

func cacheKeyRule(kek, algorithm string, extra ...string) schemaregistry.Rule {
	params := map[string]string{ParamKEKName: kek, ParamKMSType: "local-kms", ParamKMSKeyID: "k", ParamDEKAlgorithm: algorithm}
	for i := 0; i+1 < len(extra); i += 2 {
		params[extra[i]] = extra[i+1]
	}
	return schemaregistry.Rule{Name: "e", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"}, Params: params}
}

func cacheKeyClient(t *testing.T) (schemaregistry.Client, *registrytest.Server) {
	t.Helper()
	srv := registrytest.New(t)
	c, err := schemaregistry.NewClient(schemaregistry.NewConfig(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

// twoSubjects registers the same text under plain-value (no rules) and
// ruled-value (an ENCRYPT rule) and returns the one id both get.
func twoSubjects(t *testing.T, c schemaregistry.Client) int {
	t.Helper()
	a, err := c.Register("plain-value", schemaregistry.SchemaInfo{Schema: cacheKeySchema}, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Register("ruled-value", schemaregistry.SchemaInfo{Schema: cacheKeySchema,
		RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{cacheKeyRule("kek-ck", AES256GCM)}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("ids %d and %d: the double must share ids", a, b)
	}
	return a
}

// core.plans and core.writers, read side: the same id under two subjects
// yields each subject's rules, whichever is asked first, alternating.
func TestCacheKeyDeserializerPlansAndWritersBySubject(t *testing.T) {
	c, _ := cacheKeyClient(t)
	id := twoSubjects(t, c)
	d, err := NewDeserializer(c, cserde.ValueSerde, nil)
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		for topic, want := range map[string]int{"plain": 0, "ruled": 1} {
			w, err := d.writerSchema(topic, schemaRef{id: id})
			if err != nil {
				t.Fatal(err)
			}
			if got := w.RuleSet != nil; got != (want == 1) {
				t.Fatalf("round %d: writer schema of %s has rules: %v", round, topic, got)
			}
			src, err := d.source(topic, schemaRef{id: id})
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
	c, _ := cacheKeyClient(t)
	twoSubjects(t, c)
	conf := NewSerializerConfig()
	conf.AutoRegisterSchemas, conf.UseLatestVersion = false, true
	conf.RuleConfig = map[string]string{"secret": "s"}
	s, err := NewSerializer(c, cserde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		for _, topic := range []string{"plain", "ruled"} {
			_, subject, p, err := s.target(topic, map[string]any{"email": "x"})
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
	c, _ := cacheKeyClient(t)
	for i, app := range []string{"one", "two"} {
		schema := `{"type":"record","name":"L","fields":[{"name":"f` + app + `","type":"string"}]}`
		if _, err := c.Register("latest-value", schemaregistry.SchemaInfo{Schema: schema,
			Metadata: &schemaregistry.Metadata{Properties: map[string]string{"app": app}}}, false); err != nil {
			t.Fatalf("version %d: %v", i+1, err)
		}
	}
	d, err := NewDeserializer(c, cserde.ValueSerde, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		metadata map[string]string
		version  int
	}{{nil, 2}, {map[string]string{"app": "one"}, 1}, {nil, 2}, {map[string]string{"app": "two"}, 2}, {map[string]string{"app": "one"}, 1}} {
		m, err := d.latestSchema("latest-value", q.metadata)
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
	c, _ := cacheKeyClient(t)
	dc, err := deks.NewClient(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	k := newKeyring(dc, nil, map[string]string{"secret": "s"}, Options{})
	keysOf := func(r schemaregistry.Rule) *ruleKeys {
		rs := tags.FromSchema(&schemaregistry.SchemaInfo{RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{r}}})
		return parseRuleKeys(&rs.Field[0])
	}
	gcm := keysOf(cacheKeyRule("kek-deks", AES256GCM))
	siv := keysOf(cacheKeyRule("kek-deks", AES256SIV))
	rotating := keysOf(cacheKeyRule("kek-deks", AES256GCM, ParamDEKExpiryDays, "30"))
	otherKEK := keysOf(cacheKeyRule("kek-deks-2", AES256GCM))

	write := func(rk *ruleKeys, subject string) *dekEntry {
		t.Helper()
		e, err := k.writeDEK(rk, subject)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	base := write(gcm, "a")
	for name, e := range map[string]*dekEntry{
		"subject":   write(gcm, "b"),
		"algorithm": write(siv, "a"),
		"rotation":  write(rotating, "a"),
		"kek":       write(otherKEK, "a"),
	} {
		if e == base || e.cipher == base.cipher {
			t.Errorf("a DEK differing only in %s shares the cached entry", name)
		}
	}
	if again := write(gcm, "a"); again != base {
		t.Error("the same key did not hit the cache")
	}

	read := func(rk *ruleKeys, subject string, version int) *dekEntry {
		t.Helper()
		e, err := k.readDEK(rk, subject, version)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	r := read(gcm, "a", 0)
	if rb := read(gcm, "b", 0); rb == r || rb.cipher == r.cipher {
		t.Error("read DEKs of two subjects share an entry")
	}
	if rs := read(siv, "a", 0); rs == r || rs.cipher == r.cipher {
		t.Error("read DEKs of two algorithms share an entry")
	}
	if rv := read(rotating, "a", 1); rv == r || rv.cipher == r.cipher {
		t.Error("the versioned and unversioned read DEKs share an entry")
	}
}
