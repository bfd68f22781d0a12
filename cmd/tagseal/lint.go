package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/registry"
)

// runLint checks a registered or local schema's tags and encryption rules.
// It exits 1 when it finds anything, 0 when the schema is clean.
func runLint(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	registryURL, userInfo := registryFlags(fs)
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
	ctx := context.Background()
	var client registry.Client
	var info registry.Schema
	switch {
	case *schemaFile != "":
		text, err := os.ReadFile(*schemaFile)
		if err != nil {
			fmt.Fprintln(stderr, "tagseal lint:", err)
			return 2
		}
		info = registry.Schema{Schema: string(text), SchemaType: strings.ToUpper(*schemaType)}
		if *ruleFile != "" {
			raw, err := os.ReadFile(*ruleFile)
			if err == nil {
				err = json.Unmarshal(raw, &struct {
					RuleSet  **registry.RuleSet  `json:"ruleSet"`
					Metadata **registry.Metadata `json:"metadata"`
				}{&info.RuleSet, &info.Metadata})
			}
			if err != nil {
				fmt.Fprintln(stderr, "tagseal lint: rules:", err)
				return 2
			}
		}
	case *registryURL != "" && *subject != "":
		var err error
		if client, err = newRegistryClient(*registryURL, *userInfo); err != nil {
			fmt.Fprintln(stderr, "tagseal lint:", err)
			return 1
		}
		var meta registry.SubjectSchema
		if *version > 0 {
			meta, err = client.Version(ctx, *subject, *version, false)
		} else {
			meta, err = client.Latest(ctx, *subject)
		}
		if err != nil {
			fmt.Fprintln(stderr, "tagseal lint:", err)
			return 1
		}
		info = meta.Schema
	default:
		fmt.Fprintln(stderr, "tagseal lint: give --registry and --subject, or --schema")
		return 2
	}
	var findings []tagseal.Finding
	var err error
	if *against != "" {
		if *schemaFile == "" || *registryURL == "" {
			fmt.Fprintln(stderr, "tagseal lint: --against needs --schema and --registry")
			return 2
		}
		if client, err = newRegistryClient(*registryURL, *userInfo); err != nil {
			fmt.Fprintln(stderr, "tagseal lint:", err)
			return 1
		}
		findings, err = tagseal.LintAgainst(ctx, client, *against, info)
	} else {
		findings, err = tagseal.Lint(ctx, lintRegistry(client), info)
	}
	if err != nil {
		fmt.Fprintln(stderr, "tagseal lint:", err)
		return 1
	}
	if *asJSON {
		if findings == nil {
			findings = []tagseal.Finding{}
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

// lintRegistry is the registry Lint resolves references in: none (a nil
// interface, not a nil client in one) when no registry was given.
func lintRegistry(c registry.Client) registry.SchemaRegistry {
	if c == nil {
		return nil
	}
	return c
}
