package hcvault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"
	vaultaead "github.com/tink-crypto/tink-go-hcvault/v2/integration/hcvault"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tagseal/tagseal/kms"
)

// ErrTokenExpired is returned when Vault rejects the token (expired or
// revoked) and the driver cannot obtain a new one: a static token.id /
// VAULT_TOKEN cannot be renewed past its max TTL nor logged in again. It
// wraps [kms.ErrUnavailable]. With AppRole credentials the driver logs in
// again instead and retries the call once.
var ErrTokenExpired = fmt.Errorf("%w: hcvault: Vault rejected the token (expired or revoked) and a static token.id/VAULT_TOKEN cannot be renewed or obtained again; configure approle.role.id and approle.secret.id, or restart with a new token", kms.ErrUnavailable)

// ErrLogin is returned when the AppRole login fails. It wraps
// [kms.ErrUnavailable].
var ErrLogin = fmt.Errorf("%w: hcvault: AppRole login failed", kms.ErrUnavailable)

// AEAD wraps and unwraps DEKs with one Vault transit key and keeps the
// Vault token alive: a renewable token is renewed in the background by a
// vault/api LifetimeWatcher; an AppRole token is obtained again when it
// reaches its max TTL or Vault rejects it (403), and the rejected call is
// retried once. It also implements [kms.Rewrapper] with transit's rewrap
// endpoint.
//
// The background renewal stops on Close, or when the AEAD becomes
// unreachable (kms.Registry never closes its AEADs, so the watcher lives as
// long as the serializer or deserializer that holds it).
type AEAD struct{ s *session }

var (
	_ tink.AEAD     = (*AEAD)(nil)
	_ kms.Rewrapper = (*AEAD)(nil)
)

// session is the state the renewal goroutine shares with the AEAD's
// callers; it holds no reference to the AEAD, so the AEAD can be
// collected and its cleanup stop the goroutine.
type session struct {
	client     *api.Client
	transit    tink.AEAD
	rewrapPath string
	login      api.AuthMethod // nil: static token

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	reloginMu sync.Mutex // one relogin at a time
	mu        sync.Mutex
	gen       uint64           // bumped by every successful login
	watched   chan *api.Secret // new login secrets for the watcher

	logins, renewals atomic.Int64 // observed by tests
}

// newAEAD builds the AEAD for the transit key at keyPath. With login the
// client logs in first; without it the client's token is used as is.
func newAEAD(client *api.Client, keyPath string, login api.AuthMethod) (*AEAD, error) {
	transit, err := vaultaead.NewAEAD(keyPath, client.Logical())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", kms.ErrConfig, err)
	}
	parts := strings.Split(strings.TrimPrefix(keyPath, "/"), "/")
	parts[len(parts)-2] = "rewrap"
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{client: client, transit: transit, rewrapPath: strings.Join(parts, "/"), login: login,
		ctx: ctx, cancel: cancel, watched: make(chan *api.Secret, 1)}
	var secret *api.Secret
	if login != nil {
		if secret, err = s.doLogin(); err != nil {
			cancel()
			return nil, err
		}
	} else if secret = s.renewableSelf(); secret == nil {
		cancel() // nothing to renew: a root or non-renewable token
	}
	if secret != nil {
		s.wg.Add(1)
		go s.watch(secret)
	}
	a := &AEAD{s}
	runtime.AddCleanup(a, func(cancel context.CancelFunc) { cancel() }, cancel)
	return a, nil
}

// Close stops the token renewal and waits for it; the AEAD still works
// until its token expires. Close is safe to call more than once.
func (a *AEAD) Close() error {
	a.s.cancel()
	a.s.wg.Wait()
	return nil
}

// Encrypt wraps plaintext with the transit key's newest version.
func (a *AEAD) Encrypt(plaintext, ad []byte) ([]byte, error) {
	return a.s.call(func() ([]byte, error) { return a.s.transit.Encrypt(plaintext, ad) })
}

// Decrypt unwraps a "vault:vN:…" ciphertext.
func (a *AEAD) Decrypt(ciphertext, ad []byte) ([]byte, error) {
	return a.s.call(func() ([]byte, error) { return a.s.transit.Decrypt(ciphertext, ad) })
}

// Rewrap re-encrypts a "vault:vN:…" ciphertext under the transit key's
// newest version with transit's rewrap endpoint: the DEK never leaves
// Vault.
func (a *AEAD) Rewrap(edek []byte) ([]byte, error) {
	return a.s.call(func() ([]byte, error) {
		sec, err := a.s.client.Logical().Write(a.s.rewrapPath, map[string]any{"ciphertext": string(edek)})
		if err != nil {
			return nil, err
		}
		if sec == nil {
			return nil, errors.New("hcvault: empty rewrap response")
		}
		ct, ok := sec.Data["ciphertext"].(string)
		if !ok || ct == "" {
			return nil, errors.New("hcvault: rewrap response without ciphertext")
		}
		return []byte(ct), nil
	})
}

// call runs op; when Vault answers 403 it logs in again (AppRole) and
// retries once, or, for a static token Vault no longer accepts, reports
// ErrTokenExpired.
func (s *session) call(op func() ([]byte, error)) ([]byte, error) {
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	out, err := op()
	if !denied(err) {
		return out, classify(err)
	}
	if s.login == nil {
		if s.tokenRejected() {
			return nil, fmt.Errorf("%w: %v", ErrTokenExpired, err)
		}
		return nil, classify(err) // a valid token without rights to this key
	}
	if err := s.relogin(gen); err != nil {
		return nil, err
	}
	out, err = op()
	return out, classify(err)
}

// denied reports a 403 answer: Vault's answer for a missing, expired or
// revoked token, and for a token whose policies do not allow the call.
func denied(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusForbidden
}

// tokenRejected asks Vault whether the client's token itself is invalid
// (token lookup-self is allowed by Vault's default policy).
func (s *session) tokenRejected() bool {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	_, err := s.client.Auth().Token().LookupSelfWithContext(ctx)
	return denied(err)
}

// lookupTimeout bounds the token lookups the driver makes on its own.
const lookupTimeout = 10 * time.Second

// renewableSelf returns a secret describing the client's static token when
// Vault says it is renewable and has a TTL, or nil.
func (s *session) renewableSelf() *api.Secret {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	self, err := s.client.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil || self == nil {
		return nil
	}
	renewable, _ := self.TokenIsRenewable()
	ttl, _ := self.TokenTTL()
	if !renewable || ttl <= 0 {
		return nil
	}
	return &api.Secret{Auth: &api.SecretAuth{ClientToken: s.client.Token(), Renewable: true, LeaseDuration: int(ttl / time.Second)}}
}

// doLogin logs in with the AppRole credentials; the client keeps the new
// token.
func (s *session) doLogin() (*api.Secret, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	secret, err := s.client.Auth().Login(ctx, s.login)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLogin, err)
	}
	if secret == nil || secret.Auth == nil {
		return nil, fmt.Errorf("%w: no auth data in the answer", ErrLogin)
	}
	s.mu.Lock()
	s.gen++
	s.mu.Unlock()
	s.logins.Add(1)
	return secret, nil
}

// relogin logs in again unless someone did since gen (several callers
// that saw the same rejected token log in once), and hands the new token to
// the renewal goroutine.
func (s *session) relogin(gen uint64) error {
	s.reloginMu.Lock()
	defer s.reloginMu.Unlock()
	s.mu.Lock()
	current := s.gen
	s.mu.Unlock()
	if current != gen {
		return nil
	}
	secret, err := s.doLogin()
	if err != nil {
		return err
	}
	select {
	case <-s.watched: // replace an unread secret
	default:
	}
	s.watched <- secret
	return nil
}

// watch renews the token in secret until its max TTL, then (AppRole) logs
// in again and watches the new token, until the session ends.
func (s *session) watch(secret *api.Secret) {
	defer s.wg.Done()
	for secret != nil {
		w, err := s.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: secret})
		if err != nil {
			slog.Warn("hcvault: cannot watch the Vault token", "err", err)
			return
		}
		s.wg.Add(1)
		go func() { defer s.wg.Done(); w.Start() }()
		secret = s.follow(w, time.Duration(secret.Auth.LeaseDuration)*time.Second)
		w.Stop()
	}
}

// follow waits for w to end and returns the next token to watch, or nil
// when the session ends or a static token cannot be renewed further. ttl
// is the watched token's lease when it was obtained: once a renewal
// returns less, the token's max TTL caps it, and an AppRole session logs in
// again halfway through what is left rather than at the watcher's last
// moment.
func (s *session) follow(w *api.LifetimeWatcher, ttl time.Duration) *api.Secret {
	var early <-chan time.Time
	for {
		select {
		case <-s.ctx.Done():
			return nil
		case r := <-w.RenewCh():
			s.renewals.Add(1)
			if s.login != nil && early == nil && r != nil && r.Secret != nil && r.Secret.Auth != nil {
				if left := time.Duration(r.Secret.Auth.LeaseDuration) * time.Second; left < ttl {
					t := time.NewTimer(left / 2)
					defer t.Stop()
					early = t.C
				}
			}
		case <-early:
			return s.loginUntilDone()
		case next := <-s.watched:
			return next // a call logged in again
		case err := <-w.DoneCh():
			if err != nil {
				slog.Debug("hcvault: token renewal stopped", "err", err)
			}
			if s.login == nil {
				return nil // calls report ErrTokenExpired once Vault rejects it
			}
			return s.loginUntilDone()
		}
	}
}

// loginUntilDone logs in again before the watched token expires, retrying
// with backoff while Vault is unreachable.
func (s *session) loginUntilDone() *api.Secret {
	wait := 500 * time.Millisecond
	for {
		secret, err := s.doLogin()
		if err == nil {
			return secret
		}
		slog.Warn("hcvault: AppRole login failed; retrying", "err", err, "in", wait)
		select {
		case <-s.ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}
