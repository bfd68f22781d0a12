// Command tagseal is the command-line companion of the tagseal library.
//
//	tagseal demo    run the field-encryption demo on embedded defaults
//	tagseal inspect show a record's frame, schema and encrypted fields
//	tagseal lint    check a schema's tags and encryption rules
//	tagseal encrypt JSON lines → encoded, encrypted records
//	tagseal decrypt encoded records → JSON lines
//	tagseal keys    list, rotate, rewrap and shred KEKs and DEKs in a DEK Registry
//	tagseal shred   delete KEKs or DEKs in a DEK Registry (= tagseal keys shred)
//	tagseal vectors generate, verify and cross-check the test vectors
//	tagseal conformance run an implementation (a testee) over the vectors
//	tagseal registry serve an in-memory Schema Registry for development
//	tagseal proxy   run the Kafka protocol proxy that encrypts and decrypts fields
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage: tagseal <command> [flags]   (tagseal <command> --help for flags)

commands:
  demo    register a tagged schema in an in-memory registry, encrypt a few
          records with a generated local-KMS secret, and read them back as a
          consumer with the secret and as one without it
  inspect show a record's frame, schema and encrypted fields (rule, KEK,
          algorithm, DEK version); decrypts only with --decrypt
  lint    check a schema's tags and encryption rules; exit 1 on findings
  encrypt serialize JSON lines with the subject's schema, encrypting tagged
          fields; one base64 record per line out
  decrypt read base64 records, one per line; print JSON lines
  keys    manage the keys in a DEK Registry: list (KEKs, DEK versions),
          rotate (mint a subject's next DEK version), rewrap (re-encrypt DEKs
          under the KMS key's newest version), shred
  shred   delete a KEK or DEK in a DEK Registry, making the data under it
          unreadable (crypto-shredding); asks for confirmation unless --yes;
          the same as tagseal keys shred
  vectors generate the cross-language test vectors (testvectors/v1), verify
          them with tagseal, or check records another implementation wrote
  conformance
          run the conformance harness: drive an implementation (the testee,
          any command speaking the framed JSON protocol on stdin/stdout)
          over every vector, with a failure list of its known failures
  registry
          serve: run an in-memory Schema Registry and DEK Registry over HTTP
          for local development (tagseal registry serve --listen ADDR)
  proxy   run a Kafka protocol proxy that encrypts tagged fields of
          produced records and decrypts them for granted consumers
          (tagseal proxy --config FILE)
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "inspect":
		return runInspect(args[1:], stdin, stdout, stderr)
	case "lint":
		return runLint(args[1:], stdout, stderr)
	case "encrypt", "decrypt":
		return runCrypt(args[0], args[1:], stdin, stdout, stderr)
	case "keys":
		return runKeys(args[1:], stdin, stdout, stderr)
	case "shred":
		return runShred(args[1:], stdin, stdout, stderr)
	case "vectors":
		return runVectors(args[1:], stdout, stderr)
	case "conformance":
		return runConformance(args[1:], stdin, stdout, stderr)
	case "registry":
		return runRegistry(args[1:], stdout, stderr)
	case "proxy":
		return runProxy(args[1:], stdout, stderr)
	case "demo":
		if err := runDemo(stdout); err != nil {
			fmt.Fprintln(stderr, "tagseal demo:", err)
			return 1
		}
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tagseal: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
