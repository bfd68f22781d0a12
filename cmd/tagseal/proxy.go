package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/tagseal/tagseal/proxy"
)

const proxyUsage = `usage: tagseal proxy --config FILE

Runs a Kafka protocol proxy: clients connect to its listeners instead of
the brokers; produced records have their tagged fields encrypted with the
subject's rules, fetched records are decrypted for the clients the file
grants. ${VAR} in the file is read from the environment. Stops on SIGINT
or SIGTERM. See README "tagseal proxy" for the file's fields.
`

// runProxy implements `tagseal proxy`.
func runProxy(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "the proxy's YAML configuration file (required)")
	fs.Usage = func() { fmt.Fprint(stderr, proxyUsage); fs.PrintDefaults() }
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *config == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	conf, err := proxy.LoadConfig(*config)
	if err != nil {
		fmt.Fprintln(stderr, "tagseal proxy:", err)
		return 1
	}
	opts, err := conf.Options()
	if err != nil {
		fmt.Fprintln(stderr, "tagseal proxy:", err)
		return 1
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	p, err := proxy.New(opts)
	if err != nil {
		fmt.Fprintln(stderr, "tagseal proxy:", err)
		return 1
	}
	ctx, stop := serveContext()
	defer stop()
	if err := p.Start(); err != nil {
		fmt.Fprintln(stderr, "tagseal proxy:", err)
		return 1
	}
	for _, l := range opts.Listeners {
		fmt.Fprintf(stdout, "tagseal proxy: listener %s on %s\n", l.Name, p.Addr(l.Name))
	}
	<-ctx.Done()
	p.Close()
	fmt.Fprintln(stdout, "tagseal proxy: stopped")
	return 0
}
