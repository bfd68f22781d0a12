package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tagseal/tagseal/internal/dekadmin"
)

// runShred deletes a KEK or DEK in the DEK Registry. Readers that try to
// decrypt data under it afterwards (once their DEK cache TTL ends) get
// serde.ErrKeyShredded, or the ciphertext when their rule's read action is
// NONE.
func runShred(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shred", flag.ContinueOnError)
	fs.SetOutput(stderr)
	registry := fs.String("registry", os.Getenv("SCHEMA_REGISTRY_URL"), "DEK Registry (Schema Registry) URL; env SCHEMA_REGISTRY_URL")
	userInfo := fs.String("basic-auth", os.Getenv("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"), "user:password; env SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO")
	kek := fs.String("kek", "", "KEK name (required)")
	subject := fs.String("subject", "", "delete this subject's DEK instead of the whole KEK")
	version := fs.Int("version", 0, "with --subject: one DEK version (default: all versions)")
	algorithm := fs.String("algorithm", "AES256_GCM", "with --subject: the DEK algorithm")
	permanent := fs.Bool("permanent", false, "hard-delete after the soft delete (cannot be undone)")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: tagseal shred --registry URL --kek NAME [--subject S [--version N]] [--permanent] [--yes]\n\n"+
			"Deletes a KEK, or a subject's DEK (all versions or one), in the DEK Registry.\n"+
			"Soft deletes can be undone in the registry; tagseal readers treat soft-deleted\n"+
			"keys as shredded (serde.Options.ReadDeletedKeys restores Confluent's behaviour).\n\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *registry == "" || *kek == "" {
		fmt.Fprintln(stderr, "tagseal shred: --registry and --kek are required")
		fs.Usage()
		return 2
	}
	target := dekadmin.Target{KEK: *kek, Subject: *subject, Version: *version, Algorithm: *algorithm}
	client := &dekadmin.Client{BaseURL: *registry}
	if u, p, ok := strings.Cut(*userInfo, ":"); ok {
		client.User, client.Pass = u, p
	}
	kind := "soft-delete"
	if *permanent {
		kind = "permanently delete"
	}
	if !*yes {
		fmt.Fprintf(stdout, "About to %s %s at %s.\nData encrypted under it becomes unreadable. Type yes to continue: ", kind, target, *registry)
		answer, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(answer) != "yes" {
			fmt.Fprintln(stdout, "Nothing deleted.")
			return 1
		}
	}
	if err := client.Delete(target, *permanent); err != nil {
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
