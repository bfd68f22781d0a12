package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// Defaults of [New]'s options.
const (
	// DefaultTries is how many times a request is sent at most (the first
	// try and two retries) unless [WithRetries] says otherwise.
	DefaultTries = 3
	// DefaultBackoff is the wait before the first retry; it doubles for
	// every further retry, with jitter.
	DefaultBackoff = 100 * time.Millisecond
	// DefaultTimeout bounds one request when its context has no deadline.
	DefaultTimeout = 30 * time.Second
)

// HTTPClient is a [Client] for a registry reached over HTTP(S). It is safe
// for concurrent use and caches nothing: every call is a request (callers
// cache what their semantics allow).
//
// It sends every request through franz-go's pkg/sr client, which brings
// auth headers, TLS and failover across comma-separated URLs, but only
// through (*sr.Client).Do, never pkg/sr's typed calls: its Schema type has
// no encodingRules or enableAt, its rule kind and mode are enums that
// reject values they do not know, its CreateSchema makes extra round
// trips, and it has no DEK Registry calls at all — and rules and metadata
// must round-trip exactly, since they decide what gets encrypted. This
// package's own types match Confluent's JSON field for field.
type HTTPClient struct {
	sr      *sr.Client
	dek     *sr.Client
	tries   int
	backoff time.Duration
	timeout time.Duration
}

// Option configures [New].
type Option func(*config)

type config struct {
	dekURL      string
	user, pass  string
	basic       bool
	token       string
	tls         *tls.Config
	httpClient  *http.Client
	tries       int
	backoff     time.Duration
	timeout     time.Duration
	userAgent   string
	invalidOpts []string
}

// WithBasicAuth sends HTTP basic auth on every request, as Confluent
// Cloud's API key (user) and secret (pass).
func WithBasicAuth(user, pass string) Option {
	return func(c *config) { c.user, c.pass, c.basic = user, pass, true }
}

// WithBearerToken sends "Authorization: Bearer tok" on every request.
func WithBearerToken(tok string) Option {
	return func(c *config) { c.token = tok }
}

// WithTLSConfig uses cfg for https URLs: a private CA in RootCAs, a
// client certificate for mTLS. It applies to the HTTP client of
// [WithHTTPClient] too, whose transport must then be an *http.Transport
// without custom dialers (the transport is cloned, not changed).
func WithTLSConfig(cfg *tls.Config) Option {
	return func(c *config) { c.tls = cfg }
}

// WithHTTPClient sends requests with hc (a copy of it: hc itself is not
// modified). Its Timeout, if set, bounds every try; [WithTimeout] is
// usually the better knob.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) {
		if hc == nil {
			c.invalidOpts = append(c.invalidOpts, "WithHTTPClient(nil)")
			return
		}
		c.httpClient = hc
	}
}

// WithDEKRegistryURL sends DEK Registry requests (/dek-registry/v1/…) to
// url, one or more comma-separated base URLs, instead of the Schema
// Registry's. Confluent Schema Registry serves both, so this is only for
// a DEK Registry deployed elsewhere. Auth, TLS and retries are shared.
func WithDEKRegistryURL(url string) Option {
	return func(c *config) { c.dekURL = url }
}

// WithRetries sends a request at most tries times (1 means no retry)
// when the registry answers 5xx or 429 or the try fails on the network or
// times out, waiting backoff before the first retry and doubling it for
// each next, with jitter (a wait is between half and all of its nominal
// length). 4xx answers are never retried. The context's deadline bounds
// the whole sequence. Default: [DefaultTries] and [DefaultBackoff].
func WithRetries(tries int, backoff time.Duration) Option {
	return func(c *config) {
		if tries < 1 || backoff < 0 {
			c.invalidOpts = append(c.invalidOpts, fmt.Sprintf("WithRetries(%d, %s)", tries, backoff))
			return
		}
		c.tries, c.backoff = tries, backoff
	}
}

// WithTimeout bounds each try of a request whose context has no deadline
// (default [DefaultTimeout]; 0 means no bound). A try that times out is
// retried like a 5xx answer.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.invalidOpts = append(c.invalidOpts, fmt.Sprintf("WithTimeout(%s)", d))
			return
		}
		c.timeout = d
	}
}

// WithUserAgent sets the User-Agent header (default "tagseal-registry").
func WithUserAgent(ua string) Option {
	return func(c *config) { c.userAgent = ua }
}

// New returns a client for the registry at url: one base URL such as
// "https://psrc-123.region.aws.confluent.cloud", or several separated by
// commas, tried in order on connection failures. The DEK Registry is
// assumed at the same URLs unless [WithDEKRegistryURL] says otherwise.
// New sends no request; an unusable url or option is [ErrInvalid].
func New(url string, opts ...Option) (*HTTPClient, error) {
	c := config{tries: DefaultTries, backoff: DefaultBackoff, timeout: DefaultTimeout, userAgent: "tagseal-registry"}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if len(c.invalidOpts) > 0 {
		return nil, fmt.Errorf("registry: invalid option %s: %w", strings.Join(c.invalidOpts, ", "), ErrInvalid)
	}
	srURLs, err := splitURLs(url)
	if err != nil {
		return nil, err
	}
	dekURLs := srURLs
	if c.dekURL != "" {
		if dekURLs, err = splitURLs(c.dekURL); err != nil {
			return nil, err
		}
	}
	src, err := c.newSR(srURLs)
	if err != nil {
		return nil, err
	}
	dek := src
	if c.dekURL != "" {
		if dek, err = c.newSR(dekURLs); err != nil {
			return nil, err
		}
	}
	return &HTTPClient{sr: src, dek: dek, tries: c.tries, backoff: c.backoff, timeout: c.timeout}, nil
}

func splitURLs(s string) ([]string, error) {
	var out []string
	for _, u := range strings.Split(s, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if !strings.Contains(u, "://") {
			u = "http://" + u
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, fmt.Errorf("registry: URL %q is not an http(s) base URL: %w", u, ErrInvalid)
		}
		out = append(out, strings.TrimRight(u, "/"))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("registry: no registry URL given: %w", ErrInvalid)
	}
	return out, nil
}

func (c *config) newSR(urls []string) (*sr.Client, error) {
	// A copy of the caller's client: sr.DialTLSConfig replaces the
	// transport of the client it is given.
	var hc http.Client
	if c.httpClient != nil {
		hc = *c.httpClient
	} else {
		hc.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	opts := []sr.ClientOpt{sr.URLs(urls...), sr.HTTPClient(&hc), sr.UserAgent(c.userAgent)}
	if c.basic {
		opts = append(opts, sr.BasicAuth(c.user, c.pass))
	}
	if c.token != "" {
		opts = append(opts, sr.BearerToken(c.token))
	}
	if c.tls != nil {
		opts = append(opts, sr.DialTLSConfig(c.tls))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("registry: %v: %w", err, ErrInvalid)
	}
	return cl, nil
}

// do sends one logical request, retrying as configured, and decodes a
// 2xx body into into (nil: ignore the body). q holds query parameters.
func (c *HTTPClient) do(ctx context.Context, cl *sr.Client, method, path string, q url.Values, body, into any) error {
	if ctx == nil {
		return fmt.Errorf("registry: %s %s: nil context: %w", method, path, ErrInvalid)
	}
	var err error
	for try := 1; ; try++ {
		err = c.try(ctx, cl, method, path, q, body, into)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			// The caller's context ended: report that, not a retry verdict.
			return fmt.Errorf("registry: %s %s: %w", method, path, err)
		}
		if !transient(err) || try >= c.tries {
			break
		}
		if serr := sleep(ctx, c.wait(try)); serr != nil {
			return fmt.Errorf("registry: %s %s: %w (after %v)", method, path, serr, err)
		}
	}
	var e *Error
	if errors.As(err, &e) {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if transient(err) {
		return fmt.Errorf("registry: %s %s: %w: %w", method, path, ErrUnavailable, err)
	}
	return fmt.Errorf("registry: %s %s: %w", method, path, err)
}

// try is one attempt, under the per-try timeout.
func (c *HTTPClient) try(ctx context.Context, cl *sr.Client, method, path string, q url.Values, body, into any) error {
	if _, ok := ctx.Deadline(); !ok && c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	if len(q) > 0 {
		// pkg/sr joins path onto the base URL with url.JoinPath, which
		// would escape a '?': query parameters go through its params.
		ctx = sr.WithParams(ctx, sr.RawParams(q))
	}
	err := cl.Do(ctx, method, path, body, into)
	var re *sr.ResponseError
	if errors.As(err, &re) {
		msg := re.Message
		if msg == "" || msg == "no response" {
			msg = strings.TrimSpace(string(re.Raw))
		}
		if msg == "" {
			msg = http.StatusText(re.StatusCode)
		}
		return &Error{StatusCode: re.StatusCode, ErrorCode: re.ErrorCode, Message: msg}
	}
	return err
}

// transient reports whether a try's failure is worth another try: a
// 5xx or 429 answer, a timeout, or a network failure. 4xx answers,
// certificate verification failures and malformed bodies are not.
func transient(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return false // an untrusted certificate stays untrusted
	}
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF)
}

// wait is the jittered backoff before retry number try (1-based).
func (c *HTTPClient) wait(try int) time.Duration {
	if c.backoff <= 0 {
		return 0
	}
	d := c.backoff << min(try-1, 16)
	if d <= 0 || d > time.Minute {
		d = time.Minute
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pathSeg escapes one path segment; "." and ".." are escaped too, or
// pkg/sr's url.JoinPath would resolve them.
func pathSeg(s string) string {
	if s == "." || s == ".." {
		return strings.ReplaceAll(s, ".", "%2E")
	}
	return url.PathEscape(s)
}

func boolQuery(q url.Values, key string, v bool) {
	if v {
		q.Set(key, "true")
	}
}

// SchemaByID implements [SchemaRegistry.SchemaByID].
func (c *HTTPClient) SchemaByID(ctx context.Context, subject string, id int) (Schema, error) {
	q := url.Values{}
	if subject != "" {
		q.Set("subject", subject)
	}
	var s Schema
	err := c.do(ctx, c.sr, http.MethodGet, "/schemas/ids/"+strconv.Itoa(id), q, nil, &s)
	return s, err
}

// SchemaByGUID implements [SchemaRegistry.SchemaByGUID].
func (c *HTTPClient) SchemaByGUID(ctx context.Context, guid string) (Schema, error) {
	if guid == "" {
		return Schema{}, fmt.Errorf("registry: empty schema GUID: %w", ErrInvalid)
	}
	var s Schema
	err := c.do(ctx, c.sr, http.MethodGet, "/schemas/guids/"+pathSeg(guid), nil, nil, &s)
	return s, err
}

// Latest implements [SchemaRegistry.Latest].
func (c *HTTPClient) Latest(ctx context.Context, subject string) (SubjectSchema, error) {
	return c.Version(ctx, subject, -1, false)
}

// LatestWithMetadata implements [SchemaRegistry.LatestWithMetadata].
func (c *HTTPClient) LatestWithMetadata(ctx context.Context, subject string, metadata map[string]string) (SubjectSchema, error) {
	if err := checkSubject(subject); err != nil {
		return SubjectSchema{}, err
	}
	keys := make([]string, 0, len(metadata))
	for k := range metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// The registry pairs the i-th key with the i-th value; url.Values
	// keeps the order of each parameter's values.
	q := url.Values{}
	for _, k := range keys {
		q.Add("key", k)
		q.Add("value", metadata[k])
	}
	var ss SubjectSchema
	err := c.do(ctx, c.sr, http.MethodGet, "/subjects/"+pathSeg(subject)+"/metadata", q, nil, &ss)
	return withSubject(ss, subject), err
}

// Version implements [SchemaRegistry.Version].
func (c *HTTPClient) Version(ctx context.Context, subject string, version int, includeDeleted bool) (SubjectSchema, error) {
	if err := checkSubject(subject); err != nil {
		return SubjectSchema{}, err
	}
	v := strconv.Itoa(version)
	if version == -1 {
		v = "latest"
	}
	q := url.Values{}
	boolQuery(q, "deleted", includeDeleted)
	var ss SubjectSchema
	err := c.do(ctx, c.sr, http.MethodGet, "/subjects/"+pathSeg(subject)+"/versions/"+v, q, nil, &ss)
	return withSubject(ss, subject), err
}

// Register implements [SchemaRegistry.Register]. Registries older than
// Confluent Platform 7.4 answer a registration with the id alone; Register
// then looks the version up, so the result is always complete.
func (c *HTTPClient) Register(ctx context.Context, subject string, s Schema, normalize bool) (SubjectSchema, error) {
	if err := checkSubject(subject); err != nil {
		return SubjectSchema{}, err
	}
	q := url.Values{}
	boolQuery(q, "normalize", normalize)
	var ss SubjectSchema
	if err := c.do(ctx, c.sr, http.MethodPost, "/subjects/"+pathSeg(subject)+"/versions", q, s, &ss); err != nil {
		return SubjectSchema{}, err
	}
	if ss.Version == 0 || ss.Schema.Schema == "" {
		full, err := c.Lookup(ctx, subject, s, normalize)
		if err != nil {
			return SubjectSchema{}, fmt.Errorf("registry: registered id %d under %q but could not look it up: %w", ss.ID, subject, err)
		}
		return full, nil
	}
	return withSubject(ss, subject), nil
}

// Lookup implements [SchemaRegistry.Lookup].
func (c *HTTPClient) Lookup(ctx context.Context, subject string, s Schema, normalize bool) (SubjectSchema, error) {
	if err := checkSubject(subject); err != nil {
		return SubjectSchema{}, err
	}
	q := url.Values{}
	boolQuery(q, "normalize", normalize)
	var ss SubjectSchema
	err := c.do(ctx, c.sr, http.MethodPost, "/subjects/"+pathSeg(subject), q, s, &ss)
	return withSubject(ss, subject), err
}

func withSubject(ss SubjectSchema, subject string) SubjectSchema {
	if ss.Subject == "" && (ss.ID != 0 || ss.Version != 0) {
		ss.Subject = subject
	}
	return ss
}

func checkSubject(subject string) error {
	if subject == "" {
		return fmt.Errorf("registry: empty subject: %w", ErrInvalid)
	}
	return nil
}

func checkKEKName(name string) error {
	if name == "" {
		return fmt.Errorf("registry: empty KEK name: %w", ErrInvalid)
	}
	return nil
}

const keksPath = "/dek-registry/v1/keks"

// KEK implements [DEKRegistry.KEK].
func (c *HTTPClient) KEK(ctx context.Context, name string, includeDeleted bool) (KEK, error) {
	if err := checkKEKName(name); err != nil {
		return KEK{}, err
	}
	q := url.Values{}
	boolQuery(q, "deleted", includeDeleted)
	var k KEK
	err := c.do(ctx, c.dek, http.MethodGet, keksPath+"/"+pathSeg(name), q, nil, &k)
	return k, err
}

// CreateKEK implements [DEKRegistry.CreateKEK]. Ts and Deleted of k are
// not sent.
func (c *HTTPClient) CreateKEK(ctx context.Context, k KEK) (KEK, error) {
	if err := checkKEKName(k.Name); err != nil {
		return KEK{}, err
	}
	req := createKEKRequest{Name: k.Name, KmsType: k.KmsType, KmsKeyID: k.KmsKeyID, KmsProps: k.KmsProps, Doc: k.Doc, Shared: k.Shared}
	var out KEK
	err := c.do(ctx, c.dek, http.MethodPost, keksPath, nil, req, &out)
	return out, err
}

func dekPath(kek, subject string) string {
	return keksPath + "/" + pathSeg(kek) + "/deks/" + pathSeg(subject)
}

func algQuery(algorithm string) url.Values {
	q := url.Values{}
	if algorithm != "" {
		q.Set("algorithm", algorithm)
	}
	return q
}

// DEK implements [DEKRegistry.DEK].
func (c *HTTPClient) DEK(ctx context.Context, kek, subject, algorithm string, version int, includeDeleted bool) (DEK, error) {
	if err := checkKEKName(kek); err != nil {
		return DEK{}, err
	}
	if err := checkSubject(subject); err != nil {
		return DEK{}, err
	}
	if version < 0 {
		return DEK{}, fmt.Errorf("registry: DEK version %d: %w", version, ErrInvalid)
	}
	v := "latest"
	if version > 0 {
		v = strconv.Itoa(version)
	}
	q := algQuery(algorithm)
	boolQuery(q, "deleted", includeDeleted)
	var d DEK
	err := c.do(ctx, c.dek, http.MethodGet, dekPath(kek, subject)+"/versions/"+v, q, nil, &d)
	return d, err
}

// CreateDEK implements [DEKRegistry.CreateDEK]. It posts to
// /keks/{kek}/deks/{subject}, falling back to /keks/{kek}/deks for
// registries that answer the newer path 405, as Confluent's clients do.
func (c *HTTPClient) CreateDEK(ctx context.Context, kek string, d DEK) (DEK, error) {
	if err := checkKEKName(kek); err != nil {
		return DEK{}, err
	}
	if err := checkSubject(d.Subject); err != nil {
		return DEK{}, err
	}
	if d.Version < 0 {
		return DEK{}, fmt.Errorf("registry: DEK version %d: %w", d.Version, ErrInvalid)
	}
	if d.Version == 0 {
		d.Version = 1
	}
	req := createDEKRequest{Subject: d.Subject, Version: d.Version, Algorithm: d.Algorithm, EncryptedKeyMaterial: d.EncryptedKeyMaterial}
	var out DEK
	err := c.do(ctx, c.dek, http.MethodPost, dekPath(kek, d.Subject), nil, req, &out)
	var e *Error
	if errors.As(err, &e) && e.StatusCode == http.StatusMethodNotAllowed {
		err = c.do(ctx, c.dek, http.MethodPost, keksPath+"/"+pathSeg(kek)+"/deks", nil, req, &out)
	}
	return out, err
}

// DeleteKEK implements [DEKRegistry.DeleteKEK].
func (c *HTTPClient) DeleteKEK(ctx context.Context, name string, permanent bool) error {
	if err := checkKEKName(name); err != nil {
		return err
	}
	q := url.Values{}
	boolQuery(q, "permanent", permanent)
	return c.do(ctx, c.dek, http.MethodDelete, keksPath+"/"+pathSeg(name), q, nil, nil)
}

// DeleteDEK implements [DEKRegistry.DeleteDEK].
func (c *HTTPClient) DeleteDEK(ctx context.Context, kek, subject, algorithm string, version int, permanent bool) error {
	if err := checkKEKName(kek); err != nil {
		return err
	}
	if err := checkSubject(subject); err != nil {
		return err
	}
	if version < 0 {
		return fmt.Errorf("registry: DEK version %d: %w", version, ErrInvalid)
	}
	p := dekPath(kek, subject)
	if version > 0 {
		p += "/versions/" + strconv.Itoa(version)
	}
	q := algQuery(algorithm)
	boolQuery(q, "permanent", permanent)
	return c.do(ctx, c.dek, http.MethodDelete, p, q, nil, nil)
}

// DEKSubjects implements [DEKRegistry.DEKSubjects].
func (c *HTTPClient) DEKSubjects(ctx context.Context, kek string, includeDeleted bool) ([]string, error) {
	if err := checkKEKName(kek); err != nil {
		return nil, err
	}
	q := url.Values{}
	boolQuery(q, "deleted", includeDeleted)
	var out []string
	err := c.do(ctx, c.dek, http.MethodGet, keksPath+"/"+pathSeg(kek)+"/deks", q, nil, &out)
	return out, err
}

// DEKVersions implements [DEKRegistry.DEKVersions].
func (c *HTTPClient) DEKVersions(ctx context.Context, kek, subject, algorithm string, includeDeleted bool) ([]int, error) {
	if err := checkKEKName(kek); err != nil {
		return nil, err
	}
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	q := algQuery(algorithm)
	boolQuery(q, "deleted", includeDeleted)
	var out []int
	err := c.do(ctx, c.dek, http.MethodGet, dekPath(kek, subject)+"/versions", q, nil, &out)
	return out, err
}
