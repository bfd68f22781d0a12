package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/internal/dekadmin"
	"github.com/tagseal/tagseal/internal/vaulttest"
	"github.com/tagseal/tagseal/registry"
)

// runCLI runs the CLI and returns its exit code, stdout and stderr.
func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

type keysUser struct {
	ID    int32  `avro:"id"`
	Email string `avro:"email"`
}

// keysFixture registers topics with an encryption rule on kek in reg and
// writes n records to each; it returns the records by topic.
func keysFixture(t *testing.T, reg registry.Client, kek string, params, conf map[string]string, n int, topics ...string) map[string][][]byte {
	t.Helper()
	ctx := context.Background()
	p := map[string]string{tagseal.ParamKEKName: kek, tagseal.ParamKMSType: "local-kms", tagseal.ParamKMSKeyID: "kid",
		tagseal.ParamDEKExpiryDays: "30"}
	for k, v := range params {
		p[k] = v
	}
	for _, topic := range topics {
		if _, err := reg.Register(ctx, topic+"-value", registry.Schema{
			Schema: `{"type":"record","name":"U","fields":[{"name":"id","type":"int"},{"name":"email","type":"string","confluent:tags":["PII"]}]}`,
			RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{{Name: "enc", Kind: "TRANSFORM", Mode: "WRITEREAD",
				Type: "ENCRYPT", Tags: []string{"PII"}, Params: p}}}}, false); err != nil {
			t.Fatal(err)
		}
	}
	return keysProduce(t, reg, conf, n, topics...)
}

func keysProduce(t *testing.T, reg registry.Client, conf map[string]string, n int, topics ...string) map[string][][]byte {
	t.Helper()
	ser, err := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true, Keys: tagseal.Keys{RuleConfig: conf}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]byte{}
	for _, topic := range topics {
		for i := range n {
			b, err := ser.Serialize(context.Background(), topic, &keysUser{ID: int32(i), Email: fmt.Sprintf("%s%d@example.com", topic, i)})
			if err != nil {
				t.Fatal(err)
			}
			out[topic] = append(out[topic], b)
		}
	}
	return out
}

// keysReadAll reads every record with a cold deserializer.
func keysReadAll(t *testing.T, reg registry.Client, conf map[string]string, recs map[string][][]byte) error {
	t.Helper()
	de, err := tagseal.NewDeserializer(reg, tagseal.Value, tagseal.DeserializerConfig{Keys: tagseal.Keys{RuleConfig: conf}})
	if err != nil {
		return err
	}
	for topic, bs := range recs {
		for i, b := range bs {
			var u keysUser
			if err := de.DeserializeInto(context.Background(), topic, b, &u); err != nil {
				return err
			}
			if want := fmt.Sprintf("%s%d@example.com", topic, i); u.Email != want {
				return fmt.Errorf("read %q, want %q", u.Email, want)
			}
		}
	}
	return nil
}

func TestKeysList(t *testing.T) {
	ctx := context.Background()
	url := "mem://" + t.Name()
	mem := embeddedRegistry(url)
	keysFixture(t, mem, "orders-kek", nil, map[string]string{"secret": "s"}, 1, "orders", "payments")
	if _, err := mem.CreateKEK(ctx, registry.KEK{Name: "cloud-kek", KmsType: "aws-kms", KmsKeyID: "arn:aws:kms:eu-west-1:1:key/x", Shared: true}); err != nil {
		t.Fatal(err)
	}
	if err := mem.DeleteDEK(ctx, "orders-kek", "payments-value", "", 0, false); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("keys", "list", "--registry", url)
	t.Logf("tagseal keys list:\n%s", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, re := range []string{
		`(?m)^KEK\s+KMS TYPE\s+KMS KEY ID\s+SHARED\s+DELETED$`,
		`(?m)^cloud-kek\s+aws-kms\s+arn:aws:kms:eu-west-1:1:key/x\s+yes\s+no$`,
		`(?m)^orders-kek\s+local-kms\s+kid\s+no\s+no$`,
		`(?m)^DEKs of KEK cloud-kek:\n  \(none\)$`,
		`(?m)^  orders-value\s+AES256_GCM\s+1\s+no\s+-\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("list output lacks %s", re)
		}
	}
	if strings.Contains(out, "payments-value") {
		t.Error("soft-deleted DEK listed without --deleted")
	}
	code, out, _ = runCLI("keys", "list", "--registry", url, "--deleted", "--json", "--kek", "orders-kek")
	t.Logf("tagseal keys list --deleted --json --kek orders-kek:\n%s", out)
	var got struct {
		KEKs []dekadmin.KEKInfo `json:"keks"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
		t.Fatalf("json: %d %v\n%s", code, err, out)
	}
	if len(got.KEKs) != 1 || len(got.KEKs[0].DEKs) != 2 || got.KEKs[0].DEKs[1].Subject != "payments-value" || !got.KEKs[0].DEKs[1].Deleted {
		t.Fatalf("json listing %+v", got)
	}
	if code, _, errOut := runCLI("keys", "list"); code != 2 || !strings.Contains(errOut, "--registry") {
		t.Fatalf("no registry: %d %s", code, errOut)
	}
	if code, _, _ := runCLI("keys", "list", "--registry", url, "--kek", "nope"); code != 1 {
		t.Fatalf("unknown KEK: exit %d", code)
	}
}

func TestKeysRotate(t *testing.T) {
	ctx := context.Background()
	mem := registry.NewMemory()
	srv := httptest.NewServer(mem)
	defer srv.Close()
	conf := map[string]string{"secret": "s"}
	recs := keysFixture(t, mem, "k", nil, conf, 2, "orders")
	keysFixture(t, mem, "plain", map[string]string{tagseal.ParamDEKExpiryDays: "0"}, conf, 1, "plain")

	code, out, errOut := runCLI("keys", "rotate", "--registry", srv.URL, "--kek", "k", "--subject", "orders-value", "--rule-config", "secret=s")
	t.Logf("tagseal keys rotate:\n%s", out)
	if code != 0 || !strings.Contains(out, `Created DEK version 2 of KEK "k" for subject "orders-value" (AES256_GCM)`) {
		t.Fatalf("rotate: %d %s %s", code, out, errOut)
	}
	if vs, _ := mem.DEKVersions(ctx, "k", "orders-value", "", false); len(vs) != 2 {
		t.Fatalf("versions %v", vs)
	}
	code, out, _ = runCLI("keys", "rotate", "--registry", srv.URL, "--kek", "k", "--subject", "orders-value", "--rule-config", "secret=s", "--json")
	var info struct {
		KEK     string `json:"kek"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil || code != 0 || info.Version != 3 || info.KEK != "k" {
		t.Fatalf("rotate --json: %d %v %s", code, err, out)
	}
	for _, r := range []map[string][][]byte{recs, keysProduce(t, mem, conf, 2, "orders")} {
		if err := keysReadAll(t, mem, conf, r); err != nil {
			t.Fatal(err)
		}
	}
	// A rule that does not rotate is protected.
	code, _, errOut = runCLI("keys", "rotate", "--registry", srv.URL, "--kek", "plain", "--subject", "plain-value", "--rule-config", "secret=s")
	if code != 1 || !strings.Contains(errOut, "--force") {
		t.Fatalf("non-rotating rule: %d %s", code, errOut)
	}
	if vs, _ := mem.DEKVersions(ctx, "plain", "plain-value", "", false); len(vs) != 1 {
		t.Fatalf("a refused rotation created a version: %v", vs)
	}
	if code, _, errOut := runCLI("keys", "rotate", "--registry", srv.URL, "--kek", "k"); code != 2 || !strings.Contains(errOut, "--subject") {
		t.Fatalf("missing --subject: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI("keys", "rotate", "--registry", srv.URL, "--kek", "k", "--subject", "orders-value"); code != 1 || !strings.Contains(errOut, "secret") {
		t.Fatalf("no KMS secret: %d %s", code, errOut)
	}
}

func TestKeysRewrapLocal(t *testing.T) {
	ctx := context.Background()
	url := "mem://" + t.Name()
	mem := embeddedRegistry(url)
	conf := map[string]string{"secret": "s"}
	recs := keysFixture(t, mem, "k", nil, conf, 2, "orders", "payments")
	before, _ := mem.DEK(ctx, "k", "orders-value", "", 1, false)
	code, out, errOut := runCLI("keys", "rewrap", "--registry", url, "--kek", "k", "--rule-config", "secret=s")
	t.Logf("tagseal keys rewrap:\n%s%s", errOut, out)
	if code != 0 || !strings.Contains(errOut, "rewrapped 2/2 DEKs") || !strings.Contains(out, "Rewrapped 2 DEK versions") {
		t.Fatalf("rewrap: %d %s %s", code, out, errOut)
	}
	if after, _ := mem.DEK(ctx, "k", "orders-value", "", 1, false); after.EncryptedKeyMaterial == before.EncryptedKeyMaterial {
		t.Fatal("DEK not rewrapped")
	}
	if err := keysReadAll(t, mem, conf, recs); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI("keys", "rewrap", "--registry", url, "--kek", "k", "--rule-config", "secret=wrong", "--json", "--quiet")
	if code != 1 || errOut == "" || !strings.Contains(out, `"error"`) {
		t.Fatalf("wrong secret: %d %s %s", code, out, errOut)
	}
}

// `tagseal shred` and `tagseal keys shred` are the same command.
func TestKeysShredAlias(t *testing.T) {
	ctx := context.Background()
	url := "mem://" + t.Name()
	mem := embeddedRegistry(url)
	keysFixture(t, mem, "k", nil, map[string]string{"secret": "s"}, 1, "a", "b")
	if code, out, errOut := runCLI("keys", "shred", "--registry", url, "--kek", "k", "--subject", "a-value", "--yes"); code != 0 || !strings.Contains(out, "Soft-deleted") {
		t.Fatalf("keys shred: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := runCLI("shred", "--registry", url, "--kek", "k", "--subject", "b-value", "--yes"); code != 0 {
		t.Fatalf("shred: %d %s", code, errOut)
	}
	for _, s := range []string{"a-value", "b-value"} {
		if d, err := mem.DEK(ctx, "k", s, "", 1, true); err != nil || !d.Deleted {
			t.Fatalf("%s: %+v %v", s, d, err)
		}
	}
}

// The scenario through the CLI against OpenBao: rotate the transit
// key, `tagseal keys rewrap`, retire version 1: every old record reads.
func TestKeysRewrapVault(t *testing.T) {
	c, addr, token := vaulttest.Server(t)
	name := vaulttest.NewTransitKey(t, c, "cli-rewrap")
	url := "mem://" + t.Name()
	mem := embeddedRegistry(url)
	conf := map[string]string{"token.id": token}
	recs := keysFixture(t, mem, "vault-kek", map[string]string{tagseal.ParamKMSType: "hcvault",
		tagseal.ParamKMSKeyID: addr + "/transit/keys/" + name}, conf, 2, "orders", "payments")
	if _, err := c.Logical().Write("transit/keys/"+name+"/rotate", nil); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("keys", "rewrap", "--registry", url, "--kek", "vault-kek", "--rule-config", "token.id="+token)
	t.Logf("tagseal keys rewrap:\n%s%s", errOut, out)
	if code != 0 || strings.Count(out, "v1 -> v2") != 2 {
		t.Fatalf("rewrap: %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI("keys", "list", "--registry", url, "--kek", "vault-kek")
	t.Logf("tagseal keys list:\n%s", out)
	if code != 0 || strings.Count(out, " v2 ") != 2 {
		t.Fatalf("list after rewrap: %d\n%s", code, out)
	}
	for _, s := range []string{"orders-value", "payments-value"} {
		d, _ := mem.DEK(context.Background(), "vault-kek", s, "", 1, false)
		edek, _ := base64.StdEncoding.DecodeString(d.EncryptedKeyMaterial)
		if !strings.HasPrefix(string(edek), "vault:v2:") {
			t.Fatalf("%s wrapped as %.9q", s, edek)
		}
	}
	if _, err := c.Logical().Write("transit/keys/"+name+"/config", map[string]any{"min_decryption_version": 2}); err != nil {
		t.Fatal(err)
	}
	if err := keysReadAll(t, mem, conf, recs); err != nil {
		t.Fatalf("after rewrap and min_decryption_version=2: %v", err)
	}
}
