package proxy

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tagseal/tagseal"
)

// FuzzProduceBatches: any bytes as the record set of a produce request on
// a topic whose schema encrypts never panic, fail only with the typed
// errors ErrorCode knows, and what Produce lets through is a record set
// franz-go reads in which no record holds the fixture's tagged plaintext.
// Seeds: every codec, a CSFLE-sealed set, unframed values, a partial batch
// (testdata/fuzz/FuzzProduceBatches holds more).
func FuzzProduceBatches(f *testing.F) {
	fx := newFixture(f, 3)
	r := fx.rewriter(f, RewriterConfig{MaxBatchBytes: 1 << 20})
	for _, tc := range testCodecs {
		f.Add(buildBatch(f, batchSpec{codec: tc.codec, producerID: 1, transactional: true}, fx.records()))
	}
	sealed, err := r.Produce(context.Background(), "users", 0, buildBatch(f, batchSpec{}, fx.records()))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add(buildBatch(f, batchSpec{codec: codecLz4}, []testRecord{{value: []byte("not framed")}, {value: []byte{0, 0, 0, 0}}}))
	f.Add(buildBatch(f, batchSpec{}, fx.records())[:70])
	f.Add([]byte{})
	secrets := [][]byte{}
	for i := range fx.users {
		secrets = append(secrets, fx.secrets(i)...)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := r.Produce(context.Background(), "users", 0, in)
		if err != nil {
			if ErrorCode(err) == -1 && !errors.Is(err, tagseal.ErrInvalidRule) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if same(out, in) {
			return // nothing sealable changed; leak checks need decoding below
		}
		fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: "users", KeepControlRecords: true},
			&kmsg.FetchResponseTopicPartition{RecordBatches: out, HighWatermark: 1 << 40}, kgo.DefaultDecompressor(), nil)
		if fp.Err != nil {
			t.Fatalf("Produce wrote a record set franz-go cannot read: %v", fp.Err)
		}
		for _, rec := range fp.Records {
			for _, s := range secrets {
				if bytes.Contains(rec.Value, s) || bytes.Contains(rec.Key, s) {
					t.Fatalf("tagged plaintext %q let through", s)
				}
			}
		}
	})
}
