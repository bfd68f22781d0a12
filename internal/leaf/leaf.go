// Package leaf defines the callback through which a format's rewriter hands
// each tagged value to serde, without a closure allocation per record.
package leaf

// Transformer rewrites one tagged value. path is the field's full name,
// asString says whether the value is a string (ciphertext travels as
// base64) or bytes (raw), rules are the positions of the rules that apply.
// The result may be appended to dst; value must not be retained.
type Transformer interface {
	Transform(path string, asString bool, rules []int, value, dst []byte) ([]byte, error)
}

// Func adapts a function to a Transformer.
type Func func(path string, asString bool, rules []int, value, dst []byte) ([]byte, error)

// Transform calls f.
func (f Func) Transform(path string, asString bool, rules []int, value, dst []byte) ([]byte, error) {
	return f(path, asString, rules, value, dst)
}
