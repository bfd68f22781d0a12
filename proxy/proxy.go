package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
)

var timeZero time.Time

// Upstream is how the proxy reaches the Kafka cluster.
type Upstream struct {
	// Bootstrap lists host:port addresses of brokers to ask for metadata.
	Bootstrap []string
	// TLS, when set, wraps every broker connection (set ServerName or
	// leave it empty to use the broker's host).
	TLS *tls.Config
	// SASL, when set, authenticates every broker connection as the proxy's
	// own principal (franz-go's plain or scram mechanisms).
	SASL sasl.Mechanism
	// DialTimeout bounds one attempt to connect and authenticate;
	// default 10s.
	DialTimeout time.Duration
	// RetryFor is how long a client connection waits for its broker to be
	// reachable (a broker restart) before the proxy closes it; default
	// 30s. Clients treat a connection closed before any answer as a
	// configuration error (TLS or SASL mismatch), so the proxy holds
	// their first request instead.
	RetryFor time.Duration
}

// Listener is one client-facing endpoint: a bootstrap address plus one
// address per broker, all advertised to its clients.
type Listener struct {
	// Name identifies the listener in grants (Peer.Listener) and logs.
	Name string
	// Address is the bootstrap host:port to listen on.
	Address string
	// AdvertisedHost is the host clients use to reach the proxy; default
	// the host of Address (required when Address binds every interface).
	AdvertisedHost string
	// NodeBasePort, when > 0, puts broker N's listener on port
	// NodeBasePort+N; zero picks a free port when a broker is first seen.
	NodeBasePort int
	// TLS, when set, makes the listener TLS (set ClientAuth and ClientCAs
	// for client certificates; the subject becomes Peer.TLSIdentity).
	TLS *tls.Config
	// Users, when set, makes clients authenticate with SASL/PLAIN against
	// these user → password pairs; the user becomes Peer.Principal.
	Users map[string]string
}

// Options configures a Proxy.
type Options struct {
	Upstream  Upstream
	Listeners []Listener
	// Rewriter encrypts produced and decrypts fetched records; nil passes
	// records unchanged.
	Rewriter RecordRewriter
	// Logger receives connection-level events; default slog.Default().
	Logger *slog.Logger
}

// Proxy is a Kafka protocol proxy: clients connect to its listeners, it
// forwards their requests to the brokers, rewrites broker addresses to its
// own, and runs produced and fetched records through the Rewriter.
type Proxy struct {
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	upstreams map[int32]string // broker node id → host:port, learned from responses
	listeners []*listener
	conns     map[*clientConn]struct{}
	closed    bool
	wg        sync.WaitGroup
}

type listener struct {
	p     *Proxy
	conf  Listener
	host  string // advertised
	boot  net.Listener
	nodes map[int32]nodeListener // guarded by p.mu
}

type nodeListener struct {
	ln   net.Listener
	port int32
}

// New validates opts and returns a Proxy; Start opens its listeners.
func New(opts Options) (*Proxy, error) {
	if len(opts.Upstream.Bootstrap) == 0 {
		return nil, errors.New("proxy: no upstream bootstrap address")
	}
	if len(opts.Listeners) == 0 {
		return nil, errors.New("proxy: no listener")
	}
	names := map[string]bool{}
	for _, l := range opts.Listeners {
		if l.Name == "" || names[l.Name] {
			return nil, fmt.Errorf("proxy: listener names must be set and unique (%q)", l.Name)
		}
		names[l.Name] = true
		host, _, err := net.SplitHostPort(l.Address)
		if err != nil {
			return nil, fmt.Errorf("proxy: listener %s: address: %w", l.Name, err)
		}
		if l.AdvertisedHost == "" && (host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified()) {
			return nil, fmt.Errorf("proxy: listener %s binds every interface (%s): set its advertised host", l.Name, l.Address)
		}
	}
	if opts.Upstream.DialTimeout <= 0 {
		opts.Upstream.DialTimeout = 10 * time.Second
	}
	if opts.Upstream.RetryFor <= 0 {
		opts.Upstream.RetryFor = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Proxy{opts: opts, log: opts.Logger, upstreams: map[int32]string{}, conns: map[*clientConn]struct{}{}}, nil
}

// Start opens every listener's bootstrap address; broker addresses open
// as brokers appear in metadata.
func (p *Proxy) Start() error {
	for _, conf := range p.opts.Listeners {
		host, _, _ := net.SplitHostPort(conf.Address)
		if conf.AdvertisedHost != "" {
			host = conf.AdvertisedHost
		}
		ln, err := p.listen(conf, conf.Address)
		if err != nil {
			p.Close()
			return err
		}
		l := &listener{p: p, conf: conf, host: host, boot: ln, nodes: map[int32]nodeListener{}}
		p.mu.Lock()
		p.listeners = append(p.listeners, l)
		p.mu.Unlock()
		p.serve(l, ln, -1)
		p.log.Info("proxy listening", "listener", conf.Name, "address", ln.Addr().String())
	}
	return nil
}

func (p *Proxy) listen(conf Listener, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("proxy: listener %s: %w", conf.Name, err)
	}
	if conf.TLS != nil {
		ln = tls.NewListener(ln, conf.TLS)
	}
	return ln, nil
}

// Addr returns the bootstrap address of the named listener, or nil.
func (p *Proxy) Addr(name string) net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.listeners {
		if l.conf.Name == name {
			return l.boot.Addr()
		}
	}
	return nil
}

// Run starts the proxy and serves until ctx ends, then closes it.
func (p *Proxy) Run(ctx context.Context) error {
	if err := p.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return p.Close()
}

// Close stops every listener, closes every connection and waits for
// their goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for _, l := range p.listeners {
		l.boot.Close()
		for _, n := range l.nodes {
			n.ln.Close()
		}
	}
	for c := range p.conns {
		c.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

func (p *Proxy) serve(l *listener, ln net.Listener, node int32) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				return
			}
			cc := newClientConn(p, l, node, c)
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				c.Close()
				return
			}
			p.conns[cc] = struct{}{}
			p.wg.Add(1)
			p.mu.Unlock()
			go func() {
				defer p.wg.Done()
				cc.run()
				p.mu.Lock()
				delete(p.conns, cc)
				p.mu.Unlock()
			}()
		}
	}()
}

// advertise records the upstream address of broker node and returns the
// host and port listener l advertises for it, opening that port on first
// sight.
func (l *listener) advertise(node int32, upstreamHost string, upstreamPort int32) (string, int32, error) {
	p := l.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.upstreams[node] = net.JoinHostPort(upstreamHost, strconv.Itoa(int(upstreamPort)))
	if n, ok := l.nodes[node]; ok {
		return l.host, n.port, nil
	}
	if p.closed {
		return "", 0, errors.New("proxy: closed")
	}
	bindHost, _, _ := net.SplitHostPort(l.conf.Address)
	port := 0
	if l.conf.NodeBasePort > 0 {
		port = l.conf.NodeBasePort + int(node)
	}
	ln, err := p.listen(l.conf, net.JoinHostPort(bindHost, strconv.Itoa(port)))
	if err != nil {
		return "", 0, err
	}
	_, ps, _ := net.SplitHostPort(ln.Addr().String())
	pn, _ := strconv.Atoi(ps)
	l.nodes[node] = nodeListener{ln: ln, port: int32(pn)}
	p.serve(l, ln, node)
	p.log.Info("proxy broker listener", "listener", l.conf.Name, "node", node, "address", ln.Addr().String(), "upstream", p.upstreams[node])
	return l.host, int32(pn), nil
}

// upstreamAddr returns where broker node lives (-1: any bootstrap
// broker), asking the cluster when the proxy has not seen it yet (a
// client that kept addresses across a proxy restart).
func (p *Proxy) upstreamAddr(ctx context.Context, node int32) (string, error) {
	if node < 0 {
		return p.opts.Upstream.Bootstrap[0], nil
	}
	p.mu.Lock()
	a, ok := p.upstreams[node]
	p.mu.Unlock()
	if ok {
		return a, nil
	}
	if err := p.refreshBrokers(ctx); err != nil {
		return "", err
	}
	p.mu.Lock()
	a, ok = p.upstreams[node]
	p.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("proxy: broker %d is not in the cluster's metadata", node)
	}
	return a, nil
}

// refreshBrokers learns every broker's address with a Metadata request.
func (p *Proxy) refreshBrokers(ctx context.Context) error {
	conn, r, err := p.dialUpstream(ctx, -1)
	if err != nil {
		return err
	}
	defer conn.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	req.Topics = []kmsg.MetadataRequestTopic{}
	resp, err := roundTrip(ctx, conn, r, req, 1)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range resp.(*kmsg.MetadataResponse).Brokers {
		p.upstreams[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	return nil
}

// dialUpstream connects to broker node (-1: a bootstrap broker, tried in
// order), with TLS and SASL as configured.
func (p *Proxy) dialUpstream(ctx context.Context, node int32) (net.Conn, *bufio.Reader, error) {
	up := p.opts.Upstream
	ctx, cancel := context.WithTimeout(ctx, up.DialTimeout)
	defer cancel()
	addrs := up.Bootstrap
	if node >= 0 {
		a, err := p.upstreamAddr(ctx, node)
		if err != nil {
			return nil, nil, err
		}
		addrs = []string{a}
	}
	var errs []error
	for _, addr := range addrs {
		conn, r, err := p.dialOne(ctx, addr)
		if err == nil {
			return conn, r, nil
		}
		errs = append(errs, err)
	}
	return nil, nil, fmt.Errorf("proxy: upstream: %w", errors.Join(errs...))
}

// dialUpstreamRetrying dials like dialUpstream, retrying with backoff for
// Upstream.RetryFor while the broker is unreachable.
func (p *Proxy) dialUpstreamRetrying(ctx context.Context, node int32) (net.Conn, *bufio.Reader, error) {
	deadline := time.Now().Add(p.opts.Upstream.RetryFor)
	backoff := 100 * time.Millisecond
	for {
		conn, r, err := p.dialUpstream(ctx, node)
		if err == nil || errors.Is(err, ErrAuthentication) || time.Now().Add(backoff).After(deadline) {
			return conn, r, err
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (p *Proxy) dialOne(ctx context.Context, addr string) (net.Conn, *bufio.Reader, error) {
	up := p.opts.Upstream
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	host, _, _ := net.SplitHostPort(addr)
	if up.TLS != nil {
		cfg := up.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("%s: tls: %w", addr, err)
		}
		conn = tc
	}
	r := bufio.NewReaderSize(conn, 64<<10)
	if up.SASL != nil {
		if err := saslClient(ctx, conn, r, up.SASL, host); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("%s: sasl %s: %w", addr, up.SASL.Name(), err)
		}
	}
	return conn, r, nil
}
