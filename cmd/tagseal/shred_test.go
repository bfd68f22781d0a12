package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/deks"

	"github.com/tagseal/tagseal/internal/dekregistrytest"
)

func TestShred(t *testing.T) {
	reg := dekregistrytest.New(t)
	client, err := deks.NewClient(schemaregistry.NewConfig(reg.URL))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.RegisterKek("k1", "local-kms", "id", nil, "", false); err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 2; v++ {
		if _, err := client.RegisterDekVersion("k1", "orders-value", v, "AES256_GCM", "ZWRlaw=="); err != nil {
			t.Fatal(err)
		}
	}
	shred := func(stdin string, args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := run(append([]string{"shred", "--registry", reg.URL}, args...), strings.NewReader(stdin), &out, &errOut)
		return code, out.String() + errOut.String()
	}

	if code, out := shred("no\n", "--kek", "k1", "--subject", "orders-value", "--version", "1"); code != 1 || !strings.Contains(out, "Nothing deleted") {
		t.Fatalf("declined: %d %s", code, out)
	}
	if d, _ := reg.Dek("k1", "orders-value", "AES256_GCM", 1); d.Deleted {
		t.Fatal("a declined shred deleted the DEK")
	}
	if code, out := shred("yes\n", "--kek", "k1", "--subject", "orders-value", "--version", "1"); code != 0 || !strings.Contains(out, "Soft-deleted DEK version 1") {
		t.Fatalf("confirmed: %d %s", code, out)
	}
	if d, ok := reg.Dek("k1", "orders-value", "AES256_GCM", 1); !ok || !d.Deleted {
		t.Fatal("DEK version 1 not soft-deleted")
	}
	if d, _ := reg.Dek("k1", "orders-value", "AES256_GCM", 2); d.Deleted {
		t.Fatal("version 2 must be untouched")
	}
	if code, out := shred("", "--kek", "k1", "--subject", "orders-value", "--permanent", "--yes"); code != 0 || !strings.Contains(out, "Permanently deleted all DEK versions") {
		t.Fatalf("permanent: %d %s", code, out)
	}
	if _, ok := reg.Dek("k1", "orders-value", "AES256_GCM", 2); ok {
		t.Fatal("DEK not hard-deleted")
	}
	if code, _ := shred("", "--kek", "k1", "--yes"); code != 0 {
		t.Fatal("KEK delete failed")
	}
	if k, _ := reg.Kek("k1"); !k.Deleted {
		t.Fatal("KEK not soft-deleted")
	}
	if code, out := shred("", "--kek", "nope", "--yes"); code != 1 || !strings.Contains(out, "404") {
		t.Fatalf("unknown KEK: %d %s", code, out)
	}
	if code, _ := shred("", "--yes"); code != 2 {
		t.Fatal("missing --kek must be a usage error")
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"shred", "--help"}, nil, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "--permanent") {
		t.Fatalf("help: %d %s", code, errOut.String())
	}
}
