package proxy

import (
	"context"
	"testing"

	"github.com/tagseal/tagseal"
)

// Benchmarks per record of a 100-record batch whose values have three
// tagged fields (two strings, one bytes field; null keys): Produce
// (decompress, seal, recompress, CRC), Fetch for a peer granted every KEK,
// and, for scale, tagseal's Serialize of the same 100 records (encode and
// seal, what a CSFLE client pays) and Deserialize.
//
//	go test ./proxy -run '^$' -bench . -benchmem

const benchRecords = 100

func benchFixture(b *testing.B, codec int) (*fixture, *Rewriter, []byte, []byte) {
	b.Helper()
	fx := newFixture(b, benchRecords)
	recs := fx.records()
	for i := range recs {
		recs[i].key, recs[i].headers = nil, nil
	}
	r := fx.rewriter(b, RewriterConfig{MayDecrypt: func(Peer, string) bool { return true }})
	in := buildBatch(b, batchSpec{codec: codec, producerID: 1, baseSequence: 0}, recs)
	sealed, err := r.Produce(context.Background(), "users", 0, in)
	if err != nil {
		b.Fatal(err)
	}
	return fx, r, in, sealed
}

func perRecord(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRecords, "ns/record")
}

func BenchmarkProduce(b *testing.B) {
	for _, c := range []struct {
		name  string
		codec int
	}{{"none", codecNone}, {"lz4", codecLz4}} {
		b.Run(c.name, func(b *testing.B) {
			_, r, in, _ := benchFixture(b, c.codec)
			ctx := context.Background()
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := r.Produce(ctx, "users", 0, in); err != nil {
					b.Fatal(err)
				}
			}
			perRecord(b)
		})
	}
}

func BenchmarkFetch(b *testing.B) {
	for _, c := range []struct {
		name  string
		codec int
	}{{"none", codecNone}, {"lz4", codecLz4}} {
		b.Run(c.name, func(b *testing.B) {
			_, r, _, sealed := benchFixture(b, c.codec)
			ctx := context.Background()
			peer := Peer{Principal: "reader"}
			b.SetBytes(int64(len(sealed)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := r.Fetch(ctx, peer, "users", 0, sealed); err != nil {
					b.Fatal(err)
				}
			}
			perRecord(b)
		})
	}
}

// BenchmarkSerialize100 is the client-side cost of the same records:
// Serialize (encode + seal) and Deserialize (open + decode) of 100 values.
func BenchmarkSerialize100(b *testing.B) {
	fx, _, _, _ := benchFixture(b, codecNone)
	ctx := context.Background()
	ser, err := tagseal.NewSerializer(fx.reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true, Keys: testKeys})
	if err != nil {
		b.Fatal(err)
	}
	de, err := tagseal.NewDeserializer(fx.reg, tagseal.Value, tagseal.DeserializerConfig{Keys: testKeys})
	if err != nil {
		b.Fatal(err)
	}
	out := make([][]byte, benchRecords)
	b.Run("serialize", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i := range fx.users {
				if out[i], err = ser.Serialize(ctx, "users", &fx.users[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
		perRecord(b)
	})
	b.Run("deserialize", func(b *testing.B) {
		b.ReportAllocs()
		var u user
		for b.Loop() {
			for i := range out {
				if err := de.DeserializeInto(ctx, "users", out[i], &u); err != nil {
					b.Fatal(err)
				}
			}
		}
		perRecord(b)
	})
}
