// Command tagseal is the command-line companion of the tagseal library.
//
//	tagseal demo    run the field-encryption demo on embedded defaults
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage: tagseal <command>

commands:
  demo    register a tagged schema in an in-memory registry, encrypt a few
          records with a generated local-KMS secret, and read them back as a
          consumer with the secret and as one without it
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
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
