package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
)

// ErrAuthentication reports a failed SASL exchange, with the broker or
// with a client.
var ErrAuthentication = errors.New("proxy: sasl authentication failed")

// saslClient authenticates conn to a broker with mech (SaslHandshake v1,
// then SaslAuthenticate rounds), before any client request flows.
func saslClient(ctx context.Context, conn net.Conn, r *bufio.Reader, mech sasl.Mechanism, host string) error {
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = mech.Name()
	resp, err := roundTrip(ctx, conn, r, hs, 1)
	if err != nil {
		return err
	}
	if code := resp.(*kmsg.SASLHandshakeResponse).ErrorCode; code != 0 {
		return fmt.Errorf("%w: handshake: %v", ErrAuthentication, kerr.ErrorForCode(code))
	}
	session, msg, err := mech.Authenticate(ctx, host)
	if err != nil {
		return err
	}
	for corr := int32(2); ; corr++ {
		auth := kmsg.NewPtrSASLAuthenticateRequest()
		auth.SetVersion(1)
		auth.SASLAuthBytes = msg
		resp, err := roundTrip(ctx, conn, r, auth, corr)
		if err != nil {
			return err
		}
		ar := resp.(*kmsg.SASLAuthenticateResponse)
		if ar.ErrorCode != 0 {
			m := ""
			if ar.ErrorMessage != nil {
				m = *ar.ErrorMessage
			}
			return fmt.Errorf("%w: %v %s", ErrAuthentication, kerr.ErrorForCode(ar.ErrorCode), m)
		}
		done, next, err := session.Challenge(ar.SASLAuthBytes)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		msg = next
	}
}

// Kafka error codes the proxy answers with itself.
const (
	codeUnsupportedSaslMechanism int16 = 33
	codeIllegalSaslState         int16 = 34
	codeSaslAuthenticationFailed int16 = 58
)

// saslServer answers a client's SaslHandshake and SaslAuthenticate on a
// listener with Users (SASL/PLAIN); the upstream connection is already
// authenticated as the proxy. It returns the response frame, the principal
// once authenticated, and whether the connection must close after the
// response.
func (c *clientConn) saslServer(h reqHeader, frame []byte) (resp []byte, closeAfter bool) {
	req := kmsg.RequestForKey(h.key)
	req.SetVersion(h.version)
	if err := req.ReadFrom(frame[h.body:]); err != nil {
		return nil, true
	}
	switch r := req.(type) {
	case *kmsg.SASLHandshakeRequest:
		out := kmsg.NewPtrSASLHandshakeResponse()
		out.SetVersion(h.version)
		if len(c.l.conf.Users) > 0 {
			out.SupportedMechanisms = []string{"PLAIN"}
		}
		if r.Mechanism != "PLAIN" || len(c.l.conf.Users) == 0 || h.version < 1 {
			out.ErrorCode = codeUnsupportedSaslMechanism
			return encodeResponseFrame(h.corr, out), true
		}
		c.saslStarted = true
		return encodeResponseFrame(h.corr, out), false
	case *kmsg.SASLAuthenticateRequest:
		out := kmsg.NewPtrSASLAuthenticateResponse()
		out.SetVersion(h.version)
		if !c.saslStarted || c.principal != "" {
			out.ErrorCode = codeIllegalSaslState
			return encodeResponseFrame(h.corr, out), true
		}
		// PLAIN: [authzid] NUL authcid NUL passwd (RFC 4616).
		parts := bytes.Split(r.SASLAuthBytes, []byte{0})
		if len(parts) == 3 {
			user, pass := string(parts[1]), parts[2]
			if want, ok := c.l.conf.Users[user]; ok && subtle.ConstantTimeCompare([]byte(want), pass) == 1 {
				c.principal = user
				return encodeResponseFrame(h.corr, out), false
			}
		}
		out.ErrorCode = codeSaslAuthenticationFailed
		msg := "Authentication failed: invalid username or password"
		out.ErrorMessage = &msg
		return encodeResponseFrame(h.corr, out), true
	}
	return nil, true
}
