package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/tagseal/tagseal/internal/dekadmin"
	"github.com/tagseal/tagseal/registry"
)

const keysUsage = `usage: tagseal keys <command> [flags]   (tagseal keys <command> --help for flags)

commands:
  list    the KEKs and every DEK version under them: KMS, subject, algorithm,
          version, deleted state, timestamp, the KMS key version wrapping it
  rotate  mint the next DEK version of a subject now (--kek K --subject S)
  rewrap  re-encrypt every DEK of a KEK under its KMS key's newest version,
          in place, after a KMS key rotation (--kek K)
  shred   delete a KEK or DEK (the same as tagseal shred)
`

// runKeys dispatches `tagseal keys`.
func runKeys(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	switch args[0] {
	case "list":
		return runKeysList(args[1:], stdout, stderr)
	case "rotate":
		return runKeysRotate(args[1:], stdout, stderr)
	case "rewrap":
		return runKeysRewrap(args[1:], stdout, stderr)
	case "shred":
		return runShred(args[1:], stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, keysUsage)
		return 0
	}
	fmt.Fprintf(stderr, "tagseal keys: unknown command %q\n\n%s", args[0], keysUsage)
	return 2
}

// dekRegistry is what the keys commands need of a registry.
type dekRegistry interface {
	registry.Client
	registry.DEKAdmin
}

func openDEKRegistry(url, userInfo string) (dekRegistry, error) {
	if url == "" {
		return nil, errors.New("--registry (or SCHEMA_REGISTRY_URL) is required")
	}
	c, err := newRegistryClient(url, userInfo)
	if err != nil {
		return nil, err
	}
	r, ok := c.(dekRegistry)
	if !ok {
		return nil, fmt.Errorf("registry client %T cannot list KEKs or rewrap DEKs", c)
	}
	return r, nil
}

func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func runKeysList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keys list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url, userInfo := registryFlags(fs)
	kek := fs.String("kek", "", "only this KEK")
	deleted := fs.Bool("deleted", false, "include soft-deleted KEKs and DEKs")
	asJSON := fs.Bool("json", false, "print JSON ({\"keks\":[…]}) instead of tables")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: tagseal keys list --registry URL [--kek NAME] [--deleted] [--json]\n\n"+
			"Lists the KEKs in the DEK Registry and every DEK version under them. WRAPPED BY\n"+
			"is the KMS key version that wraps the DEK when its wrapped form says (Vault\n"+
			"transit: v1, v2, …); TIMESTAMP is the registry's time of the version's creation\n"+
			"or last change (rewrap, soft delete).\n\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	reg, err := openDEKRegistry(*url, *userInfo)
	if err != nil {
		fmt.Fprintln(stderr, "tagseal keys list:", err)
		return 2
	}
	keks, err := dekadmin.List(context.Background(), reg, reg, *kek, *deleted)
	if err != nil {
		fmt.Fprintln(stderr, "tagseal keys list:", err)
		return 1
	}
	if *asJSON {
		printJSON(stdout, struct {
			KEKs []dekadmin.KEKInfo `json:"keks"`
		}{keks})
		return 0
	}
	if len(keks) == 0 {
		fmt.Fprintln(stdout, "No KEKs.")
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEK\tKMS TYPE\tKMS KEY ID\tSHARED\tDELETED")
	for _, k := range keks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Name, k.KmsType, k.KmsKeyID, yesNo(k.Shared), yesNo(k.Deleted))
	}
	tw.Flush()
	for _, k := range keks {
		fmt.Fprintf(stdout, "\nDEKs of KEK %s:\n", k.Name)
		if len(k.DEKs) == 0 {
			fmt.Fprintln(stdout, "  (none)")
			continue
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  SUBJECT\tALGORITHM\tVERSION\tDELETED\tWRAPPED BY\tTIMESTAMP")
		for _, d := range k.DEKs {
			ts, wrapped := "-", "-"
			if !d.Time().IsZero() {
				ts = d.Time().Format("2006-01-02T15:04:05Z")
			}
			if d.KMSKeyVersion != "" {
				wrapped = d.KMSKeyVersion
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\n", d.Subject, d.Algorithm, d.Version, yesNo(d.Deleted), wrapped, ts)
		}
		tw.Flush()
	}
	return 0
}

func runKeysRotate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url, userInfo := registryFlags(fs)
	kek := fs.String("kek", "", "KEK name (required)")
	subject := fs.String("subject", "", "DEK subject, e.g. orders-value (required)")
	algorithm := fs.String("algorithm", registry.DefaultAlgorithm, "DEK algorithm: AES128_GCM, AES256_GCM or AES256_SIV")
	force := fs.Bool("force", false, "rotate although the subject's rule does not rotate DEKs (its existing records become unreadable)")
	asJSON := fs.Bool("json", false, "print the new DEK version as JSON")
	ruleConfig := kvFlag{}
	fs.Var(ruleConfig, "rule-config", "KMS config key=value (secret=…, token.id=…, approle.role.id=…); repeatable")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: tagseal keys rotate --registry URL --kek K --subject S [--algorithm A] [--rule-config k=v]…\n\n"+
			"Mints the next DEK version of subject S under KEK K now: a new key wrapped by\n"+
			"the KEK's KMS key (the registry makes it for a shared KEK). Producers whose rule\n"+
			"rotates DEKs (encrypt.dek.expiry.days > 0) switch to it when their DEK cache\n"+
			"refreshes; older records keep reading with their version. A rule that does not\n"+
			"rotate writes no DEK version into its ciphertexts, so rotating its DEK would\n"+
			"make its records unreadable: that is refused unless --force.\n\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *kek == "" || *subject == "" {
		fmt.Fprintln(stderr, "tagseal keys rotate: --kek and --subject are required")
		fs.Usage()
		return 2
	}
	reg, err := openDEKRegistry(*url, *userInfo)
	if err != nil {
		fmt.Fprintln(stderr, "tagseal keys rotate:", err)
		return 2
	}
	ctx := context.Background()
	if !*force {
		if err := dekadmin.CheckRotation(ctx, reg, *kek, *subject); err != nil {
			fmt.Fprintf(stderr, "tagseal keys rotate: %v\n(use --force to rotate anyway)\n", err)
			return 1
		}
	}
	d, err := dekadmin.Rotate(ctx, reg, dekadmin.Keys{Config: ruleConfig}, *kek, *subject, *algorithm)
	if err != nil {
		fmt.Fprintln(stderr, "tagseal keys rotate:", err)
		return 1
	}
	info := dekadmin.DEKInfo{Subject: d.Subject, Algorithm: d.Algorithm, Version: d.Version, Deleted: d.Deleted, Ts: d.Ts}
	if *asJSON {
		printJSON(stdout, struct {
			KEK string `json:"kek"`
			dekadmin.DEKInfo
		}{*kek, info})
		return 0
	}
	fmt.Fprintf(stdout, "Created DEK version %d of KEK %q for subject %q (%s).\n"+
		"Producers use it once their DEK cache refreshes; older records keep their version.\n",
		d.Version, *kek, d.Subject, d.Algorithm)
	return 0
}

func runKeysRewrap(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keys rewrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url, userInfo := registryFlags(fs)
	kek := fs.String("kek", "", "KEK name (required)")
	subject := fs.String("subject", "", "only this subject's DEKs (default: all)")
	deleted := fs.Bool("deleted", true, "also rewrap soft-deleted DEKs (they may be undeleted after the old KMS key version is gone)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	ruleConfig := kvFlag{}
	fs.Var(ruleConfig, "rule-config", "KMS config key=value (token.id=…, approle.role.id=…, secret=…); repeatable")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: tagseal keys rewrap --registry URL --kek K [--subject S] [--rule-config k=v]…\n\n"+
			"After the KEK's KMS key was rotated, re-encrypts every DEK under it with the\n"+
			"key's newest version (Vault transit rewrap; other KMSs decrypt and encrypt) and\n"+
			"stores the new wrapping in place (POST …/deks/{subject}?rewrap=true). The DEKs,\n"+
			"and so all records, stay the same; once every DEK is rewrapped the old KMS key\n"+
			"version can be retired (Vault: min_decryption_version). Each new wrapping is\n"+
			"checked to hold the same key before it is stored, and read back after; nothing\n"+
			"is deleted, and running it again is safe.\n\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *kek == "" {
		fmt.Fprintln(stderr, "tagseal keys rewrap: --kek is required")
		fs.Usage()
		return 2
	}
	reg, err := openDEKRegistry(*url, *userInfo)
	if err != nil {
		fmt.Fprintln(stderr, "tagseal keys rewrap:", err)
		return 2
	}
	progress := func(done, total int) {
		// About a hundred lines at most, whatever the number of DEKs.
		if !*quiet && (done == total || done%max(1, total/100) == 0) {
			fmt.Fprintf(stderr, "rewrapped %d/%d DEKs\n", done, total)
		}
	}
	got, err := dekadmin.Rewrap(context.Background(), reg, reg, dekadmin.Keys{Config: ruleConfig}, *kek, *subject, *deleted, progress)
	changed := 0
	for _, r := range got {
		if !r.Unchanged {
			changed++
		}
	}
	if *asJSON {
		out := struct {
			KEK       string               `json:"kek"`
			Rewrapped int                  `json:"rewrapped"`
			Unchanged int                  `json:"unchanged"`
			DEKs      []dekadmin.Rewrapped `json:"deks"`
			Error     string               `json:"error,omitempty"`
		}{KEK: *kek, Rewrapped: changed, Unchanged: len(got) - changed, DEKs: got}
		if err != nil {
			out.Error = err.Error()
		}
		printJSON(stdout, out)
	} else if len(got) > 0 {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SUBJECT\tALGORITHM\tVERSION\tDELETED\tWRAPPED BY")
		for _, r := range got {
			from, to := r.From, r.To
			if from == "" {
				from = "old"
			}
			if to == "" {
				to = "new"
			}
			change := from + " -> " + to
			if r.Unchanged {
				change = to + " (already newest)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.Subject, r.Algorithm, r.Version, yesNo(r.Deleted), change)
		}
		tw.Flush()
	}
	if err != nil {
		fmt.Fprintln(stderr, "tagseal keys rewrap:", err)
		return 1
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "Rewrapped %d DEK versions of KEK %q (%d already under the newest key version).\n",
			changed, *kek, len(got)-changed)
	}
	return 0
}
