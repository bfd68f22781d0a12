package conformance

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
)

// A FailureList names the cases a testee is known to fail, each with why.
//
// The file is text, one entry per line:
//
//	# Comment lines (and blank lines) are free text; a comment block right
//	# above an entry belongs to it.
//	avro-recursion-aes256-gcm        # RecursionError in the field walk
//	protobuf-map-aes256-gcm:write    # refuses to write tagged maps
//
// An entry is a vector name, optionally ":read" or ":write" for one
// operation; without one it covers every operation the harness runs for
// the vector. Text after "#" on an entry line is the entry's reason.
type FailureList struct {
	// Header is the comment block at the top of the file, before the first
	// entry (kept by Fix).
	Header  []string
	Entries []Entry
}

// Entry is one failure-list line.
type Entry struct {
	Vector string
	Op     string   // "read", "write", or "" for both
	Why    string   // the text after "#" on the entry's line
	Above  []string // comment lines right above the entry
}

// Key is the entry as written: name or name:op.
func (e Entry) Key() string {
	if e.Op == "" {
		return e.Vector
	}
	return e.Vector + ":" + e.Op
}

// Covers reports whether the entry names the case (vector, op).
func (e Entry) Covers(vector, op string) bool {
	return e.Vector == vector && (e.Op == "" || e.Op == op)
}

// LoadFailureList reads a failure list; a missing file is an empty list.
func LoadFailureList(path string) (*FailureList, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return &FailureList{}, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseFailureList(b, path)
}

// ParseFailureList parses a failure list's text; name is for messages.
func ParseFailureList(b []byte, name string) (*FailureList, error) {
	fl := &FailureList{}
	var block []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			if len(fl.Entries) == 0 && len(block) > 0 {
				fl.Header = append(fl.Header, block...)
				fl.Header = append(fl.Header, "")
			}
			block = nil
			continue
		case strings.HasPrefix(line, "#"):
			block = append(block, line)
			continue
		}
		entry, why, _ := strings.Cut(line, "#")
		fields := strings.Fields(entry)
		if len(fields) != 1 {
			return nil, fmt.Errorf("%s:%d: want one vector name[:op] per line, got %q", name, n, entry)
		}
		e := Entry{Vector: fields[0], Why: strings.TrimSpace(why), Above: block}
		if v, op, ok := strings.Cut(fields[0], ":"); ok {
			if op != OpRead && op != OpWrite {
				return nil, fmt.Errorf("%s:%d: operation %q, want read or write", name, n, op)
			}
			e.Vector, e.Op = v, op
		}
		if seen[e.Key()] {
			return nil, fmt.Errorf("%s:%d: %s listed twice", name, n, e.Key())
		}
		seen[e.Key()] = true
		block = nil
		fl.Entries = append(fl.Entries, e)
	}
	if len(block) > 0 {
		fl.Header = append(fl.Header, block...)
	}
	for len(fl.Header) > 0 && fl.Header[len(fl.Header)-1] == "" {
		fl.Header = fl.Header[:len(fl.Header)-1]
	}
	return fl, sc.Err()
}

// Find returns the entry covering the case, if any.
func (fl *FailureList) Find(vector, op string) (Entry, bool) {
	for _, e := range fl.Entries {
		if e.Covers(vector, op) {
			return e, true
		}
	}
	return Entry{}, false
}

// Format renders the list as file text: the header, then the entries
// sorted by name, each with its comment block.
func (fl *FailureList) Format() []byte {
	var b bytes.Buffer
	for _, h := range fl.Header {
		b.WriteString(h + "\n")
	}
	if len(fl.Header) > 0 && len(fl.Entries) > 0 {
		b.WriteString("\n")
	}
	entries := slices.Clone(fl.Entries)
	slices.SortStableFunc(entries, func(a, b Entry) int { return strings.Compare(a.Key(), b.Key()) })
	width := 0
	for _, e := range entries {
		width = max(width, len(e.Key()))
	}
	for _, e := range entries {
		for _, c := range e.Above {
			b.WriteString(c + "\n")
		}
		line := e.Key()
		if e.Why != "" {
			line = fmt.Sprintf("%-*s  # %s", width, e.Key(), e.Why)
		}
		b.WriteString(line + "\n")
	}
	return b.Bytes()
}
