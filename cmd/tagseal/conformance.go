package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/tagseal/tagseal/testvectors/conformance"
)

const conformanceUsage = `usage: tagseal conformance --testee "CMD ARGS" [--failure-list FILE] [--dir testvectors/v1]
                          [--only GLOB[,GLOB…]] [--timeout 30s] [--fix] [-v]
       tagseal conformance testee

Run the conformance harness: start the testee command once (sh -c) and
drive it over every vector through the framed JSON protocol on its stdin
and stdout (testvectors/SPEC.md, "Conformance protocol"): one read per
vector, one write per positive vector. Prints a line per failure, known
failure (listed in the failure list) and stale list entry, then
"NAME: N passed, N failed, N known failures, N skipped".
Exit 1 on an unlisted failure or a stale entry; --fix rewrites the list.

"tagseal conformance testee" is tagseal's own testee: it answers the
protocol on stdin/stdout with the pure-Go API.
`

// runConformance implements `tagseal conformance`.
func runConformance(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "testee" {
		if err := conformance.Serve(stdin, stdout, conformance.TagsealTestee); err != nil {
			fmt.Fprintln(stderr, "tagseal conformance testee:", err)
			return 1
		}
		return 0
	}
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	testee := fs.String("testee", "", "the testee's command line (run with sh -c)")
	failures := fs.String("failure-list", "", "the testee's failure list (name[:op] per line, # why)")
	dir := fs.String("dir", filepath.Join("testvectors", "v1"), "vector directory")
	only := fs.String("only", "", "run only vectors matching these comma-separated globs")
	timeout := fs.Duration("timeout", conformance.DefaultTimeout, "the longest wait for one answer")
	fix := fs.Bool("fix", false, "rewrite the failure list to this run's failures")
	verbose := fs.Bool("v", false, "also print passes and skips")
	fs.Usage = func() { fmt.Fprint(stderr, conformanceUsage); fs.PrintDefaults() }
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *testee == "" || fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	if *fix && *failures == "" {
		fmt.Fprintln(stderr, "tagseal conformance: --fix needs --failure-list")
		return 2
	}
	rep, err := conformance.Run(conformance.Config{
		Testee: *testee, Dir: *dir, Only: *only, FailureList: *failures, Fix: *fix,
		Timeout: *timeout, Verbose: *verbose, Out: stdout, Log: stderr,
	})
	if err != nil {
		fmt.Fprintln(stderr, "tagseal conformance:", err)
		return 1
	}
	if *fix || rep.OK() {
		return 0
	}
	return 1
}
