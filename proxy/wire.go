package proxy

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxFrame bounds a request or response frame, as the broker's
// socket.request.max.bytes does (its default, 100 MiB).
const maxFrame = 100 << 20

// Kafka API keys the proxy decodes.
const (
	keyProduce          int16 = 0
	keyFetch            int16 = 1
	keyMetadata         int16 = 3
	keyFindCoordinator  int16 = 10
	keySaslHandshake    int16 = 17
	keyApiVersions      int16 = 18
	keySaslAuthenticate int16 = 36
	keyDescribeCluster  int16 = 60
)

// ErrProtocol reports a frame the proxy cannot parse or a response that
// does not answer the request it was waiting for; the connection closes.
var ErrProtocol = errors.New("proxy: kafka protocol error")

// readFrame reads one size-prefixed frame and returns it without the prefix.
func readFrame(r *bufio.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 8 || n > maxFrame {
		return nil, fmt.Errorf("%w: frame size %d", ErrProtocol, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// writeFrame writes body with its size prefix in one writev.
func writeFrame(w net.Conn, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var size [4]byte
	binary.BigEndian.PutUint32(size[:], uint32(n))
	bufs := net.Buffers(append([][]byte{size[:]}, parts...))
	_, err := bufs.WriteTo(w)
	return err
}

// reqHeader is a parsed request header. body is where the request
// message starts, valid only when known is true (the proxy knows the API
// key and so whether the header carries tagged fields).
type reqHeader struct {
	key, version int16
	corr         int32
	body         int
	known        bool
}

// parseRequestHeader reads a request header (v1, or v2 for flexible
// versions).
func parseRequestHeader(b []byte) (reqHeader, error) {
	h := reqHeader{
		key:     int16(binary.BigEndian.Uint16(b[0:])),
		version: int16(binary.BigEndian.Uint16(b[2:])),
		corr:    int32(binary.BigEndian.Uint32(b[4:])),
	}
	req := kmsg.RequestForKey(h.key)
	if req == nil || h.version < 0 || h.version > req.MaxVersion() {
		return h, nil
	}
	if len(b) < 10 {
		return h, fmt.Errorf("%w: short request header", ErrProtocol)
	}
	off := 8
	if cl := int16(binary.BigEndian.Uint16(b[off:])); cl > 0 {
		off += int(cl)
	}
	off += 2
	if off > len(b) {
		return h, fmt.Errorf("%w: short request header", ErrProtocol)
	}
	req.SetVersion(h.version)
	if req.IsFlexible() {
		n, err := skipTags(b, off)
		if err != nil {
			return h, err
		}
		off = n
	}
	h.body, h.known = off, true
	return h, nil
}

// skipTags skips a tagged-field section starting at off and returns the
// offset after it.
func skipTags(b []byte, off int) (int, error) {
	if off > len(b) {
		return 0, fmt.Errorf("%w: short tagged fields", ErrProtocol)
	}
	count, n := binary.Uvarint(b[off:])
	if n <= 0 {
		return 0, fmt.Errorf("%w: bad tagged fields", ErrProtocol)
	}
	off += n
	for ; count > 0; count-- {
		if off > len(b) {
			return 0, fmt.Errorf("%w: short tagged fields", ErrProtocol)
		}
		_, n := binary.Uvarint(b[off:])
		if n <= 0 {
			return 0, fmt.Errorf("%w: bad tag", ErrProtocol)
		}
		off += n
		if off > len(b) {
			return 0, fmt.Errorf("%w: short tagged fields", ErrProtocol)
		}
		size, n := binary.Uvarint(b[off:])
		if n <= 0 || size > uint64(len(b)) {
			return 0, fmt.Errorf("%w: bad tag size", ErrProtocol)
		}
		off += n + int(size)
	}
	if off > len(b) {
		return 0, fmt.Errorf("%w: short tagged fields", ErrProtocol)
	}
	return off, nil
}

// responseBody returns where the response message starts in a response
// frame for a request of key at version: after the correlation id and,
// for flexible versions, the header's tagged fields (the ApiVersions
// response header never has them, so clients can always read it).
func responseBody(frame []byte, key, version int16) (int, error) {
	resp := kmsg.ResponseForKey(key)
	if resp == nil {
		return 0, fmt.Errorf("%w: unknown api key %d", ErrProtocol, key)
	}
	resp.SetVersion(version)
	if key == keyApiVersions || !resp.IsFlexible() {
		return 4, nil
	}
	return skipTags(frame, 4)
}

// decodeResponse parses a response frame (without the size prefix) for a
// request of key at version. It returns the message and the header bytes
// to write before its re-encoding.
func decodeResponse(frame []byte, key, version int16) (kmsg.Response, []byte, error) {
	off, err := responseBody(frame, key, version)
	if err != nil {
		return nil, nil, err
	}
	resp := kmsg.ResponseForKey(key)
	resp.SetVersion(version)
	if err := resp.ReadFrom(frame[off:]); err != nil {
		return nil, nil, fmt.Errorf("%w: api %d v%d response: %v", ErrProtocol, key, version, err)
	}
	return resp, frame[:off], nil
}

// encodeResponseFrame builds a response frame body (without the size
// prefix) for a locally answered request.
func encodeResponseFrame(corr int32, resp kmsg.Response) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(corr))
	if resp.IsFlexible() && resp.Key() != keyApiVersions {
		b = append(b, 0)
	}
	return resp.AppendTo(b)
}

// roundTrip sends req on conn with correlation id corr and decodes the
// answer; for the proxy's own requests (upstream SASL, metadata).
func roundTrip(ctx context.Context, conn net.Conn, r *bufio.Reader, req kmsg.Request, corr int32) (kmsg.Response, error) {
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
		defer conn.SetDeadline(timeZero)
	}
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("tagseal-proxy")).AppendRequest(nil, req, corr)
	if _, err := conn.Write(frame); err != nil {
		return nil, err
	}
	resp, err := readFrame(r)
	if err != nil {
		return nil, err
	}
	if got := int32(binary.BigEndian.Uint32(resp)); got != corr {
		return nil, fmt.Errorf("%w: correlation id %d, want %d", ErrProtocol, got, corr)
	}
	m, _, err := decodeResponse(resp, req.Key(), req.GetVersion())
	return m, err
}
