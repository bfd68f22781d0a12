package gcpkms

import (
	"errors"
	"testing"

	"google.golang.org/api/googleapi"

	"github.com/tagseal/tagseal/kms"
)

// classify reads the HTTP status and the google.rpc status of the answer,
// not its message text.
func TestClassifyByStatus(t *testing.T) {
	for _, c := range []struct {
		name string
		err  *googleapi.Error
		want error
	}{
		{"destroyed version", &googleapi.Error{Code: 400, Message: "key version state is DESTROYED",
			Body: `{"error":{"code":400,"status":"FAILED_PRECONDITION"}}`}, kms.ErrKeyShredded},
		{"precondition, any wording", &googleapi.Error{Code: 400, Message: "x",
			Body: `{"error":{"code":400,"status":"FAILED_PRECONDITION"}}`}, kms.ErrKeyShredded},
		{"missing key", &googleapi.Error{Code: 404, Body: `{"error":{"code":404,"status":"NOT_FOUND"}}`}, kms.ErrKeyShredded},
		{"server", &googleapi.Error{Code: 503, Body: `{"error":{"code":503,"status":"UNAVAILABLE"}}`}, kms.ErrUnavailable},
		{"throttled", &googleapi.Error{Code: 429}, kms.ErrUnavailable},
	} {
		if err := classify(c.err); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Words in a message decide nothing: a bad ciphertext that mentions
	// "disabled" is neither shredded nor unavailable.
	bad := &googleapi.Error{Code: 400, Message: "INVALID_ARGUMENT: decryption disabled for this input",
		Body: `{"error":{"code":400,"status":"INVALID_ARGUMENT"}}`}
	if err := classify(bad); errors.Is(err, kms.ErrKeyShredded) || errors.Is(err, kms.ErrUnavailable) {
		t.Errorf("invalid argument: %v", err)
	}
}
