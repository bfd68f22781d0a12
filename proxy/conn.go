package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
)

// maxInFlight bounds the requests a client may have outstanding on one
// connection before the proxy stops reading from it (Kafka clients
// default to 5).
const maxInFlight = 256

// clientConn is one client connection and its own broker connection.
// Requests flow client → broker in one goroutine; responses flow back in
// another, in request order, as Kafka requires.
type clientConn struct {
	p      *Proxy
	l      *listener
	node   int32 // the broker this listener address stands for; -1 bootstrap
	client net.Conn

	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	up     net.Conn

	// Authentication state, owned by the request goroutine.
	saslStarted bool
	principal   string
	tlsIdentity string

	pending chan *inflight
}

// inflight is a request awaiting its response.
type inflight struct {
	key, version int16
	corr         int32
	// local, when set, is the whole response frame (without the size
	// prefix) the proxy answers itself; nothing is read from the broker.
	local      []byte
	closeAfter bool
	// rejected are produce partitions the proxy refused; merged into the
	// broker's response.
	rejected []rejection
	// noResponse: acks=0 produce, the broker does not answer.
	noResponse bool
}

func newClientConn(p *Proxy, l *listener, node int32, c net.Conn) *clientConn {
	ctx, cancel := context.WithCancel(context.Background())
	return &clientConn{p: p, l: l, node: node, client: c, ctx: ctx, cancel: cancel, pending: make(chan *inflight, maxInFlight)}
}

func (c *clientConn) close() {
	c.once.Do(func() {
		c.cancel()
		c.client.Close()
	})
}

func (c *clientConn) peer() Peer {
	return Peer{Listener: c.l.conf.Name, Principal: c.principal, TLSIdentity: c.tlsIdentity}
}

func (c *clientConn) run() {
	defer c.close()
	log := c.p.log.With("listener", c.l.conf.Name, "client", c.client.RemoteAddr().String(), "node", c.node)
	if tc, ok := c.client.(*tls.Conn); ok {
		if err := tc.HandshakeContext(c.ctx); err != nil {
			log.Info("proxy: client tls handshake failed", "err", err)
			return
		}
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			c.tlsIdentity = certs[0].Subject.String()
		}
	}
	up, upr, err := c.p.dialUpstreamRetrying(c.ctx, c.node)
	if err != nil {
		log.Warn("proxy: cannot reach broker", "err", err)
		return
	}
	c.up = up
	go func() { <-c.ctx.Done(); up.Close() }()

	done := make(chan error, 1)
	go func() { done <- c.responses(upr) }()
	err = c.requests()
	close(c.pending)
	if err != nil {
		// The request side failed (client gone or sent garbage): stop.
		c.close()
	}
	rerr := <-done
	for _, e := range []error{err, rerr} {
		if e != nil && !errors.Is(e, io.EOF) && !errors.Is(e, net.ErrClosed) && c.ctx.Err() == nil {
			log.Info("proxy: connection closed", "err", e)
		}
	}
}

// requests reads client requests, rewrites those the proxy must, and
// forwards them to the broker.
func (c *clientConn) requests() error {
	r := bufio.NewReaderSize(c.client, 64<<10)
	for {
		frame, err := readFrame(r)
		if err != nil {
			return err
		}
		h, err := parseRequestHeader(frame)
		if err != nil {
			return err
		}
		inf := &inflight{key: h.key, version: h.version, corr: h.corr}
		out := frame
		switch h.key {
		case keySaslHandshake, keySaslAuthenticate:
			if !h.known {
				return ErrProtocol
			}
			inf.local, inf.closeAfter = c.saslServer(h, frame)
			if inf.local == nil {
				return ErrProtocol
			}
			out = nil
		case keyApiVersions:
		default:
			if len(c.l.conf.Users) > 0 && c.principal == "" {
				// The listener requires SASL before anything but
				// ApiVersions; Kafka brokers close such connections.
				return ErrAuthentication
			}
			if h.key == keyProduce && h.known {
				out, err = c.produce(h, frame, inf)
				if err != nil && !errors.Is(err, ErrRejectedAcks0) {
					return err
				}
			}
		}
		if out != nil {
			if werr := writeFrame(c.up, out); werr != nil {
				return werr
			}
		}
		if err != nil {
			// acks=0 with refused partitions: Kafka closes the
			// connection so that the producer notices.
			return err
		}
		if inf.noResponse {
			continue
		}
		select {
		case c.pending <- inf:
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
		if inf.closeAfter {
			return nil
		}
	}
}

// responses reads broker responses in request order, rewrites those the
// proxy must, and writes them (or the proxy's own answers) to the client.
func (c *clientConn) responses(upr *bufio.Reader) error {
	defer c.close()
	for inf := range c.pending {
		frame := inf.local
		if frame == nil {
			var err error
			if frame, err = readFrame(upr); err != nil {
				return err
			}
			if corr := int32(uint32(frame[0])<<24 | uint32(frame[1])<<16 | uint32(frame[2])<<8 | uint32(frame[3])); corr != inf.corr {
				return ErrProtocol
			}
			if frame, err = c.rewriteResponse(inf, frame); err != nil {
				return err
			}
		}
		if err := writeFrame(c.client, frame); err != nil {
			return err
		}
		if inf.closeAfter {
			return nil
		}
	}
	return nil
}
