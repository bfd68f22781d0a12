package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/registry"
)

// sharedRegistry points the commands at one in-memory registry.
func sharedRegistry(t *testing.T) *registry.Memory {
	t.Helper()
	c := registry.NewMemory()
	old := newRegistryClient
	newRegistryClient = func(string, string) (registry.Client, error) { return c, nil }
	t.Cleanup(func() { newRegistryClient = old })
	return c
}

func cli(args ...string) (int, string) {
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String() + errOut.String()
}

func TestInspect(t *testing.T) {
	c := sharedRegistry(t)
	ctx := context.Background()
	if _, err := c.Register(ctx, "orders-value", registry.Schema{Schema: demoSchema, SchemaType: "AVRO",
		RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{{Name: "encrypt-pii", Kind: "TRANSFORM", Mode: "WRITEREAD",
			Type: "ENCRYPT", Tags: []string{"PII"}, Params: map[string]string{"encrypt.kek.name": "kek-cli-inspect",
				"encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "cli", "encrypt.dek.expiry.days": "30"}}}}}, false); err != nil {
		t.Fatal(err)
	}
	ser, err := tagseal.NewSerializer(c, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true,
		Keys: tagseal.Keys{RuleConfig: map[string]string{"secret": "cli-secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := ser.Serialize(ctx, "orders", demoCustomers[0])
	if err != nil {
		t.Fatal(err)
	}
	code, out := cli("inspect", "--registry", "mock://x", "--topic", "orders", hex.EncodeToString(payload))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	t.Logf("tagseal inspect:\n%s", out)
	for _, want := range []string{"schema id 1", "subject orders-value", "com.acme.Customer.email", "KEK kek-cli-inspect", "AES256_GCM", "DEK version 1", "base64"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{demoCustomers[0].Email, demoCustomers[0].Name, demoCustomers[0].SSN} {
		if strings.Contains(out, secret) {
			t.Fatal("inspect without --decrypt shows a tagged value")
		}
	}
	code, out = cli("inspect", "--registry", "mock://x", "--topic", "orders", "--decrypt", "--rule-config", "secret=cli-secret", "--json", hex.EncodeToString(payload))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var doc struct {
		Fields    []tagseal.Sealed `json:"fields"`
		Decrypted map[string]any   `json:"decrypted"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if len(doc.Fields) != 3 || doc.Decrypted["email"] != demoCustomers[0].Email {
		t.Fatalf("fields %d, decrypted %v", len(doc.Fields), doc.Decrypted)
	}
	if code, _ := cli("inspect", "--registry", "mock://x", "--topic", "orders", "not-hex-or-base64!"); code != 2 {
		t.Fatal("garbage input must be a usage error")
	}
}

func TestLint(t *testing.T) {
	dir := t.TempDir()
	bad := `{"type":"record","name":"Bad","namespace":"lint","fields":[
	  {"name":"age","type":"int","confluent:tags":["PII"]},
	  {"name":"note","type":"string","confluent:tags":["SECRET"]},
	  {"name":"memo","type":"string","confluent:tags":["ORPHAN"]},
	  {"name":"ok","type":"string","confluent:tags":["PII"]}]}`
	rules := `{"ruleSet":{"domainRules":[
	  {"name":"pii","kind":"TRANSFORM","type":"ENCRYPT","mode":"WRITEREAD","tags":["PII"],"params":{"encrypt.kek.name":"k"}},
	  {"name":"pci","kind":"TRANSFORM","type":"ENCRYPT","mode":"WRITEREAD","tags":["PCI"],"params":{"encrypt.kek.name":"k2","encrypt.kms.type":"local-kms","encrypt.kms.key.id":"x"}},
	  {"name":"nokek","kind":"TRANSFORM","type":"ENCRYPT","mode":"WRITEREAD","tags":["SECRET"],"params":{"encrypt.dek.algorithm":"AES512"}},
	  {"name":"dup","kind":"TRANSFORM","type":"ENCRYPT","mode":"WRITEREAD","tags":["PII"],"params":{"encrypt.kek.name":"k3"}}]},
	  "metadata":{"tags":{"lint.Bad.missing":["PII"]}}}`
	os.WriteFile(filepath.Join(dir, "bad.avsc"), []byte(bad), 0o600)
	os.WriteFile(filepath.Join(dir, "rules.json"), []byte(rules), 0o600)
	code, out := cli("lint", "--schema", filepath.Join(dir, "bad.avsc"), "--rules", filepath.Join(dir, "rules.json"))
	if code != 1 {
		t.Fatalf("exit %d: %s", code, out)
	}
	t.Logf("tagseal lint (exit %d):\n%s", code, out)
	for _, want := range []string{"uncarriable-tagged-field", "lint.Bad.age", "tag-without-rule", "lint.Bad.memo", "rule-matches-nothing", "pci", "rule-shadowed", "dup",
		"kek-not-creatable", "invalid-rule-params", "AES512", "metadata-tag-matches-nothing", "lint.Bad.missing"} {
		if !strings.Contains(out, want) {
			t.Errorf("lint output lacks %q:\n%s", want, out)
		}
	}
	code, out = cli("lint", "--schema", filepath.Join(dir, "bad.avsc"), "--rules", filepath.Join(dir, "rules.json"), "--json")
	var findings []tagseal.Finding
	if code != 1 || json.Unmarshal([]byte(out), &findings) != nil || len(findings) < 6 {
		t.Fatalf("--json: exit %d, %d findings: %s", code, len(findings), out)
	}

	c := sharedRegistry(t)
	if _, err := c.Register(context.Background(), "clean-value", registry.Schema{Schema: demoSchema, SchemaType: "AVRO",
		RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{{Name: "pii", Kind: "TRANSFORM", Mode: "WRITEREAD",
			Type: "ENCRYPT", Tags: []string{"PII"}, Params: map[string]string{"encrypt.kek.name": "k",
				"encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "x"}}}}}, false); err != nil {
		t.Fatal(err)
	}
	if code, out := cli("lint", "--registry", "mock://x", "--subject", "clean-value"); code != 0 || !strings.Contains(out, "no findings") {
		t.Fatalf("clean schema: exit %d: %s", code, out)
	}

	// --against: an untagged schema file without rules would drop the
	// subject's contract; the registered schema itself would not.
	untagged := strings.ReplaceAll(demoSchema, `"confluent:tags":["PII"]`, `"doc":"untagged"`)
	os.WriteFile(filepath.Join(dir, "untagged.avsc"), []byte(untagged), 0o600)
	os.WriteFile(filepath.Join(dir, "same.avsc"), []byte(demoSchema), 0o600)
	code, out = cli("lint", "--schema", filepath.Join(dir, "untagged.avsc"), "--registry", "mock://x", "--against", "clean-value")
	if code != 1 || !strings.Contains(out, "encryption-downgrade") || !strings.Contains(out, "pii (ENCRYPT)") {
		t.Fatalf("--against with an untagged schema: exit %d: %s", code, out)
	}
	rulesOnly := `{"ruleSet":{"domainRules":[{"name":"pii","kind":"TRANSFORM","type":"ENCRYPT","mode":"WRITEREAD","tags":["PII"],
	  "params":{"encrypt.kek.name":"k","encrypt.kms.type":"local-kms","encrypt.kms.key.id":"x"}}]}}`
	os.WriteFile(filepath.Join(dir, "rules-only.json"), []byte(rulesOnly), 0o600)
	code, out = cli("lint", "--schema", filepath.Join(dir, "same.avsc"), "--rules", filepath.Join(dir, "rules-only.json"), "--registry", "mock://x", "--against", "clean-value")
	if code != 0 {
		t.Fatalf("--against with the registered schema and rules: exit %d: %s", code, out)
	}
}
