package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/tagseal/tagseal/testvectors"
)

const vectorsUsage = `usage: tagseal vectors generate [--dir testvectors/v1]
       tagseal vectors verify   [--dir testvectors/v1]
       tagseal vectors check-written --from NAME [--dir testvectors/v1] FILE.jsonl

generate  write every vector file, deterministically (same files each run)
verify    read every vector with tagseal; positive vectors must give their
          plaintext, negative ones their error class
check-written
          read records another implementation serialized from the positive
          vectors' plaintext (JSON lines {"name","serialized","headers"?});
          each must be framed as the vector's and decrypt to the plaintext
          with the same encrypted fields
`

// runVectors implements `tagseal vectors`.
func runVectors(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, vectorsUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	fs := flag.NewFlagSet("vectors "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", filepath.Join("testvectors", "v1"), "vector directory")
	from := fs.String("from", "", "check-written: the implementation that wrote the records (for the summary)")
	fs.Usage = func() { fmt.Fprint(stderr, vectorsUsage); fs.PrintDefaults() }
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	switch args[0] {
	case "generate":
		vectors, err := testvectors.Generate()
		if err == nil {
			err = testvectors.Write(*dir, vectors)
		}
		if err != nil {
			fmt.Fprintln(stderr, "tagseal vectors generate:", err)
			return 1
		}
		pos := 0
		for i := range vectors {
			if vectors[i].Positive() {
				pos++
			}
		}
		fmt.Fprintf(stdout, "wrote %d vectors (%d positive, %d negative) to %s\n", len(vectors), pos, len(vectors)-pos, *dir)
		return 0
	case "verify":
		vectors, err := testvectors.Load(*dir)
		if err != nil {
			fmt.Fprintln(stderr, "tagseal vectors verify:", err)
			return 1
		}
		failed := 0
		for i := range vectors {
			if err := testvectors.Check(&vectors[i]); err != nil {
				failed++
				fmt.Fprintf(stdout, "FAIL %s: %v\n", vectors[i].Name, err)
			}
		}
		fmt.Fprintf(stdout, "go (tagseal): %d passed, %d failed\n", len(vectors)-failed, failed)
		return exitCode(failed)
	case "check-written":
		if fs.NArg() != 1 || *from == "" {
			fmt.Fprint(stderr, vectorsUsage)
			return 2
		}
		report, err := testvectors.CheckWrittenFile(*dir, fs.Arg(0))
		if err != nil {
			fmt.Fprintln(stderr, "tagseal vectors check-written:", err)
			return 1
		}
		for _, f := range report.Failures {
			fmt.Fprintf(stdout, "FAIL %s\n", f)
		}
		for _, s := range report.Skipped {
			fmt.Fprintf(stdout, "KNOWN DEFECT (not written by %s) %s\n", *from, s)
		}
		for _, s := range report.Known {
			fmt.Fprintf(stdout, "KNOWN DEFECT (written wrong by %s) %s\n", *from, s)
		}
		fmt.Fprintf(stdout, "%s → go (tagseal): %d passed, %d failed, %d known defects\n", *from, report.Passed, len(report.Failures), len(report.Skipped)+len(report.Known))
		return exitCode(len(report.Failures))
	default:
		fmt.Fprintf(stderr, "tagseal vectors: unknown subcommand %q\n\n%s", args[0], vectorsUsage)
		return 2
	}
}

func exitCode(failed int) int {
	if failed > 0 {
		return 1
	}
	return 0
}
