package tagseal_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/registry"
)

const keysSchema = `{"type":"record","name":"Account","fields":[
	{"name":"id","type":"string"},
	{"name":"email","type":"string","confluent:tags":["PII"]},
	{"name":"iban","type":"string","confluent:tags":["PII"]}]}`

type account struct {
	ID    string `avro:"id"`
	Email string `avro:"email"`
	IBAN  string `avro:"iban"`
}

func keysRegistry(t testing.TB, subject string, params map[string]string) *registry.Memory {
	t.Helper()
	reg := registry.NewMemory()
	p := map[string]string{tagseal.ParamKEKName: "keys-kek", tagseal.ParamKMSType: "local-kms", tagseal.ParamKMSKeyID: "keys-key"}
	for k, v := range params {
		p[k] = v
	}
	_, err := reg.Register(context.Background(), subject, registry.Schema{Schema: keysSchema, RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{{
		Name: "pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"}, Params: p}}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// recorder implements every hook.
type recorder struct {
	mu                     sync.Mutex
	kms, registry, created []string
	hits, misses           int
	encryptions            map[int]int64
}

func (r *recorder) OnKMSCall(c tagseal.KMSCall) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kms = append(r.kms, c.Op+" "+c.KMSType+" "+c.KEK)
}

func (r *recorder) OnRegistryCall(c tagseal.RegistryCall) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.registry = append(r.registry, c.Op)
}

func (r *recorder) OnDEKCache(l tagseal.DEKCacheLookup) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l.Hit {
		r.hits++
	} else {
		r.misses++
	}
}

func (r *recorder) OnDEKCreated(c tagseal.DEKCreated) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.created = append(r.created, c.Reason)
}

func (r *recorder) OnEncryptions(e tagseal.Encryptions) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.encryptions == nil {
		r.encryptions = map[int]int64{}
	}
	r.encryptions[e.Version] += e.Count
}

// A serializer with a usage limit of 100 writes two tagged fields per
// record: 250 records are 500 encryptions, five versions, all readable.
// The observer sees every creation and batch.
func TestUsageLimitThroughSerializer(t *testing.T) {
	ctx := context.Background()
	reg := keysRegistry(t, "accounts-value", map[string]string{tagseal.ParamDEKExpiryDays: "30", tagseal.ParamDEKMaxEncryptions: "100"})
	obs := &recorder{}
	keys := tagseal.Keys{RuleConfig: map[string]string{"secret": "keys-secret"}, Observer: obs}
	ser, err := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	de, err := tagseal.NewDeserializer(reg, tagseal.Value, tagseal.DeserializerConfig{Keys: tagseal.Keys{RuleConfig: keys.RuleConfig}})
	if err != nil {
		t.Fatal(err)
	}
	var payloads [][]byte
	for i := range 250 {
		b, err := ser.Serialize(ctx, "accounts", &account{ID: string(rune('a' + i%26)), Email: "e@x", IBAN: "DE00"})
		if err != nil {
			t.Fatal(err)
		}
		payloads = append(payloads, b)
	}
	for _, b := range payloads {
		var a account
		if err := de.DeserializeInto(ctx, "accounts", b, &a); err != nil || a.Email != "e@x" || a.IBAN != "DE00" {
			t.Fatalf("read back %+v: %v", a, err)
		}
	}
	versions, err := reg.DEKVersions(ctx, "keys-kek", "accounts-value", tagseal.AES256GCM, false)
	if err != nil || len(versions) != 5 {
		t.Fatalf("DEK versions %v (%v), want 5", versions, err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.created) != 5 || obs.created[0] != "first" || obs.created[4] != "usage-limit" {
		t.Fatalf("created %v", obs.created)
	}
	if len(obs.kms) == 0 || obs.kms[len(obs.kms)-1] != "wrap local-kms keys-kek" {
		t.Fatalf("kms calls %v", obs.kms)
	}
	if len(obs.registry) == 0 || obs.hits < 240 || obs.misses < 1 {
		t.Fatalf("registry calls %v, %d hits, %d misses", obs.registry, obs.hits, obs.misses)
	}
	for v := 1; v <= 4; v++ { // retired versions report their remainder
		if obs.encryptions[v] != 100 {
			t.Fatalf("encryptions reported %v, want 100 for versions 1-4", obs.encryptions)
		}
	}
}

// A usage limit on a rule that does not rotate is a rule error when the
// rule is used, and a lint finding that says why.
func TestUsageLimitWithoutRotation(t *testing.T) {
	ctx := context.Background()
	reg := keysRegistry(t, "norot-value", map[string]string{tagseal.ParamDEKMaxEncryptions: "100"})
	ser, err := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true,
		Keys: tagseal.Keys{RuleConfig: map[string]string{"secret": "keys-secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ser.Serialize(ctx, "norot", &account{ID: "1", Email: "e@x", IBAN: "DE00"})
	if !errors.Is(err, tagseal.ErrInvalidRule) || !errors.Is(err, tagseal.ErrUsageLimitNeedsRotation) {
		t.Fatalf("serialize: %v, want ErrInvalidRule and ErrUsageLimitNeedsRotation", err)
	}
	latest, err := reg.Latest(ctx, "norot-value")
	if err != nil {
		t.Fatal(err)
	}
	findings, err := tagseal.Lint(ctx, reg, latest.Schema)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range findings {
		found = found || f.Check == "usage-limit-without-rotation" && f.Severity == "error" && f.Where == "pii"
	}
	if !found {
		t.Fatalf("findings %+v: want usage-limit-without-rotation", findings)
	}
}

// Without an observer and without a limit (a non-rotating rule), a warm
// serializer allocates exactly what it did: the hooks cost nothing.
func TestObserverNilCostsNoAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not stable under -race (sync.Pool drops items); make purego runs this test without it")
	}
	ctx := context.Background()
	measure := func(params map[string]string, obs tagseal.Observer) float64 {
		reg := keysRegistry(t, "alloc-value", params)
		ser, err := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true,
			Keys: tagseal.Keys{RuleConfig: map[string]string{"secret": "keys-secret"}, Observer: obs}})
		if err != nil {
			t.Fatal(err)
		}
		v := &account{ID: "1", Email: "e@x", IBAN: "DE00"}
		if _, err := ser.Serialize(ctx, "alloc", v); err != nil {
			t.Fatal(err)
		}
		return testing.AllocsPerRun(200, func() {
			if _, err := ser.Serialize(ctx, "alloc", v); err != nil {
				t.Fatal(err)
			}
		})
	}
	base := measure(nil, nil)
	limited := measure(map[string]string{tagseal.ParamDEKExpiryDays: "30", tagseal.ParamDEKMaxEncryptions: "1000000"}, nil)
	observed := measure(map[string]string{tagseal.ParamDEKExpiryDays: "30"}, struct{ tagseal.EncryptionsHook }{countHook{}})
	if limited != base || observed != base {
		t.Fatalf("allocs per record: %v plain, %v with a usage limit, %v with an encryptions hook", base, limited, observed)
	}
}

type countHook struct{}

func (countHook) OnEncryptions(tagseal.Encryptions) {}
