package tagseal

import (
	"context"
	"errors"
	"fmt"
	"github.com/tagseal/tagseal/internal/keyring"
	"slices"
	"sort"
	"time"

	"github.com/tagseal/tagseal/registry"

	"github.com/tagseal/tagseal/tags"
)

// Finding is one problem Lint found in a schema's encryption setup.
type Finding struct {
	// Severity is "error" (data would be refused or left in clear) or
	// "warning" (likely a mistake).
	Severity string `json:"severity"`
	// Check names the rule of the linter that fired.
	Check string `json:"check"`
	// Where is a field path, rule name or metadata.tags pattern.
	Where   string `json:"where"`
	Message string `json:"message"`
}

// fieldRecorder wraps a rule set and records every field the compiler
// asks about, with its tags.
type fieldRecorder struct {
	rules  *tags.RuleSet
	fields map[string][]string
	none   bool // answer no rules, to enumerate without refusals
}

func (r *fieldRecorder) RulesFor(fullName string, inline []string) []int {
	r.fields[fullName] = r.rules.FieldTags(fullName, inline)
	if r.none {
		return nil
	}
	return r.rules.RulesFor(fullName, inline)
}

// Lint checks a schema's tags and ENCRYPT rules without encrypting
// anything: tagged fields that cannot carry ciphertext, tags no rule
// covers, rules whose tags match no field, rules missing KEK parameters or
// with invalid ones, and metadata.tags patterns that match no field.
// client resolves references (it may be nil for a schema without any).
func Lint(ctx context.Context, reg registry.SchemaRegistry, info registry.Schema) ([]Finding, error) {
	var refs []reference
	if len(info.References) > 0 {
		if reg == nil {
			return nil, fmt.Errorf("%w: the schema has references and no registry was given", ErrSchemaNotFound)
		}
		var err error
		if refs, err = references(ctx, reg, &info); err != nil {
			return nil, err
		}
	}
	rules := tags.FromSchema(&info)
	rec := &fieldRecorder{rules: rules, fields: map[string][]string{}, none: true}
	if _, err := compileFormat(&info, refs, rec); err != nil {
		return nil, err
	}
	var out []Finding
	add := func(sev, check, where, format string, args ...any) {
		out = append(out, Finding{sev, check, where, fmt.Sprintf(format, args...)})
	}
	// Plan-time refusals (a tagged field that cannot carry ciphertext, a
	// tag where the rewriter cannot reach) surface when compiling with the
	// real rules, exactly as the serializer would meet them.
	if _, err := compileFormat(&info, refs, rules); err != nil {
		check := "uncarriable-tagged-field"
		switch {
		case errors.Is(err, ErrUnplaceableTag):
			check = "unplaceable-tag"
		case !errors.Is(err, ErrUnsupportedTaggedType):
			return nil, err
		}
		where := "schema"
		if pe := (*PlanError)(nil); errors.As(err, &pe) {
			where = pe.Path
		}
		add("error", check, where, "%v", err)
	}
	used := map[string]bool{}
	paths := make([]string, 0, len(rec.fields))
	for p := range rec.fields {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, path := range paths {
		for _, tag := range rec.fields[path] {
			covered := false
			for _, r := range rules.Field {
				if (r.Write || r.Read) && (len(r.Tags) == 0 || slices.Contains(r.Tags, tag)) {
					covered, used[r.Name] = true, true
				}
			}
			if !covered {
				add("warning", "tag-without-rule", path, "tag %q has no ENCRYPT rule: the field is written in clear", tag)
			}
		}
	}
	for _, r := range rules.Field {
		if r.Shadowed {
			add("warning", "rule-shadowed", r.Name, "an earlier rule with the same tags %v takes precedence: this rule never runs", r.Tags)
		}
		if !r.Write && !r.Read {
			continue
		}
		if len(r.Tags) > 0 && !used[r.Name] {
			add("warning", "rule-matches-nothing", r.Name, "rule tags %v match no field", r.Tags)
		}
		out = append(out, lintParams(r)...)
	}
	for _, r := range rules.Payload {
		out = append(out, lintParams(r)...)
	}
	if info.Metadata != nil {
		patterns := make([]string, 0, len(info.Metadata.Tags))
		for p := range info.Metadata.Tags {
			patterns = append(patterns, p)
		}
		sort.Strings(patterns)
		for _, pattern := range patterns {
			matched := false
			for path := range rec.fields {
				if tags.Match(path, pattern) {
					matched = true
					break
				}
			}
			if !matched {
				add("warning", "metadata-tag-matches-nothing", pattern, "metadata.tags pattern matches no field")
			}
		}
	}
	return out, nil
}

func lintParams(r tags.Rule) []Finding {
	var out []Finding
	add := func(sev, check, format string, args ...any) {
		out = append(out, Finding{sev, check, r.Name, fmt.Sprintf(format, args...)})
	}
	rk := keyring.ParseRule(&r)
	switch err := rk.Err(); {
	case errors.Is(err, ErrUsageLimitNeedsRotation):
		add("error", "usage-limit-without-rotation", "%s is set but %s is not > 0: a usage limit works by moving to a new DEK version, and without rotation ciphertexts carry no version prefix (Confluent's format), so readers could not tell versions apart; set %s or drop the limit (%v)",
			ParamDEKMaxEncryptions, ParamDEKExpiryDays, ParamDEKExpiryDays, err)
	case err != nil:
		add("error", "invalid-rule-params", "%v", err)
	}
	if rk.KMSType() == "" || rk.KMSKeyID() == "" {
		add("warning", "kek-not-creatable", "no %s/%s: producers can only use a KEK that already exists", ParamKMSType, ParamKMSKeyID)
	}
	return out
}

// LintAgainst is Lint for a schema about to be registered under subject,
// plus the check the serializer's downgrade guard makes: a finding
// "encryption-downgrade" when info protects less than the subject's latest
// version (an ENCRYPT rule missing or disabled, a field both have that only
// the latest encrypts). A subject without versions has no contract yet.
func LintAgainst(ctx context.Context, reg registry.SchemaRegistry, subject string, info registry.Schema) ([]Finding, error) {
	findings, err := Lint(ctx, reg, info)
	if err != nil {
		return nil, err
	}
	if reg == nil {
		return nil, fmt.Errorf("%w: a registry is needed to read %s", ErrSchemaNotFound, subject)
	}
	c := &core{registry: reg, latestTTL: -1, now: time.Now}
	err = c.checkDowngrade(ctx, subject, &registry.SubjectSchema{Schema: info})
	var de *DowngradeError
	switch {
	case errors.As(err, &de):
		findings = append(findings, Finding{Severity: "error", Check: "encryption-downgrade", Where: subject, Message: de.Error()})
	case err != nil:
		return nil, err
	}
	return findings, nil
}
