package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"

	"github.com/tagseal/tagseal/serde"
)

// runLint checks a registered or local schema's tags and encryption rules.
// It exits 1 when it finds anything, 0 when the schema is clean.
func runLint(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	registry, userInfo := registryFlags(fs)
	subject := fs.String("subject", "", "registered subject to lint (latest version unless --version)")
	version := fs.Int("version", 0, "subject version")
	schemaFile := fs.String("schema", "", "local schema file to lint instead")
	schemaType := fs.String("type", "AVRO", "local schema type: AVRO, JSON or PROTOBUF")
	ruleFile := fs.String("rules", "", "local JSON file with {\"ruleSet\": …, \"metadata\": …} for --schema")
	against := fs.String("against", "", "with --schema and --registry: also report an encryption downgrade against this subject's latest version")
	asJSON := fs.Bool("json", false, "print findings as JSON")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: tagseal lint (--registry URL --subject S [--version N] | --schema FILE [--type T] [--rules FILE] [--registry URL --against SUBJECT]) [--json]\n\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var client schemaregistry.Client
	var info schemaregistry.SchemaInfo
	switch {
	case *schemaFile != "":
		text, err := os.ReadFile(*schemaFile)
		if err != nil {
			fmt.Fprintln(stderr, "tagseal lint:", err)
			return 2
		}
		info = schemaregistry.SchemaInfo{Schema: string(text), SchemaType: strings.ToUpper(*schemaType)}
		if *ruleFile != "" {
			raw, err := os.ReadFile(*ruleFile)
			if err == nil {
				err = json.Unmarshal(raw, &struct {
					RuleSet  **schemaregistry.RuleSet  `json:"ruleSet"`
					Metadata **schemaregistry.Metadata `json:"metadata"`
				}{&info.RuleSet, &info.Metadata})
			}
			if err != nil {
				fmt.Fprintln(stderr, "tagseal lint: rules:", err)
				return 2
			}
		}
	case *registry != "" && *subject != "":
		var err error
		if client, err = newRegistryClient(*registry, *userInfo); err != nil {
			fmt.Fprintln(stderr, "tagseal lint:", err)
			return 1
		}
		var meta schemaregistry.SchemaMetadata
		if *version > 0 {
			meta, err = client.GetSchemaMetadata(*subject, *version)
		} else {
			meta, err = client.GetLatestSchemaMetadata(*subject)
		}
		if err != nil {
			fmt.Fprintln(stderr, "tagseal lint:", err)
			return 1
		}
		info = meta.SchemaInfo
	default:
		fmt.Fprintln(stderr, "tagseal lint: give --registry and --subject, or --schema")
		return 2
	}
	var findings []serde.Finding
	var err error
	if *against != "" {
		if *schemaFile == "" || *registry == "" {
			fmt.Fprintln(stderr, "tagseal lint: --against needs --schema and --registry")
			return 2
		}
		if client, err = newRegistryClient(*registry, *userInfo); err != nil {
			fmt.Fprintln(stderr, "tagseal lint:", err)
			return 1
		}
		findings, err = serde.LintAgainst(client, *against, info)
	} else {
		findings, err = serde.Lint(client, info)
	}
	if err != nil {
		fmt.Fprintln(stderr, "tagseal lint:", err)
		return 1
	}
	if *asJSON {
		if findings == nil {
			findings = []serde.Finding{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(findings)
	} else {
		for _, f := range findings {
			fmt.Fprintf(stdout, "%-7s %-28s %s: %s\n", f.Severity, f.Check, f.Where, f.Message)
		}
		if len(findings) == 0 {
			fmt.Fprintln(stdout, "no findings")
		}
	}
	if len(findings) > 0 {
		return 1
	}
	return 0
}
