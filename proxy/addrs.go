package proxy

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxVersions caps the versions the proxy advertises for the APIs it
// decodes: it must re-encode what it decodes. Produce and Fetch stop at
// v12, the last versions naming topics (v13 uses topic ids), because the
// rewriter needs the topic name to find the subject.
var maxVersions = map[int16]int16{
	keyProduce:          12,
	keyFetch:            12,
	keyMetadata:         new(kmsg.MetadataRequest).MaxVersion(),
	keyFindCoordinator:  new(kmsg.FindCoordinatorRequest).MaxVersion(),
	keyDescribeCluster:  new(kmsg.DescribeClusterRequest).MaxVersion(),
	keyApiVersions:      new(kmsg.ApiVersionsRequest).MaxVersion(),
	keySaslHandshake:    1,
	keySaslAuthenticate: new(kmsg.SASLAuthenticateRequest).MaxVersion(),
}

// hiddenAPIs are not advertised: share groups (KIP-932) fetch records
// and name brokers outside the paths the proxy rewrites.
var hiddenAPIs = map[int16]bool{76: true, 77: true, 78: true, 79: true}

// rewriteApiVersions intersects the broker's API versions with what the
// proxy can handle. SASL is always the proxy's to answer.
func rewriteApiVersions(resp *kmsg.ApiVersionsResponse) {
	keys := resp.ApiKeys[:0]
	seen := map[int16]bool{}
	for _, k := range resp.ApiKeys {
		if hiddenAPIs[k.ApiKey] {
			continue
		}
		if max, ok := maxVersions[k.ApiKey]; ok && k.MaxVersion > max {
			k.MaxVersion = max
		}
		if k.ApiKey == keySaslHandshake {
			k.MinVersion, k.MaxVersion = 1, 1
		}
		if k.MinVersion > k.MaxVersion {
			continue
		}
		seen[k.ApiKey] = true
		keys = append(keys, k)
	}
	for _, key := range []int16{keySaslHandshake, keySaslAuthenticate} {
		if !seen[key] {
			k := kmsg.NewApiVersionsResponseApiKey()
			k.ApiKey, k.MinVersion, k.MaxVersion = key, 0, maxVersions[key]
			if key == keySaslHandshake {
				k.MinVersion = 1
			}
			keys = append(keys, k)
		}
	}
	resp.ApiKeys = keys
}

// rewriteResponse rewrites a broker response where the proxy must:
// advertised broker addresses, API versions, produce rejections, fetched
// records. Every other response passes byte for byte.
func (c *clientConn) rewriteResponse(inf *inflight, frame []byte) ([]byte, error) {
	switch inf.key {
	case keyApiVersions, keyMetadata, keyFindCoordinator, keyDescribeCluster:
	case keyProduce:
		if inf.version < 10 && len(inf.rejected) == 0 {
			return frame, nil // no broker addresses before v10
		}
	case keyFetch:
		if c.p.opts.Rewriter == nil {
			return frame, nil
		}
	default:
		return frame, nil
	}
	if _, ok := maxVersions[inf.key]; ok && inf.version > maxVersions[inf.key] {
		// A version the proxy never advertised (the client ignored
		// ApiVersions): the proxy cannot rewrite what it cannot parse.
		return nil, ErrProtocol
	}
	resp, head, err := decodeResponse(frame, inf.key, inf.version)
	if err != nil {
		if inf.key == keyApiVersions {
			// An error answer in v0 form to a version the broker does
			// not know; the client retries with v0.
			return frame, nil
		}
		return nil, err
	}
	switch r := resp.(type) {
	case *kmsg.ApiVersionsResponse:
		rewriteApiVersions(r)
	case *kmsg.MetadataResponse:
		for i := range r.Brokers {
			b := &r.Brokers[i]
			if b.Host, b.Port, err = c.l.advertise(b.NodeID, b.Host, b.Port); err != nil {
				return nil, err
			}
		}
	case *kmsg.FindCoordinatorResponse:
		if r.ErrorCode == 0 && r.NodeID >= 0 && r.Host != "" {
			if r.Host, r.Port, err = c.l.advertise(r.NodeID, r.Host, r.Port); err != nil {
				return nil, err
			}
		}
		for i := range r.Coordinators {
			co := &r.Coordinators[i]
			if co.ErrorCode == 0 && co.NodeID >= 0 && co.Host != "" {
				if co.Host, co.Port, err = c.l.advertise(co.NodeID, co.Host, co.Port); err != nil {
					return nil, err
				}
			}
		}
	case *kmsg.DescribeClusterResponse:
		for i := range r.Brokers {
			b := &r.Brokers[i]
			if b.Host, b.Port, err = c.l.advertise(b.NodeID, b.Host, b.Port); err != nil {
				return nil, err
			}
		}
	case *kmsg.ProduceResponse:
		c.mergeRejections(r, inf.rejected)
		for i := range r.Brokers {
			b := &r.Brokers[i]
			if b.Host, b.Port, err = c.l.advertise(b.NodeID, b.Host, b.Port); err != nil {
				return nil, err
			}
		}
	case *kmsg.FetchResponse:
		changed, err := c.fetch(r)
		if err != nil {
			return nil, err
		}
		if !changed {
			return frame, nil
		}
	}
	return resp.AppendTo(append(make([]byte, 0, len(frame)+256), head...)), nil
}
