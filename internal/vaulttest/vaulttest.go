// Package vaulttest connects tests to the OpenBao server (Vault API) that
// the README test command starts (scripts/with-services.sh exports
// TAGSEAL_VAULT_ADDR and TAGSEAL_VAULT_TOKEN), with transit enabled.
package vaulttest

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/vault/api"
)

// Server returns a root client for the test OpenBao server with the transit
// engine mounted, and the server's address and root token. Outside the
// README test command it skips the test, saying why.
func Server(t testing.TB) (c *api.Client, addr, token string) {
	t.Helper()
	addr, token = os.Getenv("TAGSEAL_VAULT_ADDR"), os.Getenv("TAGSEAL_VAULT_TOKEN")
	if addr == "" || token == "" {
		t.Skip("TAGSEAL_VAULT_ADDR/TAGSEAL_VAULT_TOKEN not set: run through scripts/with-services.sh (make test) for the real OpenBao server")
	}
	cfg := api.DefaultConfig()
	cfg.Address = addr
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	if err := c.Sys().Mount("transit", &api.MountInput{Type: "transit"}); err != nil && !strings.Contains(err.Error(), "already in use") {
		t.Fatal(err)
	}
	return c, addr, token
}

var keySeq atomic.Int64

// NewTransitKey creates a transit key whose name starts with prefix and is
// unique on the server (test name, sequence and process id), and returns
// the name.
func NewTransitKey(t testing.TB, c *api.Client, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%s-%d-%d", prefix, strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()), os.Getpid(), keySeq.Add(1))
	if _, err := c.Logical().Write("transit/keys/"+name, map[string]any{}); err != nil {
		t.Fatal(err)
	}
	return name
}
