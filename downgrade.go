package tagseal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	hamba "github.com/hamba/avro/v2"

	"github.com/tagseal/tagseal/registry"
	"github.com/tagseal/tagseal/tags"
)

// DowngradeError is a refused write: the schema the serializer was about
// to use protects less than the subject's latest registered version. It
// names rules and field paths, never values. It wraps ErrEncryptionDowngrade.
type DowngradeError struct {
	Subject string
	// LatestID and LatestVersion are the subject's latest version.
	LatestID, LatestVersion int
	// WriterID and WriterVersion are the schema about to be used; 0 when
	// unknown (an auto-registered schema is checked before it is registered;
	// UseSchemaID resolves no version).
	WriterID, WriterVersion int
	// Rules are the latest version's ENCRYPT and ENCRYPT_PAYLOAD rules
	// ("name (TYPE)") that the writer lacks or does not run on write.
	Rules []string
	// Fields are paths present in both schemas that the latest version
	// encrypts and the writer would not.
	Fields []string
}

func (e *DowngradeError) Error() string {
	var parts []string
	if len(e.Rules) > 0 {
		parts = append(parts, "rules not applied: "+strings.Join(e.Rules, ", "))
	}
	if len(e.Fields) > 0 {
		parts = append(parts, "fields not encrypted: "+strings.Join(e.Fields, ", "))
	}
	return fmt.Sprintf("%v: subject %s: schema id %d (version %d) protects less than the latest version %d (id %d): %s",
		ErrEncryptionDowngrade, e.Subject, e.WriterID, e.WriterVersion, e.LatestVersion, e.LatestID, strings.Join(parts, "; "))
}

// Unwrap returns ErrEncryptionDowngrade.
func (e *DowngradeError) Unwrap() error { return ErrEncryptionDowngrade }

// contract is what one schema version protects on write.
type contract struct {
	// rules are the write-active ENCRYPT / ENCRYPT_PAYLOAD rules, "name (TYPE)".
	rules []string
	// fields maps each field's structural path to whether a write-active
	// ENCRYPT rule selects it. The structural path ignores record names
	// (Avro ".a.b"), so a derived schema whose record is named after a Go
	// type still lines up with the registered one.
	fields map[string]bool
	// tags are each field's effective tags (inline ∪ metadata.tags) by
	// structural path, for carrying them over to a derived schema.
	tags map[string][]string
}

// contractRecorder is the RuleSelector that fills a contract by full name;
// it selects nothing, so compiling never refuses.
type contractRecorder struct {
	rules  *tags.RuleSet
	sealed map[string]bool     // full name → selected on write
	tags   map[string][]string // full name → effective tags
}

func (r *contractRecorder) RulesFor(fullName string, inline []string) []int {
	sealed := false
	for _, i := range r.rules.RulesFor(fullName, inline) {
		sealed = sealed || r.rules.Field[i].Write
	}
	r.sealed[fullName] = r.sealed[fullName] || sealed
	if t := r.rules.FieldTags(fullName, inline); len(t) > 0 {
		r.tags[fullName] = t
	}
	return nil
}

// contractOf compiles info (with its references) and records what it
// protects on write.
func (c *core) contractOf(ctx context.Context, info *registry.Schema) (*contract, error) {
	refs, err := c.references(ctx, info)
	if err != nil {
		return nil, err
	}
	rules := tags.FromSchema(info)
	rec := &contractRecorder{rules: rules, sealed: map[string]bool{}, tags: map[string][]string{}}
	if _, err := compileFormat(info, refs, rec); err != nil {
		return nil, err
	}
	k := &contract{fields: map[string]bool{}, tags: map[string][]string{}}
	for _, group := range [][]tags.Rule{rules.Field, rules.Payload} {
		for _, r := range group {
			if r.Write {
				k.rules = append(k.rules, r.Name+" ("+r.Type+")")
			}
		}
	}
	paths := map[string][]string{} // full name → structural paths
	if info.SchemaType == "" || info.SchemaType == TypeAvro {
		if paths, err = avroStructuralPaths(info.Schema, refs); err != nil {
			return nil, err
		}
	}
	for fullName, sealed := range rec.sealed {
		sps, ok := paths[fullName]
		if !ok {
			sps = []string{fullName} // JSON "$.a.b" and Protobuf full names are structural
		}
		for _, sp := range sps {
			k.fields[sp] = k.fields[sp] || sealed
			if t := rec.tags[fullName]; len(t) > 0 {
				k.tags[sp] = t
			}
		}
	}
	return k, nil
}

// avroStructuralPaths maps each record field's full name to the paths of
// field names from the root at which it occurs (".addr.street").
func avroStructuralPaths(schema string, refs []reference) (map[string][]string, error) {
	cache := &hamba.SchemaCache{}
	for _, r := range refs {
		if _, err := hamba.ParseWithCache(r.schema, "", cache); err != nil {
			return nil, fmt.Errorf("%w: reference: %v", ErrInvalidSchema, err)
		}
	}
	s, err := hamba.ParseWithCache(schema, "", cache)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
	}
	out := map[string][]string{}
	onPath := map[string]bool{} // records on the current path: recursion stops there
	var walk func(s hamba.Schema, path string)
	walk = func(s hamba.Schema, path string) {
		if ref, ok := s.(*hamba.RefSchema); ok {
			s = ref.Schema()
		}
		switch t := s.(type) {
		case *hamba.RecordSchema:
			if onPath[t.FullName()] {
				return
			}
			onPath[t.FullName()] = true
			for _, f := range t.Fields() {
				sp := path + "." + f.Name()
				full := t.FullName() + "." + f.Name()
				out[full] = append(out[full], sp)
				walk(f.Type(), sp)
			}
			delete(onPath, t.FullName())
		case *hamba.ArraySchema:
			walk(t.Items(), path)
		case *hamba.MapSchema:
			walk(t.Values(), path)
		case *hamba.UnionSchema:
			for _, b := range t.Types() {
				walk(b, path)
			}
		}
	}
	walk(s, "")
	return out, nil
}

// downgrade compares a writer's contract with the latest version's and
// returns what the writer would drop: missing rules, and fields present
// in both that only the latest version encrypts. A field the writer does
// not have at all is not a downgrade.
func downgrade(latest, writer *contract) (rules, fields []string) {
	for _, r := range latest.rules {
		if !slices.Contains(writer.rules, r) {
			rules = append(rules, r)
		}
	}
	for sp, sealed := range latest.fields {
		if w, present := writer.fields[sp]; sealed && present && !w {
			fields = append(fields, strings.TrimPrefix(sp, "."))
		}
	}
	sort.Strings(fields)
	return rules, fields
}

// checkDowngrade refuses writer for subject when it protects less than the
// subject's latest version. The latest version is looked up through the
// core's latest-schema cache (LatestSchemaTTL); a subject without versions
// has nothing to downgrade.
func (c *core) checkDowngrade(ctx context.Context, subject string, writer *registry.SubjectSchema) error {
	latest, err := c.latestSchema(ctx, subject, nil)
	if errors.Is(err, ErrSchemaNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking the subject's latest version for an encryption downgrade: %w", err)
	}
	if writer.ID == latest.ID && writer.ID != 0 && sameContractInputs(&writer.Schema, &latest.Schema) {
		return nil
	}
	lc, err := c.contractOf(ctx, &latest.Schema)
	if err != nil {
		return err
	}
	if len(lc.rules) == 0 {
		return nil
	}
	wc, err := c.contractOf(ctx, &writer.Schema)
	if err != nil {
		return err
	}
	rules, fields := downgrade(lc, wc)
	if len(rules)+len(fields) == 0 {
		return nil
	}
	return &DowngradeError{Subject: subject, LatestID: latest.ID, LatestVersion: latest.Version,
		WriterID: writer.ID, WriterVersion: writer.Version, Rules: rules, Fields: fields}
}

// sameContractInputs reports whether two infos carry the same rules and
// metadata (the schema text is the same when their ids are).
func sameContractInputs(a, b *registry.Schema) bool {
	ja, _ := json.Marshal([]any{a.RuleSet, a.Metadata})
	jb, _ := json.Marshal([]any{b.RuleSet, b.Metadata})
	return bytes.Equal(ja, jb)
}

// keepContract prepares a schema derived from a Go value for
// auto-registration under subject: when the subject's latest version
// encrypts, the derived schema gets the latest rule set and metadata, and
// each field's effective tags from the latest version (inline and
// metadata.tags) as inline tags on the field at the same structural path.
// What cannot be carried exactly is caught by checkDowngrade afterwards.
func (c *core) keepContract(ctx context.Context, subject string, info registry.Schema) (registry.Schema, error) {
	latest, err := c.latestSchema(ctx, subject, nil)
	if errors.Is(err, ErrSchemaNotFound) {
		return info, nil
	}
	if err != nil {
		return info, fmt.Errorf("reading the subject's latest version to keep its encryption contract: %w", err)
	}
	if latest.RuleSet == nil && latest.Metadata == nil {
		return info, nil
	}
	lc, err := c.contractOf(ctx, &latest.Schema)
	if err != nil {
		return info, err
	}
	if info.RuleSet == nil {
		info.RuleSet = latest.RuleSet
	}
	if info.Metadata == nil {
		info.Metadata = latest.Metadata
	}
	if len(lc.tags) == 0 {
		return info, nil
	}
	var doc any
	dec := json.NewDecoder(strings.NewReader(info.Schema))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return info, fmt.Errorf("%w: derived schema: %v", ErrInvalidSchema, err)
	}
	switch info.SchemaType {
	case "", TypeAvro:
		carryAvroTags(doc, "", lc.tags, map[any]bool{})
	case TypeJSONSchema:
		carryJSONTags(doc, doc, "$", lc.tags, map[string]bool{})
	default:
		return info, nil
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return info, err
	}
	info.Schema = string(b)
	return info, nil
}

// carryAvroTags sets "confluent:tags" on the record fields of an Avro
// schema document whose structural path has tags.
func carryAvroTags(node any, path string, tagsByPath map[string][]string, seen map[any]bool) {
	switch n := node.(type) {
	case []any: // union
		for _, b := range n {
			carryAvroTags(b, path, tagsByPath, seen)
		}
	case map[string]any:
		switch n["type"] {
		case "record", "error":
			fields, _ := n["fields"].([]any)
			for _, f := range fields {
				fm, ok := f.(map[string]any)
				if !ok {
					continue
				}
				name, _ := fm["name"].(string)
				sp := path + "." + name
				if t := tagsByPath[sp]; len(t) > 0 {
					fm["confluent:tags"] = mergeTags(fm["confluent:tags"], t)
				}
				carryAvroTags(fm["type"], sp, tagsByPath, seen)
			}
		case "array":
			carryAvroTags(n["items"], path, tagsByPath, seen)
		case "map":
			carryAvroTags(n["values"], path, tagsByPath, seen)
		default:
			if inner, ok := n["type"].(map[string]any); ok {
				carryAvroTags(inner, path, tagsByPath, seen)
			}
		}
	}
}

// carryJSONTags sets "confluent:tags" on the properties of a JSON Schema
// document whose path ("$.a.b") has tags, following local $refs.
func carryJSONTags(root, node any, path string, tagsByPath map[string][]string, seen map[string]bool) {
	n, ok := node.(map[string]any)
	if !ok {
		return
	}
	if ref, ok := n["$ref"].(string); ok && strings.HasPrefix(ref, "#/") {
		if key := ref + "\x00" + path; !seen[key] {
			seen[key] = true
			carryJSONTags(root, resolvePointer(root, ref[2:]), path, tagsByPath, seen)
		}
	}
	if props, ok := n["properties"].(map[string]any); ok {
		for name, sub := range props {
			sp := path + "." + name
			if sm, ok := sub.(map[string]any); ok {
				if t := tagsByPath[sp]; len(t) > 0 {
					sm["confluent:tags"] = mergeTags(sm["confluent:tags"], t)
				}
			}
			carryJSONTags(root, sub, sp, tagsByPath, seen)
		}
	}
	carryJSONTags(root, n["items"], path, tagsByPath, seen)
	for _, kw := range []string{"allOf", "anyOf", "oneOf"} {
		if subs, ok := n[kw].([]any); ok {
			for _, s := range subs {
				carryJSONTags(root, s, path, tagsByPath, seen)
			}
		}
	}
}

func resolvePointer(root any, pointer string) any {
	cur := root
	for _, tok := range strings.Split(pointer, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[tok]
	}
	return cur
}

func mergeTags(existing any, add []string) []any {
	var out []any
	have := map[string]bool{}
	if list, ok := existing.([]any); ok {
		for _, t := range list {
			out = append(out, t)
			if s, ok := t.(string); ok {
				have[s] = true
			}
		}
	}
	for _, t := range add {
		if !have[t] {
			out = append(out, t)
		}
	}
	return out
}
