package jsonschema

import (
	"encoding/json"
	"fmt"

	"github.com/invopop/jsonschema"
)

// SchemaOf derives the JSON Schema to auto-register for a Go value with
// invopop/jsonschema, as Confluent's JSON serializer does.
func SchemaOf(v any) (string, error) {
	b, err := json.Marshal(jsonschema.Reflect(v))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrEncode, err)
	}
	return string(b), nil
}
