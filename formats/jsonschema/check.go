package jsonschema

import (
	"regexp"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// The keywords whose subschemas the rewriter walks, with the path their
// values take:
//
//	same position:  $ref $dynamicRef $recursiveRef allOf anyOf oneOf
//	                if then else dependentSchemas dependencies
//	array items:    items prefixItems additionalItems contains
//	members ".name": properties patternProperties additionalProperties
//
// $defs and definitions are reached through the references into them.
// Every other keyword that holds a subschema is refused when a
// rule-selected tag is reachable under it.
var refusedKeywords = []string{"not", "propertyNames", "unevaluatedProperties", "unevaluatedItems", "contentSchema"}

// check walks every subschema once per property path, stopping at recursion
// (the rewrite computes the paths below it). It refuses rule-selected tags
// on positions that cannot hold a string and under keywords the rewriter
// does not walk. It decides nothing about whether the plan is tagged.
func (p *Plan) check() error {
	c := &checker{p: p, visited: map[ruleKey]bool{}, onStack: map[*jsonschema.Schema]bool{}}
	if err := c.walk(p.root, "$", ""); err != nil {
		return err
	}
	return c.dynamic()
}

type checker struct {
	p       *Plan
	visited map[ruleKey]bool
	onStack map[*jsonschema.Schema]bool
	// dynRefs are the walked $dynamicRef and $recursiveRef sites.
	dynRefs []dynRef
}

type dynRef struct {
	path, keyword string
	target        *jsonschema.Schema
}

func (c *checker) walk(s *jsonschema.Schema, path, keyword string) error {
	if s == nil || c.onStack[s] || c.visited[ruleKey{path, s}] {
		return nil
	}
	c.visited[ruleKey{path, s}] = true
	c.onStack[s] = true
	defer delete(c.onStack, s)

	// Inline tags on a subschema that is not a declared property (those are
	// checked below with their metadata tags).
	if tags := ownTags(s); len(tags) > 0 && keyword != "properties" && len(c.p.sel.RulesFor(path, tags)) > 0 {
		if typ, ok := nonCarrier(s); ok {
			return &PlanError{Path: path, Keyword: keywordOr(keyword), Reason: "declared type " + typ, Err: ErrUnsupportedTaggedType}
		}
	}
	for _, name := range sortedKeys(s.Properties) {
		prop := s.Properties[name]
		full := path + "." + name
		if len(c.p.sel.RulesFor(full, chainTags(prop))) > 0 {
			if typ, ok := nonCarrier(prop); ok {
				return &PlanError{Path: full, Keyword: "properties", Reason: "declared type " + typ, Err: ErrUnsupportedTaggedType}
			}
		}
		if err := c.walk(prop, full, "properties"); err != nil {
			return err
		}
	}
	type sub struct {
		s             *jsonschema.Schema
		path, keyword string
	}
	subs := []sub{{s.Ref, path, "$ref"}, {s.RecursiveRef, path, "$recursiveRef"}, {s.DynamicRef, path, "$dynamicRef"},
		{s.If, path, "if"}, {s.Then, path, "then"}, {s.Else, path, "else"},
		{s.Items2020, path, "items"}, {s.Contains, path, "contains"}}
	for _, x := range s.AllOf {
		subs = append(subs, sub{x, path, "allOf"})
	}
	for _, x := range s.AnyOf {
		subs = append(subs, sub{x, path, "anyOf"})
	}
	for _, x := range s.OneOf {
		subs = append(subs, sub{x, path, "oneOf"})
	}
	for _, x := range s.PrefixItems {
		subs = append(subs, sub{x, path, "prefixItems"})
	}
	switch it := s.Items.(type) {
	case *jsonschema.Schema:
		subs = append(subs, sub{it, path, "items"})
	case []*jsonschema.Schema:
		for _, x := range it {
			subs = append(subs, sub{x, path, "items"})
		}
	}
	if ai, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
		subs = append(subs, sub{ai, path, "additionalItems"})
	}
	for _, re := range sortedPatterns(s.PatternProperties) {
		subs = append(subs, sub{s.PatternProperties[re], path + ".*", "patternProperties"})
	}
	if ap, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
		subs = append(subs, sub{ap, path + ".*", "additionalProperties"})
	}
	for _, k := range sortedKeys(s.DependentSchemas) {
		subs = append(subs, sub{s.DependentSchemas[k], path, "dependentSchemas"})
	}
	for _, k := range sortedKeys(s.Dependencies) {
		if d, ok := s.Dependencies[k].(*jsonschema.Schema); ok {
			subs = append(subs, sub{d, path, "dependencies"})
		}
	}
	if s.DynamicRef != nil {
		c.dynRefs = append(c.dynRefs, dynRef{path, "$dynamicRef", s.DynamicRef})
	}
	if s.RecursiveRef != nil {
		c.dynRefs = append(c.dynRefs, dynRef{path, "$recursiveRef", s.RecursiveRef})
	}
	for _, x := range subs {
		if err := c.walk(x.s, x.path, x.keyword); err != nil {
			return err
		}
	}
	for i, x := range []*jsonschema.Schema{s.Not, s.PropertyNames, s.UnevaluatedProperties, s.UnevaluatedItems, s.ContentSchema} {
		if x != nil && c.selectedBelow(x, path) {
			return &PlanError{Path: path, Keyword: refusedKeywords[i], Reason: "values under this keyword are not walked", Err: ErrUnplaceableTag}
		}
	}
	return nil
}

// dynamic refuses a $dynamicRef or $recursiveRef whose target carries a
// dynamic anchor: another schema with that anchor, anywhere in the dynamic
// scope (even one no static reference reaches), could replace it at
// validation time, and the rewriter follows the static target only. It is
// refused when any schema text holds an inline tag.
func (c *checker) dynamic() error {
	if !c.p.inlineTags {
		return nil
	}
	for _, d := range c.dynRefs {
		if d.keyword == "$dynamicRef" && d.target.DynamicAnchor != "" || d.keyword == "$recursiveRef" && d.target.RecursiveAnchor {
			return &PlanError{Path: d.path, Keyword: d.keyword, Reason: "its target depends on the dynamic scope", Err: ErrUnplaceableTag}
		}
	}
	return nil
}

// selectedBelow reports whether any subschema reachable from s carries
// inline tags that select a rule.
func (c *checker) selectedBelow(s *jsonschema.Schema, path string) bool {
	for _, x := range reachable(s) {
		if tags := ownTags(x); len(tags) > 0 && len(c.p.sel.RulesFor(path, tags)) > 0 {
			return true
		}
	}
	return false
}

// reachable lists every subschema reachable from s through any keyword.
func reachable(s *jsonschema.Schema) []*jsonschema.Schema {
	seen := map[*jsonschema.Schema]bool{}
	var out []*jsonschema.Schema
	var visit func(*jsonschema.Schema)
	visit = func(s *jsonschema.Schema) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		out = append(out, s)
		for _, x := range subschemas(s) {
			visit(x)
		}
	}
	visit(s)
	return out
}

// subschemas lists every subschema s holds, walked or not.
func subschemas(s *jsonschema.Schema) []*jsonschema.Schema {
	out := []*jsonschema.Schema{s.Ref, s.RecursiveRef, s.DynamicRef, s.Not, s.If, s.Then, s.Else,
		s.PropertyNames, s.UnevaluatedProperties, s.Items2020, s.Contains, s.UnevaluatedItems, s.ContentSchema}
	out = append(out, s.AllOf...)
	out = append(out, s.AnyOf...)
	out = append(out, s.OneOf...)
	out = append(out, s.PrefixItems...)
	for _, k := range sortedKeys(s.Properties) {
		out = append(out, s.Properties[k])
	}
	for _, re := range sortedPatterns(s.PatternProperties) {
		out = append(out, s.PatternProperties[re])
	}
	if x, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
		out = append(out, x)
	}
	for _, k := range sortedKeys(s.DependentSchemas) {
		out = append(out, s.DependentSchemas[k])
	}
	for _, k := range sortedKeys(s.Dependencies) {
		if x, ok := s.Dependencies[k].(*jsonschema.Schema); ok {
			out = append(out, x)
		}
	}
	switch it := s.Items.(type) {
	case *jsonschema.Schema:
		out = append(out, it)
	case []*jsonschema.Schema:
		out = append(out, it...)
	}
	if x, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
		out = append(out, x)
	}
	return out
}

func keywordOr(k string) string {
	if k == "" {
		return "root"
	}
	return k
}

// chainTags returns the inline tags of a property schema or, when it has
// none, of the schema its $ref chain reaches (as Confluent reads them).
func chainTags(s *jsonschema.Schema) []string {
	for ; s != nil; s = s.Ref {
		if t := ownTags(s); len(t) > 0 {
			return t
		}
	}
	return nil
}

// nonCarrier reports a declared type that can never hold a string.
func nonCarrier(s *jsonschema.Schema) (string, bool) {
	for s.Ref != nil && len(s.Types) == 0 && len(s.Properties) == 0 {
		s = s.Ref
	}
	if len(s.Enum) > 0 || len(s.Constant) > 0 {
		return "enum", true
	}
	if len(s.Properties) > 0 {
		return "object", true
	}
	if len(s.Types) == 0 || len(s.AllOf)+len(s.AnyOf)+len(s.OneOf) > 0 {
		return "", false
	}
	for _, t := range s.Types {
		switch t {
		case "string", "array", "null":
			return "", false
		case "object":
			if s.AdditionalProperties != nil || len(s.PatternProperties) > 0 {
				return "", false
			}
		}
	}
	return strings.Join(s.Types, "|"), true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedPatterns(m map[*regexp.Regexp]*jsonschema.Schema) []*regexp.Regexp {
	res := make([]*regexp.Regexp, 0, len(m))
	for re := range m {
		res = append(res, re)
	}
	slices.SortFunc(res, func(a, b *regexp.Regexp) int { return strings.Compare(a.String(), b.String()) })
	return res
}
