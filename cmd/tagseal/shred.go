package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tagseal/tagseal/internal/dekadmin"
	"github.com/tagseal/tagseal/registry"
)

// runShred deletes a KEK or DEK in the DEK Registry. Readers that try to
// decrypt data under it afterwards (once their DEK cache TTL ends) get
// tagseal.ErrKeyShredded, or the ciphertext when their rule's read action
// is NONE. A KEK goes with its DEKs: the registry refuses to delete a KEK
// that DEKs still refer to.
func runShred(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shred", flag.ContinueOnError)
	fs.SetOutput(stderr)
	registryURL, userInfo := registryFlags(fs)
	kek := fs.String("kek", "", "KEK name (required)")
	subject := fs.String("subject", "", "delete this subject's DEK instead of the whole KEK")
	version := fs.Int("version", 0, "with --subject: one DEK version (default: all versions)")
	algorithm := fs.String("algorithm", registry.DefaultAlgorithm, "with --subject: the DEK algorithm")
	permanent := fs.Bool("permanent", false, "hard-delete after the soft delete (cannot be undone)")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: tagseal shred --registry URL --kek NAME [--subject S [--version N]] [--permanent] [--yes]\n\n"+
			"Deletes a KEK (with the DEKs under it), or a subject's DEK (all versions or\n"+
			"one), in the DEK Registry. Soft deletes can be undone in the registry; tagseal\n"+
			"readers treat soft-deleted keys as shredded (ReadDeletedKeys restores\n"+
			"Confluent's behaviour).\n\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *registryURL == "" || *kek == "" {
		fmt.Fprintln(stderr, "tagseal shred: --registry and --kek are required")
		fs.Usage()
		return 2
	}
	target := dekadmin.Target{KEK: *kek, Subject: *subject, Version: *version, Algorithm: *algorithm}
	reg, err := newRegistryClient(*registryURL, *userInfo)
	if err != nil {
		fmt.Fprintln(stderr, "tagseal shred:", err)
		return 1
	}
	ctx := context.Background()
	client := &dekadmin.Client{Registry: reg}
	kind := "soft-delete"
	if *permanent {
		kind = "permanently delete"
	}
	if !*yes {
		fmt.Fprintf(stdout, "About to %s %s at %s.\n", kind, target, *registryURL)
		if target.Subject == "" {
			// Best effort: a registry that cannot list DEKs still deletes.
			if deks, err := dekadmin.DEKs(ctx, reg, target.KEK, *permanent); err == nil && len(deks) > 0 {
				fmt.Fprintf(stdout, "DEKs under it, deleted first where the registry requires it:\n")
				for _, d := range deks {
					fmt.Fprintf(stdout, "  subject %q (%s)\n", d.Subject, d.Algorithm)
				}
			}
		}
		fmt.Fprint(stdout, "Data encrypted under it becomes unreadable. Type yes to continue: ")
		answer, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(answer) != "yes" {
			fmt.Fprintln(stdout, "Nothing deleted.")
			return 1
		}
	}
	if err := client.DeleteContext(ctx, target, *permanent); err != nil {
		fmt.Fprintln(stderr, "tagseal shred:", err)
		return 1
	}
	how := "Soft-deleted"
	if *permanent {
		how = "Permanently deleted"
	}
	fmt.Fprintf(stdout, "%s %s.\n", how, target)
	return 0
}
