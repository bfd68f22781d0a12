package awskms

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/tagseal/tagseal/kms"
)

func TestClassify(t *testing.T) {
	msg := func(s string) *string { return &s }
	for _, c := range []struct {
		err  error
		want error
	}{
		{&types.DisabledException{Message: msg("key is disabled")}, kms.ErrKeyShredded},
		{&types.NotFoundException{Message: msg("no such key")}, kms.ErrKeyShredded},
		{&types.KMSInvalidStateException{Message: msg("pending deletion")}, kms.ErrKeyShredded},
		{&types.KMSInternalException{Message: msg("boom")}, kms.ErrUnavailable},
		{&types.DependencyTimeoutException{Message: msg("slow")}, kms.ErrUnavailable},
	} {
		got := classify(fmt.Errorf("operation error KMS: Decrypt: %w", c.err))
		if !errors.Is(got, c.want) {
			t.Errorf("%T → %v, want %v", c.err, got, c.want)
		}
	}
	plain := errors.New("access denied")
	if got := classify(plain); errors.Is(got, kms.ErrKeyShredded) || errors.Is(got, kms.ErrUnavailable) {
		t.Errorf("an access error must stay unclassified: %v", got)
	}
}
