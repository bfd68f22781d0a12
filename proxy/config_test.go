package proxy_test

import (
	"errors"
	"testing"

	"github.com/tagseal/tagseal/proxy"
)

func TestParseConfig(t *testing.T) {
	t.Setenv("TAGSEAL_TEST_SECRET", "s3cret")
	conf, err := proxy.ParseConfig([]byte(`
upstream:
  bootstrap: ["127.0.0.1:9092"]
  sasl: {mechanism: SCRAM-SHA-256, username: proxy, password: "${TAGSEAL_TEST_SECRET}"}
listeners:
  - {name: apps, address: "127.0.0.1:0", decrypt: [kek-a]}
  - {name: all, address: "127.0.0.1:0", decrypt: ["*"]}
  - {name: none, address: "127.0.0.1:0"}
grants:
  - {principal: alice, decrypt: [kek-b]}
  - {tlsIdentity: "CN=reporting", decrypt: ["*"]}
registry: {url: "http://127.0.0.1:8081"}
kms: {ruleConfig: {secret: "${TAGSEAL_TEST_SECRET}"}, dekCacheTTL: 5m}
policy: passthrough
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := conf.KMS.RuleConfig["secret"]; got != "s3cret" {
		t.Fatalf("secret %q: ${VAR} not expanded", got)
	}
	if conf.Upstream.SASL.Password != "s3cret" {
		t.Fatal("upstream password not expanded")
	}
	cases := []struct {
		peer proxy.Peer
		kek  string
		want bool
	}{
		{proxy.Peer{Listener: "apps"}, "kek-a", true},
		{proxy.Peer{Listener: "apps"}, "kek-b", false},
		{proxy.Peer{Listener: "all"}, "kek-b", true},
		{proxy.Peer{Listener: "none"}, "kek-a", false},
		{proxy.Peer{Listener: "none", Principal: "alice"}, "kek-b", true},
		{proxy.Peer{Listener: "none", Principal: "alice"}, "kek-a", false},
		{proxy.Peer{Listener: "none", Principal: "bob"}, "kek-b", false},
		{proxy.Peer{Listener: "none", TLSIdentity: "CN=reporting"}, "kek-z", true},
	}
	for _, c := range cases {
		if got := conf.MayDecrypt(c.peer, c.kek); got != c.want {
			t.Errorf("MayDecrypt(%+v, %s) = %v, want %v", c.peer, c.kek, got, c.want)
		}
	}
	opts, err := conf.Options()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Rewriter == nil || opts.Upstream.SASL == nil || opts.Upstream.SASL.Name() != "SCRAM-SHA-256" || len(opts.Listeners) != 3 {
		t.Fatalf("options %+v", opts)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for name, text := range map[string]string{
		"unset variable": `{upstream: {bootstrap: [a:1]}, listeners: [{name: a, address: "127.0.0.1:0"}], registry: {url: "http://r"}, kms: {ruleConfig: {secret: "${TAGSEAL_TEST_UNSET_VARIABLE}"}}}`,
		"unknown field":  `{upstream: {bootstrap: [a:1]}, listeners: [{name: a, address: "127.0.0.1:0", decrypts: ["*"]}], registry: {url: "http://r"}}`,
		"no bootstrap":   `{listeners: [{name: a, address: "127.0.0.1:0"}], registry: {url: "http://r"}}`,
		"no listener":    `{upstream: {bootstrap: [a:1]}, registry: {url: "http://r"}}`,
		"no registry":    `{upstream: {bootstrap: [a:1]}, listeners: [{name: a, address: "127.0.0.1:0"}]}`,
		"bad policy":     `{upstream: {bootstrap: [a:1]}, listeners: [{name: a, address: "127.0.0.1:0"}], registry: {url: "http://r"}, policy: allow}`,
	} {
		if _, err := proxy.ParseConfig([]byte(text)); !errors.Is(err, proxy.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	conf, err := proxy.ParseConfig([]byte(`{upstream: {bootstrap: [a:1], sasl: {mechanism: GSSAPI}}, listeners: [{name: a, address: "127.0.0.1:0"}], registry: {url: "http://r"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conf.Options(); !errors.Is(err, proxy.ErrConfig) {
		t.Errorf("GSSAPI: %v, want ErrConfig", err)
	}
}

func TestNewValidatesListeners(t *testing.T) {
	up := proxy.Upstream{Bootstrap: []string{"127.0.0.1:9092"}}
	for name, ls := range map[string][]proxy.Listener{
		"none":           nil,
		"no name":        {{Address: "127.0.0.1:0"}},
		"duplicate name": {{Name: "a", Address: "127.0.0.1:0"}, {Name: "a", Address: "127.0.0.1:0"}},
		"bad address":    {{Name: "a", Address: "nowhere"}},
		"wildcard":       {{Name: "a", Address: "0.0.0.0:0"}},
	} {
		if _, err := proxy.New(proxy.Options{Upstream: up, Listeners: ls}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := proxy.New(proxy.Options{Upstream: up, Listeners: []proxy.Listener{{Name: "a", Address: "0.0.0.0:0", AdvertisedHost: "proxy.example"}}}); err != nil {
		t.Errorf("wildcard with an advertised host: %v", err)
	}
	if _, err := proxy.New(proxy.Options{Listeners: []proxy.Listener{{Name: "a", Address: "127.0.0.1:0"}}}); err == nil {
		t.Error("no upstream: accepted")
	}
}
