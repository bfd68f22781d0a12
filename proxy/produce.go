package proxy

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrRejectedAcks0 reports an acks=0 produce with partitions the rewriter
// refused: there is no response to carry the error, so the proxy closes
// the connection, as a broker does.
var ErrRejectedAcks0 = errors.New("proxy: acks=0 produce refused")

// rejection is one produce partition the proxy answers itself.
type rejection struct {
	topic     string
	partition int32
	code      int16
	message   string
}

// produce runs every partition's batches through the rewriter. It returns
// the frame to forward (the client's own bytes when nothing changed, nil
// when every partition was refused) and fills inf: acks=0, refused
// partitions, or the whole local answer.
func (c *clientConn) produce(h reqHeader, frame []byte, inf *inflight) ([]byte, error) {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(h.version)
	if err := req.ReadFrom(frame[h.body:]); err != nil {
		return nil, fmt.Errorf("%w: produce request: %v", ErrProtocol, err)
	}
	inf.noResponse = req.Acks == 0
	rw := c.p.opts.Rewriter
	if rw == nil {
		return frame, nil
	}
	// Rewrite the partitions in parallel (they are independent), then
	// assemble in request order.
	type ref struct{ t, p int }
	var refs []ref
	for ti := range req.Topics {
		for pi := range req.Topics[ti].Partitions {
			refs = append(refs, ref{ti, pi})
		}
	}
	outs := make([][]byte, len(refs))
	errs := make([]error, len(refs))
	parallel(len(refs), func(i int) {
		t := &req.Topics[refs[i].t]
		p := &t.Partitions[refs[i].p]
		outs[i], errs[i] = rw.Produce(c.ctx, t.Topic, p.Partition, p.Records)
	})
	changed, kept, i := false, 0, 0
	topics := req.Topics[:0]
	for _, t := range req.Topics {
		parts := t.Partitions[:0]
		for _, p := range t.Partitions {
			out, err := outs[i], errs[i]
			i++
			if err != nil {
				changed = true
				inf.rejected = append(inf.rejected, rejection{topic: t.Topic, partition: p.Partition, code: ErrorCode(err), message: err.Error()})
				c.p.log.Info("proxy: produce refused", "listener", c.l.conf.Name, "topic", t.Topic, "partition", p.Partition, "err", err)
				continue
			}
			if !sameSlice(out, p.Records) {
				changed = true
				p.Records = out
			}
			parts = append(parts, p)
			kept++
		}
		if len(parts) > 0 {
			t.Partitions = parts
			topics = append(topics, t)
		}
	}
	req.Topics = topics
	if !changed {
		return frame, nil
	}
	if kept == 0 {
		if inf.noResponse {
			return nil, ErrRejectedAcks0
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.SetVersion(h.version)
		c.mergeRejections(resp, inf.rejected)
		inf.local = encodeResponseFrame(h.corr, resp)
		return nil, nil
	}
	out := req.AppendTo(append(make([]byte, 0, len(frame)+len(frame)/4+64), frame[:h.body]...))
	if inf.noResponse && len(inf.rejected) > 0 {
		return out, ErrRejectedAcks0
	}
	return out, nil
}

func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// mergeRejections adds the refused partitions to a produce response.
func (c *clientConn) mergeRejections(resp *kmsg.ProduceResponse, rejected []rejection) {
	for _, rj := range rejected {
		i := 0
		for i < len(resp.Topics) && resp.Topics[i].Topic != rj.topic {
			i++
		}
		if i == len(resp.Topics) {
			t := kmsg.NewProduceResponseTopic()
			t.Topic = rj.topic
			resp.Topics = append(resp.Topics, t)
		}
		p := kmsg.NewProduceResponseTopicPartition()
		p.Partition = rj.partition
		p.ErrorCode = rj.code
		p.BaseOffset = -1
		p.LogAppendTime = -1
		p.LogStartOffset = -1
		msg := rj.message
		p.ErrorMessage = &msg
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, p)
	}
}

// fetch runs every fetched partition's batches through the rewriter. A
// partition the rewriter cannot serve gets its error code and no records.
func (c *clientConn) fetch(resp *kmsg.FetchResponse) (bool, error) {
	rw := c.p.opts.Rewriter
	peer := c.peer()
	type ref struct{ t, p int }
	var refs []ref
	for ti := range resp.Topics {
		for pi, p := range resp.Topics[ti].Partitions {
			if len(p.RecordBatches) > 0 && p.ErrorCode == 0 {
				refs = append(refs, ref{ti, pi})
			}
		}
	}
	outs := make([][]byte, len(refs))
	errs := make([]error, len(refs))
	parallel(len(refs), func(i int) {
		t := &resp.Topics[refs[i].t]
		p := &t.Partitions[refs[i].p]
		outs[i], errs[i] = rw.Fetch(c.ctx, peer, t.Topic, p.Partition, p.RecordBatches)
	})
	changed := false
	for i, r := range refs {
		t := &resp.Topics[r.t]
		p := &t.Partitions[r.p]
		if err := errs[i]; err != nil {
			if c.ctx.Err() != nil {
				return false, c.ctx.Err()
			}
			c.p.log.Info("proxy: fetch refused", "listener", peer.Listener, "topic", t.Topic, "partition", p.Partition, "err", err)
			p.ErrorCode = ErrorCode(err)
			p.RecordBatches = nil
			changed = true
			continue
		}
		if !sameSlice(outs[i], p.RecordBatches) {
			p.RecordBatches = outs[i]
			changed = true
		}
	}
	return changed, nil
}

// parallel runs fn(0..n-1), on up to GOMAXPROCS goroutines when n > 1.
func parallel(n int, fn func(i int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
