// Package tags decides which schema fields a rule applies to: inline field
// tags, metadata.tags path patterns with Confluent's wildcard semantics, and
// the ENCRYPT rules of a schema's rule set with their modes, actions and
// precedence. It knows no schema format.
package tags

import (
	"regexp"
	"strings"
	"sync"
)

var patternCache sync.Map // pattern string → *regexp.Regexp (nil when invalid)

// Match reports whether the dotted full name matches a Confluent wildcard
// pattern: '?' matches one character, '*' any run within one dotted segment,
// '**' any run across segments. The whole name must match.
func Match(fullName, pattern string) bool {
	re := compilePattern(pattern)
	return re != nil && re.MatchString(fullName)
}

func compilePattern(pattern string) *regexp.Regexp {
	if v, ok := patternCache.Load(pattern); ok {
		re, _ := v.(*regexp.Regexp)
		return re
	}
	re, err := regexp.Compile("^(?:" + wildcardToRegexp(pattern) + ")$")
	if err != nil {
		re = nil
	}
	patternCache.Store(pattern, re)
	return re
}

// wildcardToRegexp mirrors Confluent's WildcardMatcher with '.' as separator.
func wildcardToRegexp(glob string) string {
	var dst strings.Builder
	src := []rune(strings.ReplaceAll(glob, "**.*", "**"))
	for i := 0; i < len(src); {
		c := src[i]
		i++
		switch c {
		case '*':
			if i < len(src) && src[i] == '*' {
				dst.WriteString(".*")
				i++
			} else {
				dst.WriteString(`[^.]*`)
			}
		case '?':
			dst.WriteString(`[^.]`)
		case '.', '+', '{', '}', '(', ')', '|', '^', '$', '[', ']':
			dst.WriteRune('\\')
			dst.WriteRune(c)
		case '\\':
			dst.WriteString(`\\`)
		default:
			dst.WriteRune(c)
		}
	}
	return dst.String()
}
