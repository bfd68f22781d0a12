package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tagseal/tagseal/registry"
)

const registryUsage = `usage: tagseal registry serve [--listen 127.0.0.1:8081]

serve   serve an empty in-memory Schema Registry and DEK Registry over the
        Confluent REST API until interrupted, for local development (point
        --registry, SCHEMA_REGISTRY_URL or any Confluent client at it);
        nothing is persisted
`

// serveContext is the context `registry serve` runs under: until SIGINT or
// SIGTERM. Tests replace it to stop the server.
var serveContext = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// runRegistry implements `tagseal registry`.
func runRegistry(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, registryUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] != "serve" {
		fmt.Fprintf(stderr, "tagseal registry: unknown subcommand %q\n\n%s", args[0], registryUsage)
		return 2
	}
	fs := flag.NewFlagSet("registry serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8081", "address to listen on (host:port; port 0 picks a free one)")
	fs.Usage = func() { fmt.Fprint(stderr, registryUsage); fs.PrintDefaults() }
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "tagseal registry serve:", err)
		return 1
	}
	ctx, stop := serveContext()
	defer stop()
	fmt.Fprintf(stdout, "serving an in-memory Schema Registry and DEK Registry at http://%s (Ctrl-C stops it; nothing is kept)\n", ln.Addr())
	if err := serveRegistry(ctx, ln, registry.NewMemory()); err != nil {
		fmt.Fprintln(stderr, "tagseal registry serve:", err)
		return 1
	}
	fmt.Fprintln(stdout, "stopped")
	return 0
}

// serveRegistry serves h on ln until ctx ends, then shuts down, giving
// requests in flight a few seconds.
func serveRegistry(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
