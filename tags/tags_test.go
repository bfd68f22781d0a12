package tags

import (
	"reflect"
	"testing"

	"github.com/tagseal/tagseal/registry"
)

// The examples of Confluent's WildcardMatcher documentation and tests.
func TestMatch(t *testing.T) {
	cases := []struct {
		name, pattern string
		want          bool
	}{
		{"eve", "eve*", true},
		{"alice.bob.eve", "a*.bob.eve", true},
		{"alice.bob.eve", "a*.bob.e*", true},
		{"alice.bob.eve", "a*", false},
		{"alice.bob.eve", "a**", true},
		{"alice.bob.eve", "alice.bob*", false},
		{"alice.bob.eve", "alice.bob**", true},
		{"com.acme.Customer.ssn", "**.ssn", true},
		{"com.acme.Customer.ssn", "*.ssn", false},
		{"com.acme.Customer.ssn", "com.acme.Customer.ss?", true},
		{"com.acme.Customer.ssn", "com.acme.Customer.s?", false},
		{"com.acme.Customer.ssn", "com.acme.**.*", true},
		{"a+b", "a+b", true},
		{"aab", "a+b", false},
	}
	for _, c := range cases {
		if got := Match(c.name, c.pattern); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.name, c.pattern, got, c.want)
		}
	}
}

func encrypt(name string, mode string, tags ...string) registry.Rule {
	return registry.Rule{Name: name, Kind: "TRANSFORM", Type: TypeEncrypt, Mode: mode, Tags: tags,
		Params: map[string]string{"encrypt.kek.name": name}}
}

func TestRuleSelection(t *testing.T) {
	disabled := encrypt("off", "WRITEREAD", "PII")
	disabled.Disabled = true
	split := encrypt("split", "WRITEREAD", "SECRET")
	split.OnFailure = "ERROR,NONE"
	info := &registry.Schema{
		Metadata: &registry.Metadata{
			Tags:       map[string][]string{"**.ssn": {"PII"}, "com.acme.C.note": {"SECRET"}},
			Properties: map[string]string{"encrypt.dek.algorithm": "AES256_SIV"},
		},
		RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{
			disabled,
			encrypt("first", "WRITEREAD", "PII"),
			encrypt("shadowed", "WRITEREAD", "PII"), // same tags, later: yields
			encrypt("write-only", "WRITE", "PII"),   // other mode: applies
			split,
			{Name: "cel", Kind: "CONDITION", Type: "CEL", Mode: "WRITE"},
		}},
	}
	rs := FromSchema(info)
	if len(rs.Field) != 5 {
		t.Fatalf("field rules = %d, want 5", len(rs.Field))
	}
	byName := map[string]Rule{}
	for _, r := range rs.Field {
		byName[r.Name] = r
	}
	check := func(name string, write, read bool) {
		t.Helper()
		if r := byName[name]; r.Write != write || r.Read != read {
			t.Errorf("%s: write=%v read=%v, want %v %v", name, r.Write, r.Read, write, read)
		}
	}
	check("off", false, false)
	check("first", true, true)
	check("shadowed", false, false)
	check("write-only", true, false)
	check("split", true, true)
	if r := byName["split"]; r.OnWriteFailure != ActionError || r.OnReadFailure != ActionNone {
		t.Errorf("split actions = %s/%s", r.OnWriteFailure, r.OnReadFailure)
	}
	if r := byName["first"]; r.OnWriteFailure != ActionError || r.OnReadFailure != ActionError {
		t.Errorf("default actions = %s/%s", r.OnWriteFailure, r.OnReadFailure)
	}
	first := byName["first"]
	if v, ok := first.Param("encrypt.dek.algorithm"); !ok || v != "AES256_SIV" {
		t.Errorf("metadata.properties fallback = %q %v", v, ok)
	}
	if v, _ := first.Param("encrypt.kek.name"); v != "first" {
		t.Errorf("rule param = %q", v)
	}

	// Field matching: inline tags, metadata path tags, and untagged fields.
	names := func(idx []int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, rs.Field[i].Name)
		}
		return out
	}
	if got := names(rs.RulesFor("com.acme.C.ssn", nil)); !reflect.DeepEqual(got, []string{"first", "write-only"}) {
		t.Errorf("ssn rules = %v", got)
	}
	if got := names(rs.RulesFor("com.acme.C.note", nil)); !reflect.DeepEqual(got, []string{"split"}) {
		t.Errorf("note rules = %v", got)
	}
	if got := names(rs.RulesFor("com.acme.C.name", []string{"SECRET"})); !reflect.DeepEqual(got, []string{"split"}) {
		t.Errorf("inline-tagged rules = %v", got)
	}
	if got := rs.RulesFor("com.acme.C.age", nil); got != nil {
		t.Errorf("untagged field got rules %v", got)
	}
}

func TestEnableAtAndUntaggedRule(t *testing.T) {
	info := &registry.Schema{RuleSet: &registry.RuleSet{
		EnableAt:    "SERVER",
		DomainRules: []registry.Rule{encrypt("all", "WRITEREAD")},
	}}
	if FromSchema(info).HasFieldRules() {
		t.Fatal("rules enabled only at SERVER must not run in a client")
	}
	info.RuleSet.EnableAt = ""
	rs := FromSchema(info)
	if got := rs.RulesFor("x.Y.z", nil); len(got) != 1 {
		t.Fatalf("a rule without tags applies to every field, got %v", got)
	}
}
