package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"gopkg.in/yaml.v3"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/registry"
)

// Config is the proxy's YAML configuration file. ${VAR} in the file is
// replaced by the environment variable VAR before parsing, so secrets
// stay out of the file.
type Config struct {
	Upstream  UpstreamConfig   `yaml:"upstream"`
	Listeners []ListenerConfig `yaml:"listeners"`
	Registry  RegistryConfig   `yaml:"registry"`
	KMS       KMSConfig        `yaml:"kms"`
	// Policy for records the proxy cannot encrypt (not framed, unknown
	// schema): "reject" (default) refuses the partition, "passthrough"
	// writes them unchanged.
	Policy string `yaml:"policy"`
	// Grants name who may decrypt which KEKs beyond the listener grants.
	Grants []GrantConfig `yaml:"grants"`
}

// UpstreamConfig is how the proxy reaches the brokers.
type UpstreamConfig struct {
	Bootstrap []string    `yaml:"bootstrap"`
	TLS       *TLSConfig  `yaml:"tls"`
	SASL      *SASLConfig `yaml:"sasl"`
}

// TLSConfig is a TLS client (upstream) or server (listener) setup.
type TLSConfig struct {
	CAFile   string `yaml:"caFile"`
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
	// ClientCAFile, on a listener, requires client certificates signed by
	// these CAs; the certificate subject is the client's TLS identity.
	ClientCAFile       string `yaml:"clientCAFile"`
	ServerName         string `yaml:"serverName"`
	InsecureSkipVerify bool   `yaml:"insecureSkipVerify"`
}

// SASLConfig authenticates the proxy to the brokers.
type SASLConfig struct {
	// Mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	Password  string `yaml:"password"`
}

// ListenerConfig is one client-facing listener.
type ListenerConfig struct {
	Name           string     `yaml:"name"`
	Address        string     `yaml:"address"`
	AdvertisedHost string     `yaml:"advertisedHost"`
	NodeBasePort   int        `yaml:"nodeBasePort"`
	TLS            *TLSConfig `yaml:"tls"`
	// Users enables SASL/PLAIN on the listener: user → password.
	Users map[string]string `yaml:"users"`
	// Decrypt lists the KEK names every client of this listener may
	// decrypt; "*" means all.
	Decrypt []string `yaml:"decrypt"`
}

// GrantConfig lets a SASL principal or a TLS identity decrypt KEKs.
type GrantConfig struct {
	Principal   string   `yaml:"principal"`
	TLSIdentity string   `yaml:"tlsIdentity"`
	Decrypt     []string `yaml:"decrypt"`
}

// RegistryConfig is the Schema Registry (and DEK Registry).
type RegistryConfig struct {
	URL         string `yaml:"url"`
	DEKURL      string `yaml:"dekUrl"`
	Username    string `yaml:"username"`
	Password    string `yaml:"password"`
	BearerToken string `yaml:"bearerToken"`
}

// KMSConfig is passed to the rules' KMSs.
type KMSConfig struct {
	// RuleConfig as in tagseal.Keys: "secret" for local-kms, "token.id"
	// for hcvault, cloud credentials.
	RuleConfig map[string]string `yaml:"ruleConfig"`
	// DEKCacheTTL, e.g. "10m"; empty is tagseal's default.
	DEKCacheTTL string `yaml:"dekCacheTTL"`
}

// LoadConfig reads and checks a YAML configuration file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(b)
}

// ErrConfig reports an invalid configuration.
var ErrConfig = errors.New("proxy: invalid configuration")

// ParseConfig parses YAML configuration text, expanding ${VAR}.
func ParseConfig(text []byte) (*Config, error) {
	var missing []string
	expanded := os.Expand(string(text), func(k string) string {
		v, ok := os.LookupEnv(k)
		if !ok {
			missing = append(missing, k)
		}
		return v
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: unset environment variables %v", ErrConfig, missing)
	}
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if len(c.Upstream.Bootstrap) == 0 {
		return nil, fmt.Errorf("%w: upstream.bootstrap is empty", ErrConfig)
	}
	if len(c.Listeners) == 0 {
		return nil, fmt.Errorf("%w: no listeners", ErrConfig)
	}
	if c.Registry.URL == "" {
		return nil, fmt.Errorf("%w: registry.url is empty", ErrConfig)
	}
	if _, err := c.policy(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) policy() (Policy, error) {
	switch c.Policy {
	case "", "reject":
		return Reject, nil
	case "passthrough":
		return Passthrough, nil
	}
	return Reject, fmt.Errorf("%w: policy %q (want reject or passthrough)", ErrConfig, c.Policy)
}

// MayDecrypt says whether peer may decrypt fields under kekName: its
// listener grants it, or a grant names its principal or TLS identity.
func (c *Config) MayDecrypt(peer Peer, kekName string) bool {
	ok := func(list []string) bool { return slices.Contains(list, "*") || slices.Contains(list, kekName) }
	for _, l := range c.Listeners {
		if l.Name == peer.Listener && ok(l.Decrypt) {
			return true
		}
	}
	for _, g := range c.Grants {
		if (g.Principal != "" && g.Principal == peer.Principal) || (g.TLSIdentity != "" && g.TLSIdentity == peer.TLSIdentity) {
			if ok(g.Decrypt) {
				return true
			}
		}
	}
	return false
}

// Options builds the proxy options: registry client, rewriter, TLS and
// SASL settings.
func (c *Config) Options() (Options, error) {
	var o Options
	var ropts []registry.Option
	if c.Registry.Username != "" {
		ropts = append(ropts, registry.WithBasicAuth(c.Registry.Username, c.Registry.Password))
	}
	if c.Registry.BearerToken != "" {
		ropts = append(ropts, registry.WithBearerToken(c.Registry.BearerToken))
	}
	if c.Registry.DEKURL != "" {
		ropts = append(ropts, registry.WithDEKRegistryURL(c.Registry.DEKURL))
	}
	reg, err := registry.New(c.Registry.URL, ropts...)
	if err != nil {
		return o, err
	}
	keys := tagseal.Keys{RuleConfig: c.KMS.RuleConfig}
	if c.KMS.DEKCacheTTL != "" {
		if keys.DEKCacheTTL, err = time.ParseDuration(c.KMS.DEKCacheTTL); err != nil {
			return o, fmt.Errorf("%w: kms.dekCacheTTL: %v", ErrConfig, err)
		}
	}
	policy, err := c.policy()
	if err != nil {
		return o, err
	}
	rw, err := NewRewriter(RewriterConfig{Registry: reg, Keys: keys, Policy: policy, MayDecrypt: c.MayDecrypt})
	if err != nil {
		return o, err
	}
	o.Rewriter = rw
	o.Upstream.Bootstrap = c.Upstream.Bootstrap
	if c.Upstream.TLS != nil {
		if o.Upstream.TLS, err = c.Upstream.TLS.client(); err != nil {
			return o, err
		}
	}
	if s := c.Upstream.SASL; s != nil {
		if o.Upstream.SASL, err = s.mechanism(); err != nil {
			return o, err
		}
	}
	for _, l := range c.Listeners {
		ln := Listener{Name: l.Name, Address: l.Address, AdvertisedHost: l.AdvertisedHost, NodeBasePort: l.NodeBasePort, Users: l.Users}
		if l.TLS != nil {
			if ln.TLS, err = l.TLS.server(); err != nil {
				return o, fmt.Errorf("listener %s: %w", l.Name, err)
			}
		}
		o.Listeners = append(o.Listeners, ln)
	}
	return o, nil
}

func (s *SASLConfig) mechanism() (sasl.Mechanism, error) {
	switch s.Mechanism {
	case "PLAIN":
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("%w: upstream.sasl.mechanism %q (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", ErrConfig, s.Mechanism)
}

func (t *TLSConfig) pool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: no certificate in %s", ErrConfig, file)
	}
	return pool, nil
}

func (t *TLSConfig) client() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	var err error
	if t.CAFile != "" {
		if cfg.RootCAs, err = t.pool(t.CAFile); err != nil {
			return nil, err
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (t *TLSConfig) server() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if t.ClientCAFile != "" {
		if cfg.ClientCAs, err = t.pool(t.ClientCAFile); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
