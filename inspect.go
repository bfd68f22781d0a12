package tagseal

import (
	"context"
	"github.com/tagseal/tagseal/internal/keyring"

	"github.com/tagseal/tagseal/tags"
)

// Inspection describes a serialized record without decrypting it.
type Inspection struct {
	SchemaID       int      `json:"schemaId,omitempty"`
	SchemaGUID     string   `json:"schemaGuid,omitempty"`
	MessageIndexes []int    `json:"messageIndexes,omitempty"`
	SchemaType     string   `json:"schemaType"`
	Subject        string   `json:"subject"`
	Fields         []Sealed `json:"fields"`
	// PayloadRules are the ENCRYPT_PAYLOAD rules the record was written
	// under; when present, Fields is empty (the body is one ciphertext).
	PayloadRules []Sealed `json:"payloadRules,omitempty"`
}

// Sealed is one encrypted value found in a record: where it is, the rule
// and keys that protect it, and its shape. It never holds plaintext.
type Sealed struct {
	Path      string `json:"path,omitempty"`
	Rule      string `json:"rule"`
	KEK       string `json:"kek"`
	KMSType   string `json:"kmsType,omitempty"`
	KMSKeyID  string `json:"kmsKeyId,omitempty"`
	Algorithm string `json:"algorithm"`
	// DEKVersion is the version in the ciphertext's prefix (rotating
	// rules), else 0: the subject's unversioned DEK.
	DEKVersion int `json:"dekVersion"`
	// Bytes is the ciphertext length; Encoding is "base64" (strings) or
	// "raw" (bytes).
	Bytes    int    `json:"bytes"`
	Encoding string `json:"encoding"`
	// Problem is set when the stored value is not well-formed ciphertext.
	Problem string `json:"problem,omitempty"`
}

// Inspect reads a record's frame, writer schema and encrypted fields
// without unwrapping any key. headers may carry the schema GUID.
func (d *Deserializer) Inspect(ctx context.Context, topic string, headers []Header, payload []byte) (*Inspection, error) {
	src, fr, indexes, body, err := d.open(ctx, topic, headers, payload)
	if err != nil {
		return nil, err
	}
	in := &Inspection{SchemaID: fr.ref.id, SchemaType: src.plan.plan.schemaType(), Subject: src.subject, MessageIndexes: indexes}
	if fr.ref.id == 0 {
		in.SchemaGUID = fr.ref.guid.String()
	}
	p := src.plan
	for i := range p.rules.Payload {
		if r := &p.rules.Payload[i]; r.Read || r.Write {
			in.PayloadRules = append(in.PayloadRules, describe(r, p.payloadKeys[i], false, body))
		}
	}
	if len(in.PayloadRules) > 0 {
		return in, nil
	}
	rec := &sealedRecorder{p: p}
	if _, err := p.plan.rewrite(in.MessageIndexes, body, nil, rec, false); err != nil {
		return nil, err
	}
	in.Fields = rec.found
	return in, nil
}

// sealedRecorder is a leaf.Transformer that notes each tagged value and
// leaves it unchanged.
type sealedRecorder struct {
	p     *compiled
	found []Sealed
}

func (s *sealedRecorder) Transform(path string, asString bool, rules []int, value, dst []byte) ([]byte, error) {
	// The outermost encryption is the last rule that writes.
	for i := len(rules) - 1; i >= 0; i-- {
		r := &s.p.rules.Field[rules[i]]
		if r.Write || r.Read {
			sealed := describe(r, s.p.fieldKeys[rules[i]], asString, value)
			sealed.Path = path
			s.found = append(s.found, sealed)
			break
		}
	}
	return append(dst, value...), nil
}

func describe(r *tags.Rule, rk *keyring.Rule, asString bool, value []byte) Sealed {
	s := Sealed{Rule: r.Name, KEK: rk.KEKName(), KMSType: rk.KMSType(), KMSKeyID: rk.KMSKeyID(), Algorithm: rk.Algorithm(), Encoding: "raw"}
	if asString {
		s.Encoding = "base64"
	}
	ct, version, _, err := keyring.ParseStored(rk, asString, value, nil)
	if err != nil {
		s.Problem = err.Error()
		return s
	}
	s.DEKVersion, s.Bytes = version, len(ct)
	return s
}
