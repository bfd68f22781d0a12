package proxy

// The record-rewriting contract the network proxy codes against: Peer,
// RecordRewriter, ErrorCode, RewriterConfig, NewRewriter and *Rewriter, as
// agreed for issue 16. Additions (nothing renamed): Policy (Reject,
// Passthrough) and ParsePolicy; RewriterConfig.LatestSchemaTTL,
// MaxBatchBytes and Logger; the errors ErrRejected (inside a
// *RecordError), ErrLegacyBatch, ErrCorruptBatch and ErrBatchTooLarge,
// which ErrorCode maps to Kafka codes.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/registry"
)

// Peer identifies the client connection a fetch response goes to.
type Peer struct {
	Listener    string // listener name from the config
	Principal   string // SASL principal, or ""
	TLSIdentity string // client certificate subject CN / SAN, or ""
}

// RecordRewriter changes the record batches of produce requests and fetch
// responses.
type RecordRewriter interface {
	// Produce returns the record batches to forward for one topic
	// partition of a produce request
	// (kmsg.ProduceRequestTopicPartition.Records). It returns the input
	// slice itself when nothing changed (no copy). An error means the
	// partition must be rejected; errors wrap ErrRejected (policy) or
	// other typed errors; ErrorCode(err) gives the Kafka error code to
	// answer with.
	Produce(ctx context.Context, topic string, partition int32, batches []byte) ([]byte, error)
	// Fetch returns the record batches the peer sees for one partition of
	// a fetch response (kmsg.FetchResponseTopicPartition.RecordBatches). A
	// trailing partial batch is passed through as is.
	Fetch(ctx context.Context, peer Peer, topic string, partition int32, batches []byte) ([]byte, error)
}

// Policy says what Produce does with a record on a topic whose schema
// encrypts when the record cannot be sealed for a reason that is the
// producer's: its key or value is not Confluent-framed, or its schema id is
// unknown for the subject.
type Policy int

const (
	// Reject fails the partition (INVALID_RECORD): nothing reaches the
	// broker unencrypted. The default.
	Reject Policy = iota
	// Passthrough forwards such records as they are.
	Passthrough
)

// String returns "reject" or "passthrough".
func (p Policy) String() string {
	if p == Passthrough {
		return "passthrough"
	}
	return "reject"
}

// ParsePolicy reads "reject" or "passthrough" (case-insensitive; "" is
// reject).
func ParsePolicy(s string) (Policy, error) {
	switch strings.ToLower(s) {
	case "", "reject":
		return Reject, nil
	case "passthrough":
		return Passthrough, nil
	}
	return Reject, fmt.Errorf("proxy: unknown policy %q (reject or passthrough)", s)
}

// Errors of Produce, besides ErrCorruptBatch and ErrBatchTooLarge.
var (
	// ErrRejected: a record of a topic whose schema encrypts could not be
	// sealed: not framed, unknown schema id (under Reject), an encryption
	// downgrade, or a body that does not match its schema. The error is a
	// *RecordError naming the record; its cause is the engine's error.
	ErrRejected = errors.New("proxy: record rejected")
	// ErrLegacyBatch: a magic 0 or 1 message set on a topic whose schema
	// encrypts, under Reject: such sets cannot be rewritten.
	ErrLegacyBatch = errors.New("proxy: magic 0/1 message set on a topic with encryption rules")
)

// RecordError is a refused record: where it is and why (never its bytes).
type RecordError struct {
	Topic     string
	Partition int32
	Offset    int64  // base offset + offset delta (producers send base offset 0)
	Part      string // "key" or "value"
	Err       error  // the engine's error (tagseal sentinels)
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("%v: %s[%d] record %d %s: %v", ErrRejected, e.Topic, e.Partition, e.Offset, e.Part, e.Err)
}

// Unwrap returns ErrRejected and the engine's error.
func (e *RecordError) Unwrap() []error { return []error{ErrRejected, e.Err} }

// Kafka error codes ErrorCode answers with.
const (
	codeNone                    int16 = 0
	codeUnknownServerError      int16 = -1
	codeCorruptMessage          int16 = 2
	codeRequestTimedOut         int16 = 7
	codeUnsupportedForMsgFormat int16 = 43
	codePolicyViolation         int16 = 44
	codeInvalidRecord           int16 = 87
	codeMessageTooLarge         int16 = 10
)

// ErrorCode maps an error from a RecordRewriter to the Kafka error code a
// partition is answered with:
//
//	nil                                   0
//	ErrEncryptionDowngrade                POLICY_VIOLATION (44)
//	ErrRejected (other causes)            INVALID_RECORD (87)
//	ErrLegacyBatch                        UNSUPPORTED_FOR_MESSAGE_FORMAT (43)
//	ErrCorruptBatch                       CORRUPT_MESSAGE (2)
//	ErrBatchTooLarge                      MESSAGE_TOO_LARGE (10)
//	KMS or registry unavailable, deadline REQUEST_TIMED_OUT (7, retriable: producers retry)
//	other registry answers (4xx)          INVALID_RECORD (87: retrying cannot help)
//	anything else                         UNKNOWN_SERVER_ERROR (-1)
//
// Outages (KMS unavailable, registry down or answering 5xx/429) are reported
// as retriable whether or not they surface inside a RecordError; a registry
// that refuses the request (a KEK name it rejects, a schema it does not
// have) fails the produce, so idempotent producers do not retry forever.
func ErrorCode(err error) int16 {
	switch {
	case err == nil:
		return codeNone
	case errors.Is(err, tagseal.ErrEncryptionDowngrade):
		return codePolicyViolation
	case errors.Is(err, tagseal.ErrKMSUnavailable), errors.Is(err, registry.ErrUnavailable),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// Transient: the producer retries.
		return codeRequestTimedOut
	case errors.Is(err, tagseal.ErrRegistry), errors.Is(err, tagseal.ErrSchemaNotFound):
		// A registry answer that retrying will not change (4xx): fail the
		// produce instead of letting idempotent producers retry forever.
		return codeInvalidRecord
	case errors.Is(err, ErrRejected):
		return codeInvalidRecord
	case errors.Is(err, ErrLegacyBatch):
		return codeUnsupportedForMsgFormat
	case errors.Is(err, ErrCorruptBatch):
		return codeCorruptMessage
	case errors.Is(err, ErrBatchTooLarge):
		return codeMessageTooLarge
	default:
		return codeUnknownServerError
	}
}

// RewriterConfig configures NewRewriter.
type RewriterConfig struct {
	// Registry is the Schema Registry (and DEK Registry unless
	// Keys.DEKRegistry is set).
	Registry registry.SchemaRegistry
	// Keys is the key configuration: RuleConfig (KMS secrets), DEK
	// registry, cache TTLs.
	Keys tagseal.Keys
	// Policy is Reject (default) or Passthrough for unframed or
	// unresolvable records on rule-carrying topics.
	Policy Policy
	// MayDecrypt says whether a peer may read fields protected by a KEK;
	// nil: nobody decrypts (every fetch passes through as stored).
	MayDecrypt func(p Peer, kekName string) bool
	// SubjectNameStrategy names subjects; nil means TopicNameStrategy.
	// With a record strategy the subject is not known from the topic, so
	// every produced batch is parsed and every record must be framed
	// (under Reject).
	SubjectNameStrategy tagseal.SubjectNameStrategy
	// LatestSchemaTTL is how long a topic's "does its latest version
	// encrypt?" answer and the downgrade guard's view are reused (zero:
	// tagseal.DefaultLatestSchemaTTL).
	LatestSchemaTTL time.Duration
	// MaxBatchBytes bounds the decompressed size of one record batch
	// (zero: 128 MiB).
	MaxBatchBytes int
	// Logger receives one Warn per fetched record that could not be
	// decrypted for a granted peer (it is then sent as stored); nil:
	// slog.Default().
	Logger *slog.Logger
}

// DefaultMaxBatchBytes is RewriterConfig.MaxBatchBytes when zero.
const DefaultMaxBatchBytes = 128 << 20

// Rewriter is the RecordRewriter on tagseal's engine: Produce seals tagged
// fields with Serializer.SealPayload, Fetch opens them with
// Deserializer.OpenPayload for granted peers. It is safe for concurrent
// use.
type Rewriter struct {
	conf           RewriterConfig
	keySer, valSer *tagseal.Serializer
	keyDe, valDe   *tagseal.Deserializer
	codec          *batchCodec
	ttl            time.Duration
	topics         sync.Map // topic → *topicRules
	log            *slog.Logger
}

var _ RecordRewriter = (*Rewriter)(nil)

// NewRewriter returns a Rewriter; conf is copied.
func NewRewriter(conf RewriterConfig) (*Rewriter, error) {
	if conf.Registry == nil {
		return nil, errors.New("proxy: RewriterConfig.Registry missing")
	}
	if conf.MaxBatchBytes <= 0 {
		conf.MaxBatchBytes = DefaultMaxBatchBytes
	}
	r := &Rewriter{conf: conf, ttl: conf.LatestSchemaTTL, log: conf.Logger}
	if r.ttl == 0 {
		r.ttl = tagseal.DefaultLatestSchemaTTL
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	var err error
	sconf := tagseal.SerializerConfig{UseLatestVersion: true, LatestSchemaTTL: conf.LatestSchemaTTL,
		SubjectNameStrategy: conf.SubjectNameStrategy, Keys: conf.Keys}
	dconf := tagseal.DeserializerConfig{LatestSchemaTTL: conf.LatestSchemaTTL,
		SubjectNameStrategy: conf.SubjectNameStrategy, Keys: conf.Keys}
	if r.keySer, err = tagseal.NewSerializer(conf.Registry, tagseal.Key, sconf); err != nil {
		return nil, err
	}
	if r.valSer, err = tagseal.NewSerializer(conf.Registry, tagseal.Value, sconf); err != nil {
		return nil, err
	}
	if r.keyDe, err = tagseal.NewDeserializer(conf.Registry, tagseal.Key, dconf); err != nil {
		return nil, err
	}
	if r.valDe, err = tagseal.NewDeserializer(conf.Registry, tagseal.Value, dconf); err != nil {
		return nil, err
	}
	if r.codec, err = newBatchCodec(conf.MaxBatchBytes); err != nil {
		return nil, err
	}
	return r, nil
}

// topicRules is what a topic's key and value subjects encrypt, for
// LatestSchemaTTL.
type topicRules struct {
	key, value tagseal.EncryptingRules
	expires    time.Time
}

// sealsKey and sealsValue say whether Produce must look at keys / values.
func (t *topicRules) sealsKey() bool   { return t.key.Encrypts || t.key.Unknown }
func (t *topicRules) sealsValue() bool { return t.value.Encrypts || t.value.Unknown }

func (r *Rewriter) rules(ctx context.Context, topic string) (*topicRules, error) {
	if v, ok := r.topics.Load(topic); ok {
		if t := v.(*topicRules); time.Now().Before(t.expires) {
			return t, nil
		}
	}
	var t topicRules
	var err error
	if t.key, err = r.keySer.TopicRules(ctx, topic); err != nil {
		return nil, err
	}
	if t.value, err = r.valSer.TopicRules(ctx, topic); err != nil {
		return nil, err
	}
	if r.ttl > 0 {
		t.expires = time.Now().Add(r.ttl)
		r.topics.Store(topic, &t)
	}
	return &t, nil
}

// Produce seals the tagged fields of every record of a topic whose key or
// value subject's latest version has an ENCRYPT or ENCRYPT_PAYLOAD rule;
// records of other topics pass untouched and uncopied (no parse). See
// RecordRewriter.
//
// Control batches pass as they are. Magic 0/1 message sets on such a
// topic are refused (ErrLegacyBatch) under Reject and pass under
// Passthrough. Every batch that is rewritten has its CRC checked first, so
// a corrupt batch is refused (ErrCorruptBatch) rather than given a valid
// CRC. Records whose key or value is null or empty pass as they are.
func (r *Rewriter) Produce(ctx context.Context, topic string, partition int32, batches []byte) ([]byte, error) {
	rules, err := r.rules(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("proxy: %s[%d]: %w", topic, partition, err)
	}
	sealKey, sealValue := rules.sealsKey(), rules.sealsValue()
	if !sealKey && !sealValue {
		return batches, nil
	}
	s := getScratch()
	defer putScratch(s)
	var hdrs []tagseal.Header
	seal := func(rec *kmsg.Record, offset int64) (key, value []byte, changed bool, err error) {
		key, value = rec.Key, rec.Value
		hdrs = convertHeaders(hdrs[:0], rec.Headers)
		if sealKey && len(rec.Key) > 0 {
			out, err := r.sealOne(ctx, r.keySer, topic, partition, offset, "key", hdrs, rec.Key)
			if err != nil {
				return nil, nil, false, err
			}
			changed = changed || !same(out, rec.Key)
			key = out
		}
		if sealValue && len(rec.Value) > 0 {
			out, err := r.sealOne(ctx, r.valSer, topic, partition, offset, "value", hdrs, rec.Value)
			if err != nil {
				return nil, nil, false, err
			}
			changed = changed || !same(out, rec.Value)
			value = out
		}
		return key, value, changed, nil
	}
	out, err := r.eachBatch(batches, s, true, seal)
	var re *RecordError
	if err != nil && !errors.As(err, &re) {
		return nil, fmt.Errorf("proxy: produce %s[%d]: %w", topic, partition, err)
	}
	return out, err
}

func (r *Rewriter) sealOne(ctx context.Context, ser *tagseal.Serializer, topic string, partition int32, offset int64, part string, hdrs []tagseal.Header, payload []byte) ([]byte, error) {
	out, err := ser.SealPayload(ctx, topic, hdrs, payload)
	if err == nil {
		return out, nil
	}
	if r.conf.Policy == Passthrough && policyCase(err) {
		return payload, nil
	}
	return nil, &RecordError{Topic: topic, Partition: partition, Offset: offset, Part: part, Err: err}
}

// policyCase reports whether a SealPayload error is one Policy decides:
// the record is not framed, or its schema id is unknown for the subject.
func policyCase(err error) bool {
	return errors.Is(err, tagseal.ErrUnknownMagicByte) || errors.Is(err, tagseal.ErrShortPayload) ||
		errors.Is(err, tagseal.ErrSchemaNotFound)
}

// Fetch decrypts, for a peer MayDecrypt grants a KEK of the topic's
// rules, the fields protected by the KEKs it grants; everyone else gets
// the record set as stored, not parsed and not copied. Batches that
// cannot be read (corrupt, legacy, control, partial at the end) and
// records that cannot be decrypted are passed as stored, the latter with
// a Warn log naming the record, never its content. See RecordRewriter.
func (r *Rewriter) Fetch(ctx context.Context, peer Peer, topic string, partition int32, batches []byte) ([]byte, error) {
	if r.conf.MayDecrypt == nil || len(batches) == 0 {
		return batches, nil
	}
	rules, err := r.rules(ctx, topic)
	if err != nil {
		// Cannot tell what to decrypt: the peer gets ciphertext, which is
		// what the broker stores.
		r.log.Warn("tagseal proxy: fetch passes records as stored: topic rules unavailable", "topic", topic, "partition", partition, "error", err)
		return batches, nil
	}
	openKey, openValue := r.granted(peer, &rules.key), r.granted(peer, &rules.value)
	if !openKey && !openValue {
		return batches, nil
	}
	mayOpen := func(kek string) bool { return r.conf.MayDecrypt(peer, kek) }
	s := getScratch()
	defer putScratch(s)
	var hdrs []tagseal.Header
	open := func(rec *kmsg.Record, offset int64) (key, value []byte, changed bool, err error) {
		key, value = rec.Key, rec.Value
		hdrs = convertHeaders(hdrs[:0], rec.Headers)
		if openKey && len(rec.Key) > 0 {
			key = r.openOne(ctx, r.keyDe, topic, partition, offset, "key", hdrs, rec.Key, mayOpen)
			changed = changed || !same(key, rec.Key)
		}
		if openValue && len(rec.Value) > 0 {
			value = r.openOne(ctx, r.valDe, topic, partition, offset, "value", hdrs, rec.Value, mayOpen)
			changed = changed || !same(value, rec.Value)
		}
		return key, value, changed, nil
	}
	return r.eachBatch(batches, s, false, open)
}

// granted reports whether the peer may use any KEK of the rules (always
// true when the subject is only known per record).
func (r *Rewriter) granted(peer Peer, rules *tagseal.EncryptingRules) bool {
	if rules.Unknown {
		return true
	}
	for _, kek := range rules.KEKs {
		if r.conf.MayDecrypt(peer, kek) {
			return true
		}
	}
	return false
}

func (r *Rewriter) openOne(ctx context.Context, de *tagseal.Deserializer, topic string, partition int32, offset int64, part string, hdrs []tagseal.Header, payload []byte, mayOpen func(string) bool) []byte {
	out, err := de.OpenPayload(ctx, topic, hdrs, payload, mayOpen)
	if err == nil {
		return out
	}
	if !errors.Is(err, tagseal.ErrUnknownMagicByte) && !errors.Is(err, tagseal.ErrShortPayload) {
		r.log.Warn("tagseal proxy: record sent as stored: it could not be decrypted",
			"topic", topic, "partition", partition, "offset", offset, "part", part, "error", err)
	}
	return payload
}

// eachBatch runs fn over the records of every magic-2 data batch and
// returns the record set with changed batches rewritten, or batches itself
// when no record changed. produce selects the strict reading: a partial
// batch, a corrupt one or (under Reject) a legacy one is an error; on
// fetch they pass as they are.
func (r *Rewriter) eachBatch(batches []byte, s *batchScratch, produce bool, fn recordFunc) ([]byte, error) {
	var out []byte // nil until a batch changes
	rest := batches
	for len(rest) > 0 {
		done := len(batches) - len(rest) // bytes of batches before this one
		batch, next, complete := nextBatch(rest)
		if !complete {
			if produce {
				return nil, fmt.Errorf("%w: %d bytes after the last whole batch", ErrCorruptBatch, len(rest))
			}
			if out != nil {
				out = append(out, rest...)
			}
			break
		}
		rest = next
		keep := func() {
			if out != nil {
				out = append(out, batch...)
			}
		}
		if batch[offMagic] != 2 {
			if produce && r.conf.Policy == Reject {
				return nil, fmt.Errorf("%w (magic %d)", ErrLegacyBatch, batch[offMagic])
			}
			keep()
			continue
		}
		rb, err := batchHeader(batch)
		if err != nil {
			if produce {
				return nil, err
			}
			keep()
			continue
		}
		if rb.Attributes&attrControl != 0 {
			keep()
			continue
		}
		var changed bool
		s.batch, changed, err = r.codec.rewriteBatch(s.batch[:0], batch, &rb, s, fn)
		if err != nil {
			if produce {
				return nil, err
			}
			r.log.Warn("tagseal proxy: batch sent as stored: it could not be rewritten", "offset", rb.FirstOffset, "error", err)
			keep()
			continue
		}
		if changed && out == nil {
			// Room for everything, plus growth for ciphertext; the
			// untouched batches before this one go in front.
			out = make([]byte, 0, len(batches)+len(batches)/2+len(s.batch)-len(batch)+256)
			out = append(out, batches[:done]...)
		}
		if changed {
			out = append(out, s.batch...)
			continue
		}
		keep()
	}
	if out == nil {
		return batches, nil
	}
	return out, nil
}

// convertHeaders gives SealPayload and OpenPayload the headers they read
// (the schema-id headers); other headers are left out, so most records
// convert nothing.
func convertHeaders(dst []tagseal.Header, hs []kmsg.Header) []tagseal.Header {
	for _, h := range hs {
		if h.Key == tagseal.ValueSchemaIDHeader || h.Key == tagseal.KeySchemaIDHeader {
			dst = append(dst, tagseal.Header{Key: h.Key, Value: h.Value})
		}
	}
	return dst
}

// same reports whether a and b are the same bytes in memory.
func same(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
