package registryoracle

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"slices"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/proxy"
	"github.com/tagseal/tagseal/registry"
)

// The proxy's record rewriter against Confluent Go, for Avro, JSON Schema
// and Protobuf: records written by a client without field encryption
// (plain encoding, Confluent framing) go through Rewriter.Produce, and
// Confluent Go's CSFLE deserializer reads every tagged field back; a
// record Confluent Go encrypted itself goes through Produce unchanged; a
// granted Fetch gives back the plain framing. The registry is
// registry.Memory over HTTP, which both sides use.
func TestProxyRewriterAgainstConfluentGo(t *testing.T) {
	ctx := context.Background()
	pureReg, err := registry.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	keys := tagseal.Keys{RuleConfig: ruleConfig}
	plainSer, err := tagseal.NewSerializer(pureReg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true})
	if err != nil {
		t.Fatal(err)
	}
	rw, err := proxy.NewRewriter(proxy.RewriterConfig{Registry: pureReg, Keys: keys,
		MayDecrypt: func(p proxy.Peer, _ string) bool { return p.Principal == "reader" }})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range scopeFormats() {
		for codecName, codec := range map[string]kgo.CompressionCodec{"none": kgo.NoCompression(), "lz4": kgo.Lz4Compression()} {
			t.Run(f.name+"/"+codecName, func(t *testing.T) {
				topic := "proxy-" + f.name
				plainTopic := "proxy-plain-" + f.name
				for _, reg := range []struct {
					subject string
					rules   *schemaregistry.RuleSet
				}{{plainTopic + "-value", nil}, {topic + "-value", &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{encryptRule("pii", "proxy-kek-"+f.name, "PII")}}}} {
					if _, err := client.Register(reg.subject, schemaregistry.SchemaInfo{SchemaType: f.schemaType, Schema: f.schema, RuleSet: reg.rules}, false); err != nil {
						t.Fatal(err)
					}
				}
				value := f.value(t)
				plain, err := plainSer.Serialize(ctx, plainTopic, value)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Contains(plain, []byte(scopeSecret)) {
					t.Fatal("the plain record is not plaintext")
				}
				cser, cread := f.confluent(t, client, value)
				theirs, err := cser.Serialize(topic, f.value(t))
				if err != nil {
					t.Fatal(err)
				}
				in := oracleBatch(t, codec, [][]byte{plain, theirs, plain})
				sealed, err := rw.Produce(ctx, topic, 0, in)
				if err != nil {
					t.Fatal(err)
				}
				recs := oracleRecords(t, sealed)
				if len(recs) != 3 {
					t.Fatalf("%d records", len(recs))
				}
				for i, rec := range recs {
					if bytes.Contains(rec.Value, []byte(scopeSecret)) {
						t.Fatalf("record %d: tagged plaintext after Produce", i)
					}
					got, err := cread(rec.Value, topic)
					if err != nil {
						t.Fatalf("record %d: Confluent Go cannot read what the proxy wrote: %v", i, err)
					}
					if !f.equal(got, value) {
						t.Fatalf("record %d: Confluent Go read %v, want %v", i, got, value)
					}
				}
				if !bytes.Equal(recs[1].Value, theirs) {
					t.Fatal("the record Confluent Go encrypted was encrypted again")
				}
				opened, err := rw.Fetch(ctx, proxy.Peer{Principal: "reader"}, topic, 0, sealed)
				if err != nil {
					t.Fatal(err)
				}
				back := oracleRecords(t, opened)
				if !bytes.Equal(back[0].Value, plain) || !bytes.Equal(back[2].Value, plain) || !bytes.Contains(back[1].Value, []byte(scopeSecret)) {
					t.Fatal("a granted fetch does not give back the plain records")
				}
				if stored, err := rw.Fetch(ctx, proxy.Peer{Principal: "other"}, topic, 0, sealed); err != nil || !bytes.Equal(stored, sealed) {
					t.Fatalf("an ungranted fetch changed the records (err %v)", err)
				}
			})
		}
	}
}

// oracleBatch writes values as one magic-2 batch with kmsg and franz-go's
// compressor.
func oracleBatch(t *testing.T, codec kgo.CompressionCodec, values [][]byte) []byte {
	t.Helper()
	var raw []byte
	for i, v := range values {
		rec := kmsg.Record{OffsetDelta: int32(i), Value: v}
		rec.Length = int32(len(rec.AppendTo(nil)) - 1)
		raw = rec.AppendTo(raw)
	}
	records, attrs := raw, int16(0)
	comp, err := kgo.DefaultCompressor(codec)
	if err != nil {
		t.Fatal(err)
	}
	if comp != nil {
		out, used := comp.Compress(new(bytes.Buffer), raw)
		records, attrs = slices.Clone(out), int16(used)
	}
	rb := kmsg.RecordBatch{Magic: 2, Attributes: attrs, LastOffsetDelta: int32(len(values) - 1), ProducerID: -1, ProducerEpoch: -1,
		FirstSequence: -1, NumRecords: int32(len(values)), Records: records, Length: int32(49 + len(records))}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// oracleRecords reads a record set with franz-go's consumer code, which
// checks every CRC.
func oracleRecords(t *testing.T, set []byte) []*kgo.Record {
	t.Helper()
	fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: "t"},
		&kmsg.FetchResponseTopicPartition{RecordBatches: set, HighWatermark: 1 << 40}, kgo.DefaultDecompressor(), nil)
	if fp.Err != nil {
		t.Fatal(fp.Err)
	}
	return fp.Records
}
