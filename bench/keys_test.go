package bench

import (
	"context"
	"testing"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/registry"
)

// noopObserver implements every tagseal hook and does nothing: the cost
// measured is the hooks' own.
type noopObserver struct{}

func (noopObserver) OnKMSCall(tagseal.KMSCall)           {}
func (noopObserver) OnRegistryCall(tagseal.RegistryCall) {}
func (noopObserver) OnDEKCache(tagseal.DEKCacheLookup)   {}
func (noopObserver) OnDEKCreated(tagseal.DEKCreated)     {}
func (noopObserver) OnEncryptions(tagseal.Encryptions)   {}

// BenchmarkKeys measures what issue 14's key handling adds to a warm
// serializer (avro-flat, pure API, embedded registry): "plain" is a
// non-rotating rule without observer, the path every earlier benchmark
// measures; "rotating" has the default usage limit (one atomic add per
// encrypted value); "observer" adds an Observer implementing every hook
// (a call per record for the DEK cache hit, one per 1024 encryptions).
func BenchmarkKeys(b *testing.B) {
	r := records[0]
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		params map[string]string
		obs    tagseal.Observer
	}{
		{"plain", nil, nil},
		{"rotating", map[string]string{tagseal.ParamDEKExpiryDays: "30"}, nil},
		{"rotating+observer", map[string]string{tagseal.ParamDEKExpiryDays: "30"}, noopObserver{}},
	} {
		subject := "keys-" + c.name
		params := map[string]string{"encrypt.kek.name": "bench-keys", "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "k"}
		for k, v := range c.params {
			params[k] = v
		}
		if _, err := memory.Register(ctx, subject+"-value", registry.Schema{Schema: r.schema, SchemaType: r.format,
			RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{{Name: "pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT",
				Tags: []string{"PII"}, Params: params}}}}, false); err != nil {
			b.Fatal(err)
		}
		s, err := tagseal.NewSerializer(memory, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true,
			Keys: tagseal.Keys{RuleConfig: ruleConfig, Observer: c.obs}})
		if err != nil {
			b.Fatal(err)
		}
		v := r.value()
		if _, err := s.Serialize(ctx, subject, v); err != nil {
			b.Fatal(err)
		}
		b.Run(r.name+"/serialize/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Serialize(ctx, subject, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
