package proxy_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagseal/tagseal/proxy"
)

// testPKI issues certificates from a throwaway CA.
type testPKI struct {
	ca   *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tagseal test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{ca: ca, key: key, pool: pool}
}

func (p *testPKI) issue(t testing.TB, cn string, server bool) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// A TLS listener requiring client certificates: the certificate subject is
// the TLS identity grants name; other identities read ciphertext, clients
// without a certificate are refused.
func TestProxyTLSListenerIdentityGrants(t *testing.T) {
	pki := newPKI(t)
	conf := &proxy.Config{Grants: []proxy.GrantConfig{{TLSIdentity: "CN=reporting", Decrypt: []string{"*"}}}}
	e := newEnv(t, conf.MayDecrypt)
	p := startProxy(t, e.rw, proxy.Listener{Name: "tls", Address: "127.0.0.1:0", TLS: &tls.Config{
		Certificates: []tls.Certificate{pki.issue(t, "proxy", true)}, ClientCAs: pki.pool, ClientAuth: tls.RequireAndVerifyClientCert}})
	addr := p.Addr("tls").String()
	topic := createTopic(t, 1)
	id := e.register(t, topic)
	as := func(cn string) kgo.Opt {
		cfg := &tls.Config{RootCAs: pki.pool}
		if cn != "" {
			cfg.Certificates = []tls.Certificate{pki.issue(t, cn, false)}
		}
		return kgo.DialTLSConfig(cfg)
	}
	if err := produce(t, client(t, addr, as("producer")), topic, id, 0, 5); err != nil {
		t.Fatal(err)
	}
	from := kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())
	assertClear(t, consume(t, client(t, addr, as("reporting"), kgo.ConsumeTopics(topic), from), 5), topic)
	assertSealed(t, consume(t, client(t, addr, as("someone-else"), kgo.ConsumeTopics(topic), from), 5), topic)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client(t, addr, as(""), kgo.RequestRetries(0)).Ping(ctx); err == nil {
		t.Fatal("a client without a certificate was served")
	}
}

// Upstream TLS: a proxy whose upstream is another proxy's TLS listener
// (a Kafka endpoint that speaks only TLS, here with a client certificate)
// carries produce and fetch; a wrong CA is refused.
func TestProxyUpstreamTLS(t *testing.T) {
	pki := newPKI(t)
	inner := startProxy(t, nil, proxy.Listener{Name: "tls", Address: "127.0.0.1:0", TLS: &tls.Config{
		Certificates: []tls.Certificate{pki.issue(t, "inner", true)}, ClientCAs: pki.pool, ClientAuth: tls.RequireAndVerifyClientCert}})
	outer, err := proxy.New(proxy.Options{
		Upstream: proxy.Upstream{Bootstrap: []string{inner.Addr("tls").String()}, TLS: &tls.Config{
			RootCAs: pki.pool, Certificates: []tls.Certificate{pki.issue(t, "outer", false)}}},
		Listeners: []proxy.Listener{{Name: "apps", Address: "127.0.0.1:0"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := outer.Start(); err != nil {
		t.Fatal(err)
	}
	defer outer.Close()
	addr := outer.Addr("apps").String()
	topic := createTopic(t, 1)
	if err := client(t, addr, kgo.DefaultProduceTopic(topic)).ProduceSync(context.Background(), &kgo.Record{Value: []byte("over tls")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if rs := readAll(t, addr, topic, 1); string(rs[0].Value) != "over tls" {
		t.Fatalf("read %q", rs[0].Value)
	}

	other := newPKI(t)
	wrong, err := proxy.New(proxy.Options{
		Upstream:  proxy.Upstream{Bootstrap: []string{inner.Addr("tls").String()}, TLS: &tls.Config{RootCAs: other.pool}, RetryFor: time.Second},
		Listeners: []proxy.Listener{{Name: "apps", Address: "127.0.0.1:0"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.Start(); err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client(t, wrong.Addr("apps").String(), kgo.RequestRetries(0)).Ping(ctx); err == nil {
		t.Fatal("served through an upstream whose certificate the proxy must not trust")
	}
}
