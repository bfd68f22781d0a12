package jsonschema

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// Encode marshals v with encoding/json, as Confluent's JSON serde does.
func (p *Plan) Encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEncode, err)
	}
	return b, nil
}

// Validate checks a JSON document against the schema. The error names the
// failing location in the schema and instance, never the value.
func (p *Plan) Validate(doc []byte) error {
	v, err := decodeInstance(doc)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := p.root.Validate(v); err != nil {
		if ve, ok := err.(*jsonschema.ValidationError); ok {
			return fmt.Errorf("%w: at %q (schema %s)", ErrValidation, ve.InstanceLocation, ve.KeywordLocation)
		}
		return ErrValidation
	}
	return nil
}

// Decode unmarshals plaintext JSON into target, or into a new value
// (map[string]any for objects) when target is nil.
func (p *Plan) Decode(data []byte, target any) (any, error) {
	if target == nil {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDecode, err)
		}
		return v, nil
	}
	if err := json.Unmarshal(data, target); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	return target, nil
}

// decodeInstance decodes a JSON document for validation, keeping numbers
// exact (json.Number), as the validator expects.
func decodeInstance(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
