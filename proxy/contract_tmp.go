package proxy

// TEMPORARY: the record-rewriting contract, declared here until the
// issue16-records branch (proxy/rewrite.go) is merged; delete on merge.

import (
	"context"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/registry"
)

// Peer identifies a proxied client.
type Peer struct{ Listener, Principal, TLSIdentity string }

// RecordRewriter rewrites record batches.
type RecordRewriter interface {
	Produce(ctx context.Context, topic string, partition int32, batches []byte) ([]byte, error)
	Fetch(ctx context.Context, peer Peer, topic string, partition int32, batches []byte) ([]byte, error)
}

// ErrorCode is the Kafka error code for a Produce/Fetch error.
func ErrorCode(err error) int16 { return 87 }

// Policy is what the proxy does with records it cannot encrypt.
type Policy int

// Policies.
const (
	Reject Policy = iota
	Passthrough
)

// RewriterConfig configures NewRewriter.
type RewriterConfig struct {
	Registry            registry.SchemaRegistry
	Keys                tagseal.Keys
	Policy              Policy
	MayDecrypt          func(p Peer, kekName string) bool
	SubjectNameStrategy tagseal.SubjectNameStrategy
}

// Rewriter is a passthrough stand-in.
type Rewriter struct{}

// NewRewriter returns the stand-in.
func NewRewriter(conf RewriterConfig) (*Rewriter, error) { return &Rewriter{}, nil }

// Produce passes batches through.
func (*Rewriter) Produce(ctx context.Context, topic string, partition int32, batches []byte) ([]byte, error) {
	return batches, nil
}

// Fetch passes batches through.
func (*Rewriter) Fetch(ctx context.Context, peer Peer, topic string, partition int32, batches []byte) ([]byte, error) {
	return batches, nil
}
