package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The record batch codec: split a partition's record set into batches,
// decompress a magic-2 batch, hand each record to a function that may
// replace its key and value, and write the batch back with every header
// field kept (offsets, leader epoch, attributes, timestamps, producer id,
// epoch and base sequence, record count), the batch's own codec, a new
// length and a new CRC-32C. Batches and records nobody changes are never
// copied.

// Byte offsets in a record batch (magic 2) and its legacy ancestors: the
// first 17 bytes (base offset, length, leader epoch or legacy CRC, magic)
// sit at the same place in every message format.
const (
	offLength        = 8
	offMagic         = 16
	offCRC           = 17
	offAttributes    = 21
	batchHeaderSize  = 61 // base offset … record count
	lengthFieldStart = 12 // Length counts the bytes after it
	// recordsAfterLength is the header bytes Length counts before the
	// records (kmsg: "Length minus 49").
	recordsAfterLength = batchHeaderSize - lengthFieldStart
)

// Batch attribute bits.
const (
	attrCodecMask = 0x07
	attrControl   = 0x20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorruptBatch is a record batch that cannot be read: lengths that do
// not add up, a CRC that does not match, records that overrun the batch,
// a codec that does not decode. Produce answers CORRUPT_MESSAGE.
var ErrCorruptBatch = errors.New("proxy: corrupt record batch")

// ErrBatchTooLarge is a batch whose records decompress beyond
// RewriterConfig.MaxBatchBytes.
var ErrBatchTooLarge = errors.New("proxy: record batch decompresses beyond the limit")

// nextBatch splits the first batch off a record set. complete is false
// when b holds less than one whole batch (fetch responses may end with a
// partial batch) or a length too short for any batch; then batch is nil
// and rest is b.
func nextBatch(b []byte) (batch, rest []byte, complete bool) {
	if len(b) < offMagic+1 {
		return nil, b, false
	}
	n := int(int32(binary.BigEndian.Uint32(b[offLength:])))
	if n < offMagic+1-lengthFieldStart || len(b)-lengthFieldStart < n {
		return nil, b, false
	}
	end := lengthFieldStart + n
	return b[:end:end], b[end:], true
}

// recordFunc decides a record's new key and value. It returns changed
// false (and ignores key, value) to keep the record as it is; r is only
// valid during the call.
type recordFunc func(r *kmsg.Record, offset int64) (key, value []byte, changed bool, err error)

// batchCodec decompresses and compresses record sets, as franz-go's
// client does (pkg/kgo/compression.go): the same libraries, xerial-framed
// snappy accepted on read, and a bound on decompressed size.
type batchCodec struct {
	max         int
	compressors [5]kgo.Compressor // by codec; [0] nil
	gunzip      sync.Pool         // *gzip.Reader
	unlz4       sync.Pool         // *lz4.Reader
	unzstd      sync.Pool         // *zstd.Decoder
}

func newBatchCodec(max int) (*batchCodec, error) {
	c := &batchCodec{max: max}
	for codec, cc := range map[int]kgo.CompressionCodec{
		1: kgo.GzipCompression(), 2: kgo.SnappyCompression(), 3: kgo.Lz4Compression(), 4: kgo.ZstdCompression(),
	} {
		comp, err := kgo.DefaultCompressor(cc)
		if err != nil {
			return nil, err
		}
		c.compressors[codec] = comp
	}
	c.gunzip.New = func() any { return new(gzip.Reader) }
	c.unlz4.New = func() any { return lz4.NewReader(nil) }
	c.unzstd.New = func() any {
		d, _ := zstd.NewReader(nil, zstd.WithDecoderLowmem(true), zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(uint64(max)))
		return d
	}
	return c, nil
}

// xerialPrefix starts snappy data framed by the Java client's
// snappy-java stream.
var xerialPrefix = []byte{130, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// decompress appends the decompressed records of a batch to dst.
func (c *batchCodec) decompress(dst, src []byte, codec int) ([]byte, error) {
	switch codec {
	case 0:
		return append(dst, src...), nil
	case 1:
		r := c.gunzip.Get().(*gzip.Reader)
		defer c.gunzip.Put(r)
		if err := r.Reset(bytes.NewReader(src)); err != nil {
			return nil, err
		}
		return c.readAll(dst, r)
	case 2:
		if len(src) > 16 && bytes.HasPrefix(src, xerialPrefix) {
			return c.unxerial(dst, src[16:])
		}
		return c.unsnappy(dst, src)
	case 3:
		r := c.unlz4.Get().(*lz4.Reader)
		defer c.unlz4.Put(r)
		r.Reset(bytes.NewReader(src))
		return c.readAll(dst, r)
	case 4:
		d := c.unzstd.Get().(*zstd.Decoder)
		defer c.unzstd.Put(d)
		out, err := d.DecodeAll(src, dst)
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
			return nil, ErrBatchTooLarge
		}
		return out, err
	default:
		return nil, fmt.Errorf("unknown compression codec %d", codec)
	}
}

// readAll appends r to dst, refusing more than max bytes.
func (c *batchCodec) readAll(dst []byte, r io.Reader) ([]byte, error) {
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst)-start > c.max {
			return nil, ErrBatchTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (c *batchCodec) unsnappy(dst, src []byte) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, err
	}
	if n > c.max {
		return nil, ErrBatchTooLarge
	}
	start := len(dst)
	dst = grow(dst, n)
	out, err := s2.Decode(dst[start:start+n], src)
	if err != nil {
		return nil, err
	}
	return dst[:start+len(out)], nil
}

// unxerial decodes snappy-java's stream framing: after the 16-byte header,
// blocks of a big-endian length and a raw snappy block.
func (c *batchCodec) unxerial(dst, src []byte) ([]byte, error) {
	start := len(dst)
	for len(src) > 0 {
		if len(src) < 4 {
			return nil, errors.New("malformed xerial framing")
		}
		size := int(int32(binary.BigEndian.Uint32(src)))
		src = src[4:]
		if size < 0 || size > len(src) {
			return nil, errors.New("malformed xerial framing")
		}
		n, err := s2.DecodedLen(src[:size])
		if err != nil {
			return nil, err
		}
		if len(dst)-start+n > c.max {
			return nil, ErrBatchTooLarge
		}
		at := len(dst)
		dst = grow(dst, n)
		out, err := s2.Decode(dst[at:at+n], src[:size])
		if err != nil {
			return nil, err
		}
		dst = dst[:at+len(out)]
		src = src[size:]
	}
	return dst, nil
}

// grow returns dst with n more bytes of length.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) < n {
		nd := make([]byte, len(dst), len(dst)+n+len(dst)/4)
		copy(nd, dst)
		dst = nd
	}
	return dst[:len(dst)+n]
}

// compress appends records compressed with codec to dst.
func (c *batchCodec) compress(dst []byte, buf *bytes.Buffer, records []byte, codec int) ([]byte, error) {
	if codec == 0 {
		return append(dst, records...), nil
	}
	if codec < 0 || codec >= len(c.compressors) || c.compressors[codec] == nil {
		return nil, fmt.Errorf("unknown compression codec %d", codec)
	}
	buf.Reset()
	out, used := c.compressors[codec].Compress(buf, records)
	if int(used) != codec {
		return nil, fmt.Errorf("compressing with codec %d failed", codec)
	}
	return append(dst, out...), nil
}

// batchScratch is the per-call working memory of the codec, pooled.
type batchScratch struct {
	plain   []byte // decompressed records
	records []byte // rewritten records, uncompressed
	batch   []byte // one rewritten batch
	comp    bytes.Buffer
	rec     kmsg.Record
}

var scratchPool = sync.Pool{New: func() any { return new(batchScratch) }}

const maxPooledScratch = 8 << 20

func getScratch() *batchScratch { return scratchPool.Get().(*batchScratch) }

func putScratch(s *batchScratch) {
	if cap(s.plain) > maxPooledScratch {
		s.plain = nil
	}
	if cap(s.records) > maxPooledScratch {
		s.records = nil
	}
	if cap(s.batch) > maxPooledScratch {
		s.batch = nil
	}
	if s.comp.Cap() > maxPooledScratch {
		s.comp = bytes.Buffer{}
	}
	s.rec = kmsg.Record{Headers: s.rec.Headers[:0]}
	scratchPool.Put(s)
}

// batchHeader reads a complete magic-2 batch's header and checks its CRC.
func batchHeader(batch []byte) (kmsg.RecordBatch, error) {
	var rb kmsg.RecordBatch
	if len(batch) < batchHeaderSize {
		return rb, fmt.Errorf("%w: %d-byte batch, the header alone is %d", ErrCorruptBatch, len(batch), batchHeaderSize)
	}
	if err := rb.UnsafeReadFrom(batch); err != nil {
		return rb, fmt.Errorf("%w: %v", ErrCorruptBatch, err)
	}
	if crc32.Checksum(batch[offAttributes:], castagnoli) != uint32(rb.CRC) {
		return rb, fmt.Errorf("%w: CRC mismatch in the batch at offset %d", ErrCorruptBatch, rb.FirstOffset)
	}
	if rb.NumRecords < 0 {
		return rb, fmt.Errorf("%w: negative record count", ErrCorruptBatch)
	}
	return rb, nil
}

// rewriteBatch hands every record of a complete, CRC-checked magic-2 data
// batch to fn and appends the batch to dst: rewritten when fn changed a
// record, else nothing is appended and changed is false (the caller keeps
// the input).
func (c *batchCodec) rewriteBatch(dst []byte, batch []byte, rb *kmsg.RecordBatch, s *batchScratch, fn recordFunc) (out []byte, changed bool, err error) {
	codec := int(rb.Attributes & attrCodecMask)
	plain := rb.Records
	if codec != 0 {
		if s.plain, err = c.decompress(s.plain[:0], rb.Records, codec); err != nil {
			if errors.Is(err, ErrBatchTooLarge) {
				return dst, false, fmt.Errorf("%w (batch at offset %d)", err, rb.FirstOffset)
			}
			return dst, false, fmt.Errorf("%w: codec %d: %v", ErrCorruptBatch, codec, err)
		}
		plain = s.plain
	}
	rest := plain
	building := false
	for i := int32(0); i < rb.NumRecords; i++ {
		size, n := binary.Varint(rest)
		if n <= 0 || size < 0 || int64(len(rest)-n) < size {
			return dst, false, fmt.Errorf("%w: record %d of the batch at offset %d overruns it", ErrCorruptBatch, i, rb.FirstOffset)
		}
		raw := rest[:n+int(size)]
		rest = rest[len(raw):]
		if err := s.rec.UnsafeReadFrom(raw); err != nil {
			return dst, false, fmt.Errorf("%w: record %d of the batch at offset %d: %v", ErrCorruptBatch, i, rb.FirstOffset, err)
		}
		if recordBodySize(&s.rec) != int(size) {
			// Bytes the fields do not account for: rewriting would drop them.
			return dst, false, fmt.Errorf("%w: record %d of the batch at offset %d: length %d, fields %d", ErrCorruptBatch, i, rb.FirstOffset, size, recordBodySize(&s.rec))
		}
		key, value, recChanged, err := fn(&s.rec, rb.FirstOffset+int64(s.rec.OffsetDelta))
		if err != nil {
			return dst, false, err
		}
		if !recChanged {
			if building {
				s.records = append(s.records, raw...)
			}
			continue
		}
		if !building {
			building = true
			s.records = append(s.records[:0], plain[:len(plain)-len(rest)-len(raw)]...)
		}
		s.rec.Key, s.rec.Value = key, value
		s.rec.Length = int32(recordBodySize(&s.rec))
		s.records = s.rec.AppendTo(s.records)
	}
	if len(rest) != 0 {
		return dst, false, fmt.Errorf("%w: %d bytes after the last record of the batch at offset %d", ErrCorruptBatch, len(rest), rb.FirstOffset)
	}
	if !building {
		return dst, false, nil
	}
	start := len(dst)
	dst = append(dst, batch[:batchHeaderSize]...)
	if dst, err = c.compress(dst, &s.comp, s.records, codec); err != nil {
		return dst[:start], false, err
	}
	binary.BigEndian.PutUint32(dst[start+offLength:], uint32(len(dst)-start-lengthFieldStart))
	binary.BigEndian.PutUint32(dst[start+offCRC:], crc32.Checksum(dst[start+offAttributes:], castagnoli))
	return dst, true, nil
}

// recordBodySize is the encoded size of a record after its length field,
// as kmsg.Record.AppendTo writes it.
func recordBodySize(r *kmsg.Record) int {
	ts := r.TimestampDelta64
	if ts == 0 {
		ts = int64(r.TimestampDelta)
	}
	n := 1 + varintSize(ts) + varintSize(int64(r.OffsetDelta)) + bytesFieldSize(r.Key) + bytesFieldSize(r.Value) + varintSize(int64(len(r.Headers)))
	for i := range r.Headers {
		n += varintSize(int64(len(r.Headers[i].Key))) + len(r.Headers[i].Key) + bytesFieldSize(r.Headers[i].Value)
	}
	return n
}

// bytesFieldSize is the encoded size of a record's varint-length bytes
// field (-1 for nil).
func bytesFieldSize(b []byte) int {
	if b == nil {
		return varintSize(-1)
	}
	return varintSize(int64(len(b))) + len(b)
}

func varintSize(v int64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutVarint(buf[:], v)
}
