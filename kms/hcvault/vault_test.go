package hcvault_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/tagseal/tagseal/internal/vaulttest"
)

// vault returns a root client for the test OpenBao server, its address and
// root token (vaulttest.Server).
func vault(t *testing.T) (*api.Client, string, string) { return vaulttest.Server(t) }

var keySeq atomic.Int64

// newKey creates a transit key with a unique name and returns it.
func newKey(t *testing.T, c *api.Client) string { return vaulttest.NewTransitKey(t, c, "tagseal") }

// keyID is the Confluent kms key id of a transit key on addr.
func keyID(addr, name string) string {
	return strings.TrimPrefix(addr, "hcvault://") + "/transit/keys/" + name
}

// countingProxy sits between the drivers and OpenBao: it counts transit
// encrypt/decrypt calls, AppRole logins, token renewals and 403 answers,
// and can be closed to simulate an outage.
type countingProxy struct {
	*httptest.Server
	wraps, unwraps, logins, renewals, denied, okUnwraps atomic.Int64
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "/transit/encrypt/"):
			p.wraps.Add(1)
		case strings.Contains(r.URL.Path, "/transit/decrypt/"):
			p.unwraps.Add(1)
		case strings.HasSuffix(r.URL.Path, "/auth/approle/login"):
			p.logins.Add(1)
		case strings.HasSuffix(r.URL.Path, "/auth/token/renew-self"):
			p.renewals.Add(1)
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		rp.ServeHTTP(rec, r)
		if rec.status == http.StatusForbidden {
			p.denied.Add(1)
		}
		if rec.status == http.StatusOK && strings.Contains(r.URL.Path, "/transit/decrypt/") {
			p.okUnwraps.Add(1)
		}
	}))
	t.Cleanup(p.Close)
	return p
}

func isUnreachable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}
