package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/tagseal/tagseal"
	_ "github.com/tagseal/tagseal/kms/awskms"
	_ "github.com/tagseal/tagseal/kms/azurekms"
	_ "github.com/tagseal/tagseal/kms/gcpkms"
	_ "github.com/tagseal/tagseal/kms/hcvault"
)

// runInspect shows what a serialized record holds: frame, schema, and each
// encrypted field with its rule, KEK, algorithm and DEK version. It
// decrypts only with --decrypt, using the caller's KMS access.
func runInspect(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	registry, userInfo := registryFlags(fs)
	topic := fs.String("topic", "", "topic the record was produced to (names the subject)")
	isKey := fs.Bool("key", false, "the record is a Kafka key (subject TOPIC-key)")
	format := fs.String("format", "auto", "input encoding: hex, base64, raw or auto")
	file := fs.String("file", "", "read the record from this file ('-' for stdin) instead of the argument")
	decrypt := fs.Bool("decrypt", false, "also decrypt and print the record (needs KMS access)")
	asJSON := fs.Bool("json", false, "print JSON")
	ruleConfig := kvFlag{}
	fs.Var(ruleConfig, "rule-config", "rule config key=value for --decrypt (secret=…, token.id=…); repeatable")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: tagseal inspect --registry URL --topic T [--key] [--decrypt] (HEX|BASE64 | --file F)\n\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *registry == "" || *topic == "" {
		fmt.Fprintln(stderr, "tagseal inspect: --registry and --topic are required")
		return 2
	}
	payload, err := readRecord(fs.Args(), *file, *format, stdin)
	if err != nil {
		fmt.Fprintln(stderr, "tagseal inspect:", err)
		return 2
	}
	client, err := newRegistryClient(*registry, *userInfo)
	if err != nil {
		fmt.Fprintln(stderr, "tagseal inspect:", err)
		return 1
	}
	ctx := context.Background()
	serdeType := tagseal.Value
	if *isKey {
		serdeType = tagseal.Key
	}
	de, err := tagseal.NewDeserializer(client, serdeType, tagseal.DeserializerConfig{Keys: tagseal.Keys{RuleConfig: ruleConfig}})
	if err != nil {
		fmt.Fprintln(stderr, "tagseal inspect:", err)
		return 1
	}
	in, err := de.Inspect(ctx, *topic, nil, payload)
	if err != nil {
		fmt.Fprintln(stderr, "tagseal inspect:", err)
		return 1
	}
	var decrypted any
	if *decrypt {
		v, err := de.Deserialize(ctx, *topic, payload)
		if err != nil {
			fmt.Fprintln(stderr, "tagseal inspect: decrypt:", err)
			return 1
		}
		if m, ok := v.(proto.Message); ok {
			b, _ := protojson.Marshal(m)
			decrypted = json.RawMessage(b)
		} else {
			decrypted = v
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			*tagseal.Inspection
			Decrypted any `json:"decrypted,omitempty"`
		}{in, decrypted})
		return 0
	}
	printInspection(stdout, in, len(payload))
	if *decrypt {
		b, _ := json.MarshalIndent(decrypted, "  ", "  ")
		fmt.Fprintf(stdout, "decrypted:\n  %s\n", b)
	}
	return 0
}

func printInspection(w io.Writer, in *tagseal.Inspection, size int) {
	id := fmt.Sprintf("schema id %d", in.SchemaID)
	if in.SchemaGUID != "" {
		id = "schema GUID " + in.SchemaGUID
	}
	fmt.Fprintf(w, "record:  %d bytes, %s, %s, subject %s\n", size, id, in.SchemaType, in.Subject)
	if len(in.MessageIndexes) > 0 {
		fmt.Fprintf(w, "message: indexes %v\n", in.MessageIndexes)
	}
	for _, r := range in.PayloadRules {
		fmt.Fprintf(w, "payload: encrypted whole by rule %q (KEK %s, %s, DEK version %d, %d bytes)\n", r.Rule, r.KEK, r.Algorithm, r.DEKVersion, r.Bytes)
	}
	if len(in.Fields) == 0 && len(in.PayloadRules) == 0 {
		fmt.Fprintln(w, "fields:  no encrypted field in this record")
	}
	for _, f := range in.Fields {
		version := "unversioned DEK"
		if f.DEKVersion > 0 {
			version = fmt.Sprintf("DEK version %d", f.DEKVersion)
		}
		line := fmt.Sprintf("field:   %s  rule %q  KEK %s (%s %s)  %s  %s  %d bytes %s",
			f.Path, f.Rule, f.KEK, f.KMSType, f.KMSKeyID, f.Algorithm, version, f.Bytes, f.Encoding)
		if f.Problem != "" {
			line += "  PROBLEM: " + f.Problem
		}
		fmt.Fprintln(w, line)
	}
}

// readRecord decodes the record from the argument or file.
func readRecord(args []string, file, format string, stdin io.Reader) ([]byte, error) {
	var data []byte
	switch {
	case file == "-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, err
		}
		data = b
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		data = b
	case len(args) == 1:
		data = []byte(args[0])
	default:
		return nil, errors.New("give the record as one argument or with --file")
	}
	text := strings.TrimSpace(string(data))
	switch format {
	case "raw":
		return data, nil
	case "hex":
		return hex.DecodeString(text)
	case "base64":
		return base64.StdEncoding.DecodeString(text)
	case "auto":
		if b, err := hex.DecodeString(text); err == nil {
			return b, nil
		}
		if b, err := base64.StdEncoding.DecodeString(text); err == nil {
			return b, nil
		}
		if file != "" {
			return data, nil
		}
		return nil, errors.New("the record is neither hex nor base64")
	}
	return nil, fmt.Errorf("unknown --format %q", format)
}
