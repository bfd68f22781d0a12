package tags

import (
	"slices"
	"strings"

	"github.com/tagseal/tagseal/registry"
)

// Rule types this package selects.
const (
	TypeEncrypt        = "ENCRYPT"
	TypeEncryptPayload = "ENCRYPT_PAYLOAD"
)

// Action is what happens after a rule succeeds or fails in one direction.
type Action string

// The built-in actions. Any other name is treated as ActionError: an
// unknown action never lets plaintext through.
const (
	ActionError Action = "ERROR"
	ActionNone  Action = "NONE"
)

// Rule is one ENCRYPT or ENCRYPT_PAYLOAD rule resolved for use.
type Rule struct {
	// Index is the rule's position in its rule list (domainRules or encodingRules).
	Index int
	Name  string
	Type  string
	Tags  []string
	// Write and Read report whether the rule runs on serialize / deserialize
	// (mode, disabled flag, enableAt and same-tag precedence applied).
	Write, Read bool
	// Shadowed reports that an earlier enabled rule with the same tags,
	// kind, mode and type takes precedence, so this one never runs.
	Shadowed bool
	// OnWriteFailure and OnReadFailure are the onFailure actions per direction.
	OnWriteFailure, OnReadFailure Action
	params                        map[string]string
	properties                    map[string]string
}

// Param returns a rule parameter, falling back to the schema's
// metadata.properties as Confluent does.
func (r *Rule) Param(name string) (string, bool) {
	if v, ok := r.params[name]; ok {
		return v, true
	}
	v, ok := r.properties[name]
	return v, ok
}

// RuleSet is the encryption view of one schema: its field rules, payload
// rules and metadata tags.
type RuleSet struct {
	// Field holds the ENCRYPT domain rules in declaration order.
	Field []Rule
	// Payload holds the ENCRYPT_PAYLOAD encoding rules in declaration order.
	Payload      []Rule
	metadataTags map[string][]string
}

// FromSchema extracts the encryption rules and tags of a registered schema.
func FromSchema(info *registry.Schema) *RuleSet {
	rs := &RuleSet{}
	var props map[string]string
	if info.Metadata != nil {
		rs.metadataTags = info.Metadata.Tags
		props = info.Metadata.Properties
	}
	if info.RuleSet == nil {
		return rs
	}
	enabled := info.RuleSet.EnableAt == "" || info.RuleSet.EnableAt == "ALL" || info.RuleSet.EnableAt == "CLIENT"
	rs.Field = selectRules(info.RuleSet.DomainRules, TypeEncrypt, enabled, props)
	rs.Payload = selectRules(info.RuleSet.EncodingRules, TypeEncryptPayload, enabled, props)
	return rs
}

func selectRules(all []registry.Rule, typ string, enabled bool, props map[string]string) []Rule {
	var out []Rule
	for i, r := range all {
		if r.Type != typ || r.Kind != "TRANSFORM" {
			continue
		}
		mode, ok := parseMode(r.Mode)
		if !ok {
			continue
		}
		active := enabled && !r.Disabled
		rule := Rule{
			Index:      i,
			Name:       r.Name,
			Type:       r.Type,
			Tags:       r.Tags,
			Write:      active && (mode == modeWrite || mode == modeWriteRead),
			Read:       active && (mode == modeRead || mode == modeWriteRead),
			params:     r.Params,
			properties: props,
		}
		// Confluent: on write a rule yields to an earlier one with the same
		// tags; on read (rules run in reverse) to a later one in that reversed
		// order, which is again the earlier declaration. Unlike Confluent, a
		// disabled rule shadows nothing: disabling it must not turn the next
		// rule off and leave the field in plaintext.
		for j := 0; j < i; j++ {
			if !all[j].Disabled && sameTagTransform(r, all[j]) {
				rule.Write, rule.Read, rule.Shadowed = false, false, true
			}
		}
		rule.OnWriteFailure, rule.OnReadFailure = splitAction(r.OnFailure, mode, ActionError)
		out = append(out, rule)
	}
	return out
}

// ruleMode is a rule's mode as the registry spells it; only the modes an
// ENCRYPT transform can have are known here (UPGRADE/DOWNGRADE/UPDOWN are
// migration modes and never select an encryption rule).
type ruleMode uint8

const (
	modeWrite ruleMode = iota + 1
	modeRead
	modeWriteRead
)

// parseMode parses a rule mode case-insensitively, as Confluent does.
func parseMode(mode string) (ruleMode, bool) {
	switch strings.ToUpper(mode) {
	case "WRITE":
		return modeWrite, true
	case "READ":
		return modeRead, true
	case "WRITEREAD":
		return modeWriteRead, true
	}
	return 0, false
}

func sameTagTransform(a, b registry.Rule) bool {
	return len(a.Tags) > 0 && a.Kind == "TRANSFORM" && a.Kind == b.Kind && a.Mode == b.Mode &&
		a.Type == b.Type && slices.Equal(a.Tags, b.Tags)
}

// splitAction parses "ACTION" or "WRITE_ACTION,READ_ACTION".
func splitAction(s string, mode ruleMode, def Action) (write, read Action) {
	if s == "" {
		return def, def
	}
	if mode == modeWriteRead && strings.Contains(s, ",") {
		parts := strings.SplitN(s, ",", 2)
		return normalize(parts[0], def), normalize(parts[1], def)
	}
	a := normalize(s, def)
	return a, a
}

func normalize(s string, def Action) Action {
	switch Action(strings.TrimSpace(s)) {
	case ActionNone:
		return ActionNone
	case "":
		return def
	default:
		return ActionError
	}
}

// HasFieldRules reports whether any ENCRYPT rule runs in either direction.
func (rs *RuleSet) HasFieldRules() bool {
	for _, r := range rs.Field {
		if r.Write || r.Read {
			return true
		}
	}
	return false
}

// FieldTags returns the union of a field's inline tags and the metadata
// tags whose path pattern matches the field's full name.
func (rs *RuleSet) FieldTags(fullName string, inline []string) []string {
	tags := append([]string(nil), inline...)
	for pattern, ts := range rs.metadataTags {
		if Match(fullName, pattern) {
			for _, t := range ts {
				if !slices.Contains(tags, t) {
					tags = append(tags, t)
				}
			}
		}
	}
	return tags
}

// RulesFor returns the positions in rs.Field of the ENCRYPT rules that apply
// to a field with the given full name and inline tags, in declaration order.
// A rule without tags applies to every field, as in Confluent.
func (rs *RuleSet) RulesFor(fullName string, inline []string) []int {
	if !rs.HasFieldRules() {
		return nil
	}
	tags := rs.FieldTags(fullName, inline)
	var out []int
	for i, r := range rs.Field {
		if !r.Write && !r.Read {
			continue
		}
		if len(r.Tags) == 0 || intersects(r.Tags, tags) {
			out = append(out, i)
		}
	}
	return out
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}
