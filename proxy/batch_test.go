package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"slices"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/registry"
)

// Codecs by their attribute value; snappyXerial is snappy in the Java
// client's stream framing (codec 2 on the wire).
const (
	codecNone    = 0
	codecGzip    = 1
	codecSnappy  = 2
	codecLz4     = 3
	codecZstd    = 4
	snappyXerial = 100
)

var testCodecs = []struct {
	name  string
	codec int
}{{"none", codecNone}, {"gzip", codecGzip}, {"snappy", codecSnappy}, {"snappy-xerial", snappyXerial}, {"lz4", codecLz4}, {"zstd", codecZstd}}

// testRecord is one record of a test batch.
type testRecord struct {
	key, value []byte
	headers    []kmsg.Header
}

// batchSpec is the header of a test batch.
type batchSpec struct {
	baseOffset    int64
	leaderEpoch   int32
	codec         int
	transactional bool
	control       bool
	producerID    int64
	producerEpoch int16
	baseSequence  int32
	firstTS       int64
}

// buildBatch writes a magic-2 record batch with kmsg, compressed by
// franz-go's own compressor (or xerial-framed snappy as the Java client
// writes it), with a correct CRC-32C.
func buildBatch(t testing.TB, spec batchSpec, recs []testRecord) []byte {
	t.Helper()
	var raw []byte
	for i, r := range recs {
		rec := kmsg.Record{TimestampDelta64: int64(i) * 10, OffsetDelta: int32(i), Key: r.key, Value: r.value, Headers: r.headers}
		body := rec.AppendTo(nil) // Length 0: one varint byte
		rec.Length = int32(len(body) - 1)
		raw = rec.AppendTo(raw)
	}
	codec := spec.codec
	records := raw
	switch codec {
	case codecNone:
	case snappyXerial:
		codec = codecSnappy
		records = append([]byte{130, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}, xerialBlocks(raw, 64)...)
	default:
		cc := map[int]kgo.CompressionCodec{codecGzip: kgo.GzipCompression(), codecSnappy: kgo.SnappyCompression(),
			codecLz4: kgo.Lz4Compression(), codecZstd: kgo.ZstdCompression()}[codec]
		comp, err := kgo.DefaultCompressor(cc)
		if err != nil {
			t.Fatal(err)
		}
		out, used := comp.Compress(new(bytes.Buffer), raw)
		if int(used) != codec {
			t.Fatalf("compressed with %d, want %d", used, codec)
		}
		records = slices.Clone(out)
	}
	attrs := int16(codec)
	if spec.transactional {
		attrs |= 0x10
	}
	if spec.control {
		attrs |= 0x20
	}
	rb := kmsg.RecordBatch{FirstOffset: spec.baseOffset, PartitionLeaderEpoch: spec.leaderEpoch, Magic: 2,
		Attributes: attrs, LastOffsetDelta: int32(len(recs) - 1), FirstTimestamp: spec.firstTS,
		MaxTimestamp: spec.firstTS + int64(len(recs)-1)*10, ProducerID: spec.producerID, ProducerEpoch: spec.producerEpoch,
		FirstSequence: spec.baseSequence, NumRecords: int32(len(recs)), Records: records}
	rb.Length = int32(49 + len(records))
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// xerialBlocks frames raw as snappy-java does, in small blocks so that a
// batch spans several.
func xerialBlocks(raw []byte, block int) []byte {
	var out []byte
	for len(raw) > 0 {
		n := min(block, len(raw))
		enc := s2.EncodeSnappy(nil, raw[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(enc)))
		out = append(out, enc...)
		raw = raw[n:]
	}
	return out
}

// readRecords decodes a record set with franz-go's consumer code
// (kgo.ProcessFetchPartition), which checks every CRC: an independent
// reader of what the rewriter writes.
func readRecords(t testing.TB, set []byte) []*kgo.Record {
	t.Helper()
	recs, err := decodeRecords(set)
	if err != nil {
		t.Fatalf("franz-go cannot read the record set: %v", err)
	}
	return recs
}

func decodeRecords(set []byte) ([]*kgo.Record, error) {
	fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: "t", KeepControlRecords: true},
		&kmsg.FetchResponseTopicPartition{RecordBatches: set, HighWatermark: 1 << 40}, kgo.DefaultDecompressor(), nil)
	return fp.Records, fp.Err
}

func testRewriter(t testing.TB, policy Policy, max int) *Rewriter {
	t.Helper()
	c, err := newBatchCodec(max)
	if err != nil {
		t.Fatal(err)
	}
	return &Rewriter{conf: RewriterConfig{Policy: policy}, codec: c, log: slog.Default()}
}

func threeRecords() []testRecord {
	return []testRecord{
		{key: []byte("k0"), value: []byte("value zero"), headers: []kmsg.Header{{Key: "h", Value: []byte("v")}}},
		{key: nil, value: []byte("value one")},
		{key: []byte{}, value: nil},
	}
}

// upperOne changes the value of the record at offset delta 1.
func upperOne(r *kmsg.Record, _ int64) ([]byte, []byte, bool, error) {
	if r.OffsetDelta != 1 {
		return nil, nil, false, nil
	}
	return r.Key, bytes.ToUpper(append([]byte("changed: "), r.Value...)), true, nil
}

func TestBatchRewriteEveryCodecKeepsTheHeader(t *testing.T) {
	for _, tc := range testCodecs {
		t.Run(tc.name, func(t *testing.T) {
			r := testRewriter(t, Reject, DefaultMaxBatchBytes)
			spec := batchSpec{baseOffset: 100, leaderEpoch: 5, codec: tc.codec, transactional: true,
				producerID: 42, producerEpoch: 3, baseSequence: 7, firstTS: 1_700_000_000_000}
			in := buildBatch(t, spec, threeRecords())
			s := getScratch()
			defer putScratch(s)
			out, err := r.eachBatch(in, s, true, upperOne)
			if err != nil {
				t.Fatal(err)
			}
			if same(out, in) {
				t.Fatal("a changed batch came back as the input")
			}
			// Every header field but length and CRC is the input's.
			if !bytes.Equal(out[:8], in[:8]) || !bytes.Equal(out[12:17], in[12:17]) || !bytes.Equal(out[21:61], in[21:61]) {
				t.Fatalf("header changed:\n in % x\nout % x", in[:61], out[:61])
			}
			recs := readRecords(t, out)
			if len(recs) != 3 {
				t.Fatalf("%d records", len(recs))
			}
			want := threeRecords()
			want[1].value = []byte("CHANGED: VALUE ONE")
			for i, rec := range recs {
				if rec.Offset != 100+int64(i) || rec.ProducerID != 42 || rec.ProducerEpoch != 3 || !rec.Attrs.IsTransactional() ||
					int(rec.Attrs.CompressionType()) != int(in[22]&7) || rec.Timestamp.UnixMilli() != spec.firstTS+int64(i)*10 {
					t.Fatalf("record %d: %+v", i, rec)
				}
				if !bytes.Equal(rec.Value, want[i].value) || (rec.Value == nil) != (want[i].value == nil) {
					t.Fatalf("record %d value %q, want %q", i, rec.Value, want[i].value)
				}
				if !bytes.Equal(rec.Key, want[i].key) || (rec.Key == nil) != (want[i].key == nil) {
					t.Fatalf("record %d key %q (nil %v), want %q", i, rec.Key, rec.Key == nil, want[i].key)
				}
				if len(rec.Headers) != len(want[i].headers) {
					t.Fatalf("record %d headers %v", i, rec.Headers)
				}
			}
			// Nothing changed: the input itself, no copy.
			same2, err := r.eachBatch(in, s, true, func(*kmsg.Record, int64) ([]byte, []byte, bool, error) { return nil, nil, false, nil })
			if err != nil || !same(same2, in) {
				t.Fatalf("unchanged batch copied (err %v)", err)
			}
		})
	}
}

func TestBatchRewriteOnlyTheChangedBatch(t *testing.T) {
	r := testRewriter(t, Reject, DefaultMaxBatchBytes)
	plain := []testRecord{{value: []byte("a")}, {value: []byte("b")}}
	b1 := buildBatch(t, batchSpec{baseOffset: 0, codec: codecLz4}, plain)
	b2 := buildBatch(t, batchSpec{baseOffset: 2, codec: codecZstd}, threeRecords())
	b3 := buildBatch(t, batchSpec{baseOffset: 5, codec: codecNone}, plain)
	in := slices.Concat(b1, b2, b3)
	s := getScratch()
	defer putScratch(s)
	only := func(r *kmsg.Record, off int64) ([]byte, []byte, bool, error) {
		if off != 3 {
			return nil, nil, false, nil
		}
		return r.Key, []byte("new"), true, nil
	}
	out, err := r.eachBatch(in, s, true, only)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, b1) || !bytes.HasSuffix(out, b3) {
		t.Fatal("untouched batches changed")
	}
	recs := readRecords(t, out)
	if len(recs) != 7 || string(recs[3].Value) != "new" || string(recs[2].Value) != "value zero" || recs[6].Offset != 6 {
		t.Fatalf("records %v", recs)
	}
}

func TestBatchPartialControlLegacyCorrupt(t *testing.T) {
	s := getScratch()
	defer putScratch(s)
	data := buildBatch(t, batchSpec{baseOffset: 10, codec: codecGzip}, threeRecords())
	// Fetch: a partial batch at the end passes as it is.
	partial := buildBatch(t, batchSpec{baseOffset: 13}, threeRecords())[:40]
	r := testRewriter(t, Reject, DefaultMaxBatchBytes)
	out, err := r.eachBatch(slices.Concat(data, partial), s, false, upperOne)
	if err != nil || !bytes.HasSuffix(out, partial) || len(readRecords(t, out)) != 3 {
		t.Fatalf("fetch with partial batch: err %v", err)
	}
	// Produce: a partial batch is corrupt.
	if _, err := r.eachBatch(slices.Concat(data, partial), s, true, upperOne); !errors.Is(err, ErrCorruptBatch) || ErrorCode(err) != 2 {
		t.Fatalf("produce with partial batch: %v", err)
	}
	// A control batch is never handed to fn.
	control := buildBatch(t, batchSpec{baseOffset: 20, control: true, transactional: true}, []testRecord{{key: []byte{0, 0, 0, 1}, value: []byte{0, 0, 0, 0, 0, 0}}})
	called := false
	out, err = r.eachBatch(control, s, true, func(*kmsg.Record, int64) ([]byte, []byte, bool, error) {
		called = true
		return nil, nil, false, nil
	})
	if err != nil || called || !same(out, control) {
		t.Fatalf("control batch touched (called %v, err %v)", called, err)
	}
	// A corrupt CRC: refused on produce, passed on fetch.
	bad := slices.Clone(data)
	bad[len(bad)-1] ^= 0xff
	if _, err := r.eachBatch(bad, s, true, upperOne); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("corrupt CRC on produce: %v", err)
	}
	if out, err := r.eachBatch(bad, s, false, upperOne); err != nil || !same(out, bad) {
		t.Fatalf("corrupt CRC on fetch: %v", err)
	}
	// Legacy message sets: refused under Reject, passed under Passthrough.
	legacy := slices.Clone(data)
	legacy[16] = 1
	if _, err := r.eachBatch(legacy, s, true, upperOne); !errors.Is(err, ErrLegacyBatch) || ErrorCode(err) != 43 {
		t.Fatalf("legacy under reject: %v", err)
	}
	pass := testRewriter(t, Passthrough, DefaultMaxBatchBytes)
	if out, err := pass.eachBatch(legacy, s, true, upperOne); err != nil || !same(out, legacy) {
		t.Fatalf("legacy under passthrough: %v", err)
	}
}

func TestBatchDecompressionBound(t *testing.T) {
	big := []testRecord{{value: bytes.Repeat([]byte("z"), 1<<16)}}
	for _, tc := range testCodecs[1:] {
		t.Run(tc.name, func(t *testing.T) {
			r := testRewriter(t, Reject, 1<<12)
			s := getScratch()
			defer putScratch(s)
			_, err := r.eachBatch(buildBatch(t, batchSpec{codec: tc.codec}, big), s, true, upperOne)
			if !errors.Is(err, ErrBatchTooLarge) || ErrorCode(err) != 10 {
				t.Fatalf("%v", err)
			}
		})
	}
}

func TestErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int16
	}{
		{nil, 0},
		{&RecordError{Err: errors.New("x")}, 87},
		{context.DeadlineExceeded, 7},
		{fmt.Errorf("%w: get DEK: %w", tagseal.ErrRegistry, &registry.Error{StatusCode: 503}), 7},
		{fmt.Errorf("%w: register KEK: %w", tagseal.ErrRegistry, &registry.Error{StatusCode: 422}), 87},
		{fmt.Errorf("%w: schema 7: %w", tagseal.ErrSchemaNotFound, &registry.Error{StatusCode: 404}), 87},
		{fmt.Errorf("%w: vault", tagseal.ErrKMSUnavailable), 7},
		{errors.New("other"), -1},
	} {
		if got := ErrorCode(tc.err); got != tc.code {
			t.Errorf("ErrorCode(%v) = %d, want %d", tc.err, got, tc.code)
		}
	}
}

// A record whose length covers bytes its fields do not is corrupt: the
// rewrite would drop them, so Produce refuses the batch.
func TestBatchRecordWithUnaccountedBytes(t *testing.T) {
	rec := kmsg.Record{Value: []byte("v")}
	rec.Length = int32(len(rec.AppendTo(nil)) - 1 + 2)
	raw := append(rec.AppendTo(nil), 0xee, 0xee)
	rb := kmsg.RecordBatch{Magic: 2, NumRecords: 1, Records: raw, Length: int32(49 + len(raw)), ProducerID: -1, FirstSequence: -1}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	r := testRewriter(t, Reject, DefaultMaxBatchBytes)
	s := getScratch()
	defer putScratch(s)
	if _, err := r.eachBatch(b, s, true, upperOne); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("%v", err)
	}
}
