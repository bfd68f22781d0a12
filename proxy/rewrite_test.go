package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/registry"
)

const userSchema = `{"type":"record","name":"User","namespace":"proxytest","fields":[
 {"name":"name","type":"string"},
 {"name":"email","type":"string","confluent:tags":["PII"]},
 {"name":"phone","type":"string","confluent:tags":["PII"]},
 {"name":"card","type":"bytes","confluent:tags":["PCI"]}]}`

const keySchema = `{"type":"record","name":"UserKey","namespace":"proxytest","fields":[
 {"name":"account","type":"string","confluent:tags":["PII"]}]}`

type user struct {
	Name  string `avro:"name"`
	Email string `avro:"email"`
	Phone string `avro:"phone"`
	Card  []byte `avro:"card"`
}

type userKey struct {
	Account string `avro:"account"`
}

var testKeys = tagseal.Keys{RuleConfig: map[string]string{"secret": "proxy-test-secret"}}

func encryptRule(name, kek string, tags ...string) registry.Rule {
	return registry.Rule{Name: name, Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: tags,
		Params: map[string]string{tagseal.ParamKEKName: kek, tagseal.ParamKMSType: "local-kms", tagseal.ParamKMSKeyID: "proxy-test"}}
}

// fixture is a registry where "users" encrypts (PII under kek-pii, PCI
// under kek-pci; the key's account under kek-pii) and "plain" carries the
// same schemas without rules (same ids), and records written for "plain"
// by a client without field encryption.
type fixture struct {
	reg     *registry.Memory
	users   []user
	keys    []userKey
	values  [][]byte // plain framed values
	keyVals [][]byte // plain framed keys
}

func newFixture(t testing.TB, n int) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{reg: registry.NewMemory()}
	for _, reg := range []struct {
		subject, schema string
		rules           []registry.Rule
	}{
		{"plain-value", userSchema, nil},
		{"plain-key", keySchema, nil},
		{"users-value", userSchema, []registry.Rule{encryptRule("pii", "kek-pii", "PII"), encryptRule("pci", "kek-pci", "PCI")}},
		{"users-key", keySchema, []registry.Rule{encryptRule("pii", "kek-pii", "PII")}},
	} {
		s := registry.Schema{Schema: reg.schema}
		if reg.rules != nil {
			s.RuleSet = &registry.RuleSet{DomainRules: reg.rules}
		}
		if _, err := f.reg.Register(ctx, reg.subject, s, false); err != nil {
			t.Fatal(err)
		}
	}
	plainVal, err := tagseal.NewSerializer(f.reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true})
	if err != nil {
		t.Fatal(err)
	}
	plainKey, err := tagseal.NewSerializer(f.reg, tagseal.Key, tagseal.SerializerConfig{UseLatestVersion: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		u := user{Name: fmt.Sprintf("user %d", i), Email: fmt.Sprintf("secret-mail-%03d@example.com", i),
			Phone: fmt.Sprintf("+1-555-secret-%04d", i), Card: []byte(fmt.Sprintf("4111-secret-card-%04d", i))}
		k := userKey{Account: fmt.Sprintf("secret-account-%03d", i)}
		v, err := plainVal.Serialize(ctx, "plain", &u)
		if err != nil {
			t.Fatal(err)
		}
		kb, err := plainKey.Serialize(ctx, "plain", &k)
		if err != nil {
			t.Fatal(err)
		}
		f.users, f.keys, f.values, f.keyVals = append(f.users, u), append(f.keys, k), append(f.values, v), append(f.keyVals, kb)
	}
	return f
}

// secrets lists the tagged plaintexts of record i.
func (f *fixture) secrets(i int) [][]byte {
	return [][]byte{[]byte(f.users[i].Email), []byte(f.users[i].Phone), f.users[i].Card, []byte(f.keys[i].Account)}
}

func (f *fixture) records() []testRecord {
	recs := make([]testRecord, len(f.values))
	for i := range recs {
		recs[i] = testRecord{key: f.keyVals[i], value: f.values[i], headers: []kmsg.Header{{Key: "trace", Value: []byte("t")}}}
	}
	return recs
}

func (f *fixture) rewriter(t testing.TB, conf RewriterConfig) *Rewriter {
	t.Helper()
	conf.Registry, conf.Keys = f.reg, testKeys
	r, err := NewRewriter(conf)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// grant lets peers on listener "trusted" use kek-pii and peers with
// principal "auditor" use every KEK.
func grant(p Peer, kek string) bool {
	return p.Principal == "auditor" || p.Listener == "trusted" && kek == "kek-pii"
}

func TestProduceSealsFetchOpens(t *testing.T) {
	ctx := context.Background()
	for _, tc := range testCodecs {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 20)
			r := f.rewriter(t, RewriterConfig{MayDecrypt: grant})
			in := slices.Concat(
				buildBatch(t, batchSpec{codec: tc.codec, producerID: 9, producerEpoch: 1, baseSequence: 0, transactional: true}, f.records()[:10]),
				buildBatch(t, batchSpec{baseOffset: 10, codec: tc.codec, producerID: 9, producerEpoch: 1, baseSequence: 10, transactional: true}, f.records()[10:]))
			sealed, err := r.Produce(ctx, "users", 0, in)
			if err != nil {
				t.Fatal(err)
			}
			if tc.codec == codecNone {
				for i := range f.users {
					for _, s := range f.secrets(i) {
						if bytes.Contains(sealed, s) {
							t.Fatalf("tagged plaintext %q in the produced batches", s)
						}
					}
				}
			}
			recs := readRecords(t, sealed)
			if len(recs) != 20 {
				t.Fatalf("%d records", len(recs))
			}
			de, _ := tagseal.NewDeserializer(f.reg, tagseal.Value, tagseal.DeserializerConfig{Keys: testKeys})
			kde, _ := tagseal.NewDeserializer(f.reg, tagseal.Key, tagseal.DeserializerConfig{Keys: testKeys})
			for i, rec := range recs {
				for _, s := range f.secrets(i) {
					if bytes.Contains(rec.Value, s) || bytes.Contains(rec.Key, s) {
						t.Fatalf("record %d carries tagged plaintext", i)
					}
				}
				if rec.ProducerID != 9 || rec.Offset != int64(i) || !rec.Attrs.IsTransactional() || len(rec.Headers) != 1 {
					t.Fatalf("record %d metadata changed: %+v", i, rec)
				}
				var u user
				if err := de.DeserializeInto(ctx, "users", rec.Value, &u); err != nil {
					t.Fatal(err)
				}
				var k userKey
				if err := kde.DeserializeInto(ctx, "users", rec.Key, &k); err != nil {
					t.Fatal(err)
				}
				if u.Email != f.users[i].Email || u.Phone != f.users[i].Phone || !bytes.Equal(u.Card, f.users[i].Card) || k != f.keys[i] {
					t.Fatalf("record %d reads back as %+v %+v", i, u, k)
				}
			}

			// The auditor gets the original plaintext framing back.
			opened, err := r.Fetch(ctx, Peer{Principal: "auditor"}, "users", 0, sealed)
			if err != nil {
				t.Fatal(err)
			}
			for i, rec := range readRecords(t, opened) {
				if !bytes.Equal(rec.Value, f.values[i]) || !bytes.Equal(rec.Key, f.keyVals[i]) {
					t.Fatalf("record %d: the granted peer does not get the plaintext framing back", i)
				}
			}
			// A peer granted kek-pii only: email, phone and key in clear, card sealed.
			partly, err := r.Fetch(ctx, Peer{Listener: "trusted"}, "users", 0, sealed)
			if err != nil {
				t.Fatal(err)
			}
			for i, rec := range readRecords(t, partly) {
				if !bytes.Contains(rec.Value, []byte(f.users[i].Email)) || bytes.Contains(rec.Value, f.users[i].Card) ||
					!bytes.Equal(rec.Key, f.keyVals[i]) {
					t.Fatalf("record %d: kek-pii grant opened the wrong fields", i)
				}
			}
			// Anyone else gets the stored bytes, the very slice.
			stored, err := r.Fetch(ctx, Peer{Listener: "public"}, "users", 0, sealed)
			if err != nil || !same(stored, sealed) {
				t.Fatalf("ungranted peer: err %v, same slice %v", err, same(stored, sealed))
			}
			// A partial batch at the end of a fetch passes as it is.
			withPartial := append(slices.Clone(sealed), in[:30]...)
			out, err := r.Fetch(ctx, Peer{Principal: "auditor"}, "users", 0, withPartial)
			if err != nil || !bytes.HasSuffix(out, in[:30]) || len(readRecords(t, out)) != 20 {
				t.Fatalf("partial trailing batch: %v", err)
			}
			// Producing what is already sealed changes nothing.
			again, err := r.Produce(ctx, "users", 0, sealed)
			if err != nil || !same(again, sealed) {
				t.Fatalf("sealed batches were rewritten again (err %v)", err)
			}
		})
	}
}

func TestProduceTopicWithoutRulesIsUntouched(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 5)
	r := f.rewriter(t, RewriterConfig{MayDecrypt: grant})
	in := buildBatch(t, batchSpec{codec: codecLz4}, f.records())
	for _, topic := range []string{"plain", "unknown-topic"} {
		out, err := r.Produce(ctx, topic, 0, in)
		if err != nil || !same(out, in) {
			t.Fatalf("%s: err %v, same %v", topic, err, same(out, in))
		}
		allocs := testing.AllocsPerRun(100, func() {
			if out, err := r.Produce(ctx, topic, 0, in); err != nil || !same(out, in) {
				t.Fatal("changed")
			}
			if out, err := r.Fetch(ctx, Peer{Principal: "auditor"}, topic, 0, in); err != nil || !same(out, in) {
				t.Fatal("changed")
			}
		})
		if allocs != 0 {
			t.Fatalf("%s: %v allocations per Produce+Fetch of an untouched topic", topic, allocs)
		}
	}
	// Nobody may decrypt: fetch never parses.
	closed := f.rewriter(t, RewriterConfig{})
	if allocs := testing.AllocsPerRun(100, func() { _, _ = closed.Fetch(ctx, Peer{Principal: "auditor"}, "users", 0, in) }); allocs != 0 {
		t.Fatalf("%v allocations per fetch without MayDecrypt", allocs)
	}
}

func TestProducePolicy(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 3)
	recs := f.records()
	recs[1].value = []byte(`{"email":"unframed-secret@example.com"}`)
	recs[2].key = append([]byte{0, 0, 0, 0x7f, 0x7f}, f.keyVals[2][5:]...) // an id the registry does not know
	in := buildBatch(t, batchSpec{codec: codecGzip}, recs)

	rej := f.rewriter(t, RewriterConfig{})
	_, err := rej.Produce(ctx, "users", 3, in)
	var re *RecordError
	if !errors.Is(err, ErrRejected) || !errors.Is(err, tagseal.ErrUnknownMagicByte) || !errors.As(err, &re) ||
		re.Offset != 1 || re.Part != "value" || re.Partition != 3 || ErrorCode(err) != 87 {
		t.Fatalf("reject policy: %v", err)
	}
	if bytes.Contains([]byte(err.Error()), []byte("unframed-secret")) {
		t.Fatal("the error carries the record's content")
	}
	only2 := buildBatch(t, batchSpec{codec: codecGzip}, recs[2:])
	if _, err := rej.Produce(ctx, "users", 0, only2); !errors.Is(err, tagseal.ErrSchemaNotFound) || ErrorCode(err) != 87 {
		t.Fatalf("unknown id under reject: %v", err)
	}

	pass := f.rewriter(t, RewriterConfig{Policy: Passthrough})
	out, err := pass.Produce(ctx, "users", 0, in)
	if err != nil {
		t.Fatal(err)
	}
	got := readRecords(t, out)
	if !bytes.Equal(got[1].Value, recs[1].value) || !bytes.Equal(got[2].Key, recs[2].key) {
		t.Fatal("passthrough changed the records it cannot seal")
	}
	for _, s := range f.secrets(0) {
		if bytes.Contains(got[0].Value, s) || bytes.Contains(got[0].Key, s) {
			t.Fatal("passthrough left a sealable record in clear")
		}
	}
	if p, err := ParsePolicy("PassThrough"); err != nil || p != Passthrough {
		t.Fatalf("ParsePolicy: %v %v", p, err)
	}
	if _, err := ParsePolicy("allow"); err == nil {
		t.Fatal("ParsePolicy accepted an unknown policy")
	}
}

// A record framed with an older version of the subject that has no
// encryption rules is refused under either policy (POLICY_VIOLATION).
func TestProduceDowngrade(t *testing.T) {
	ctx := context.Background()
	reg := registry.NewMemory()
	old, err := reg.Register(ctx, "orders-value", registry.Schema{Schema: `{"type":"record","name":"User","namespace":"proxytest","fields":[
 {"name":"name","type":"string"}]}`}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(ctx, "orders-value", registry.Schema{Schema: userSchema,
		RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{encryptRule("pii", "kek-pii", "PII")}}}, false); err != nil {
		t.Fatal(err)
	}
	value := []byte{0, 0, 0, 0, byte(old.ID), 6, 'a', 'd', 'a'}
	in := buildBatch(t, batchSpec{}, []testRecord{{value: value}})
	for _, policy := range []Policy{Reject, Passthrough} {
		r, err := NewRewriter(RewriterConfig{Registry: reg, Keys: testKeys, Policy: policy})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Produce(ctx, "orders", 0, in); !errors.Is(err, tagseal.ErrEncryptionDowngrade) || ErrorCode(err) != 44 {
			t.Fatalf("%v: %v", policy, err)
		}
	}
}

func TestNewRewriterNeedsARegistry(t *testing.T) {
	if _, err := NewRewriter(RewriterConfig{}); err == nil {
		t.Fatal("no error without a registry")
	}
}

// With RecordNameStrategy the subject comes from each record's schema:
// every batch is parsed, and records are sealed under their record's
// subject whatever the topic.
func TestProduceRecordNameStrategy(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 4)
	if _, err := f.reg.Register(ctx, "proxytest.User", registry.Schema{Schema: userSchema,
		RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{encryptRule("pii", "kek-pii", "PII")}}}, false); err != nil {
		t.Fatal(err)
	}
	r := f.rewriter(t, RewriterConfig{SubjectNameStrategy: tagseal.RecordNameStrategy, MayDecrypt: grant})
	recs := f.records()
	for i := range recs {
		recs[i].key = nil
	}
	in := buildBatch(t, batchSpec{codec: codecSnappy}, recs)
	out, err := r.Produce(ctx, "any-topic", 0, in)
	if err != nil {
		t.Fatal(err)
	}
	de, _ := tagseal.NewDeserializer(f.reg, tagseal.Value, tagseal.DeserializerConfig{Keys: testKeys, SubjectNameStrategy: tagseal.RecordNameStrategy})
	for i, rec := range readRecords(t, out) {
		if bytes.Contains(rec.Value, []byte(f.users[i].Email)) || !bytes.Contains(rec.Value, f.users[i].Card) {
			t.Fatalf("record %d: PII not sealed, or PCI (no rule under this subject) sealed", i)
		}
		var u user
		if err := de.DeserializeInto(ctx, "any-topic", rec.Value, &u); err != nil || u.Email != f.users[i].Email {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	back, err := r.Fetch(ctx, Peer{Listener: "trusted"}, "any-topic", 0, out)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range readRecords(t, back) {
		if !bytes.Equal(rec.Value, f.values[i]) {
			t.Fatalf("record %d not opened for the granted peer", i)
		}
	}
	// Unframed records cannot be placed under any subject: refused.
	if _, err := r.Produce(ctx, "any-topic", 0, buildBatch(t, batchSpec{}, []testRecord{{value: []byte("x")}})); !errors.Is(err, ErrRejected) {
		t.Fatalf("unframed under a record strategy: %v", err)
	}
}

// Produce and Fetch from many goroutines on one Rewriter (run with -race).
func TestRewriterConcurrent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 8)
	r := f.rewriter(t, RewriterConfig{MayDecrypt: grant})
	in := buildBatch(t, batchSpec{codec: codecZstd}, f.records())
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for range 20 {
				sealed, err := r.Produce(ctx, "users", int32(g), in)
				if err != nil {
					errs <- err
					return
				}
				back, err := r.Fetch(ctx, Peer{Principal: "auditor"}, "users", int32(g), sealed)
				if err != nil {
					errs <- err
					return
				}
				recs, err := decodeRecords(back)
				if err != nil || len(recs) != len(f.values) {
					errs <- fmt.Errorf("goroutine %d: %d records, %v", g, len(recs), err)
					return
				}
				for i, rec := range recs {
					if !bytes.Equal(rec.Value, f.values[i]) || !bytes.Equal(rec.Key, f.keyVals[i]) {
						errs <- fmt.Errorf("goroutine %d: record %d differs after the round trip", g, i)
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
