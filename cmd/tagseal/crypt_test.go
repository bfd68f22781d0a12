package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagseal/tagseal/registry"
)

// encrypt then decrypt JSON lines, in all three formats, through the CLI.
func TestEncryptDecrypt(t *testing.T) {
	c := sharedRegistry(t)
	rule := registry.Rule{Name: "pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"},
		Params: map[string]string{"encrypt.kek.name": "kek-cli-crypt", "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "cli"}}
	schemas := map[string]registry.Schema{
		"avro": {SchemaType: "AVRO", Schema: `{"type":"record","name":"C","namespace":"cli","fields":[
		  {"name":"id","type":"int"},{"name":"email","type":"string","confluent:tags":["PII"]},
		  {"name":"phone","type":["null","string"],"default":null,"confluent:tags":["PII"]},
		  {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}]}`},
		"json": {SchemaType: "JSON", Schema: `{"type":"object","properties":{"id":{"type":"integer"},
		  "email":{"type":"string","confluent:tags":["PII"]}}}`},
		"proto": {SchemaType: "PROTOBUF", Schema: `syntax = "proto3"; package cli; import "confluent/meta.proto";
		  message C { int32 id = 1; string email = 2 [(confluent.field_meta).tags = "PII"]; }`},
	}
	docs := map[string]string{
		"avro":  `{"id":%d,"email":"user%d@example.com","phone":"+1-555-01%02d","at":1700000000000}`,
		"json":  `{"id":%d,"email":"user%d@example.com"}`,
		"proto": `{"id":%d,"email":"user%d@example.com"}`,
	}
	dir := t.TempDir()
	for format, info := range schemas {
		t.Run(format, func(t *testing.T) {
			info.RuleSet = &registry.RuleSet{DomainRules: []registry.Rule{rule}}
			topic := "cli-" + format
			if _, err := c.Register(context.Background(), topic+"-value", info, false); err != nil {
				t.Fatal(err)
			}
			var lines []string
			for i := 0; i < 3000; i++ {
				if format == "avro" {
					lines = append(lines, fmt.Sprintf(docs[format], i, i, i%100))
				} else {
					lines = append(lines, fmt.Sprintf(docs[format], i, i))
				}
			}
			in := filepath.Join(dir, format+".jsonl")
			os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
			var enc, encErr bytes.Buffer
			if code := run([]string{"encrypt", "--registry", "mock://x", "--topic", topic, "--file", in, "--rule-config", "secret=cli"},
				nil, &enc, &encErr); code != 0 {
				t.Fatalf("encrypt: %d %s", code, encErr.String())
			}
			if strings.Contains(enc.String(), "example.com") || strings.Count(enc.String(), "\n") != len(lines) {
				t.Fatal("encrypted output holds plaintext or lost records")
			}
			var dec, decErr bytes.Buffer
			if code := run([]string{"decrypt", "--registry", "mock://x", "--topic", topic, "--rule-config", "secret=cli"},
				strings.NewReader(enc.String()), &dec, &decErr); code != 0 {
				t.Fatalf("decrypt: %d %s", code, decErr.String())
			}
			out := strings.Split(strings.TrimSpace(dec.String()), "\n")
			if len(out) != len(lines) {
				t.Fatalf("%d records back, want %d", len(out), len(lines))
			}
			var first map[string]any
			if err := json.Unmarshal([]byte(out[7]), &first); err != nil {
				t.Fatal(err)
			}
			if first["email"] != "user7@example.com" {
				t.Fatalf("record 7: %v", first)
			}
		})
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"encrypt", "--registry", "mock://x", "--topic", "cli-avro", "--rule-config", "secret=cli"},
		strings.NewReader(`{"id":"not a number","email":"x@example.com","at":0}`+"\n"), &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "line 1") {
		t.Fatalf("bad record: %d %s", code, errOut.String())
	}
	if strings.Contains(errOut.String(), "x@example.com") {
		t.Fatal("error leaks a tagged value")
	}
}
