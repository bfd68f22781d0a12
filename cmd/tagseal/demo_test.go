package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"demo"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	text := out.String()
	stored := section(t, text, "2. ", "3. ")
	holder := section(t, text, "3. ", "4. ")
	outsider := section(t, text, "4. ", "5. ")
	for _, step := range []string{"5. JSON", "6. PROTOBUF"} {
		i := strings.Index(text, step)
		if i < 0 {
			t.Fatalf("demo lacks %q", step)
		}
		part := text[i:]
		if j := strings.Index(part[3:], "\n\n"); j >= 0 {
			part = part[:j+3]
		}
		stored, rest, _ := strings.Cut(part, "read with the secret:")
		holder, outsider, _ := strings.Cut(rest, "read without it:")
		email := demoCustomers[0].Email
		if strings.Contains(stored, email) || !strings.Contains(holder, email) || strings.Contains(outsider, email) {
			t.Errorf("%s: tagged email visible where it must not be, or hidden from the key holder:\n%s", step, part)
		}
	}
	for _, c := range demoCustomers {
		for _, secret := range []string{c.Name, c.Email, c.SSN} {
			if strings.Contains(stored, secret) {
				t.Errorf("stored bytes show a tagged value in plaintext")
			}
			if !strings.Contains(holder, secret) {
				t.Errorf("key holder does not see a tagged value")
			}
			if strings.Contains(outsider, secret) {
				t.Errorf("consumer without the secret sees a tagged value")
			}
		}
		if !strings.Contains(stored, c.Tier) || !strings.Contains(outsider, c.Tier) {
			t.Errorf("untagged field %q should stay readable", c.Tier)
		}
	}
}

func section(t *testing.T, text, from, to string) string {
	t.Helper()
	i, j := strings.Index(text, from), strings.Index(text, to)
	if i < 0 || j < i {
		t.Fatalf("demo output lacks sections %q..%q:\n%s", from, to, text)
	}
	return text[i:j]
}

func TestUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(nil, nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "demo") {
		t.Fatalf("exit %d, %q", code, errOut.String())
	}
	if code := run([]string{"bogus"}, nil, &out, &errOut); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
}
