package dekadmin

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	tinkregistry "github.com/tink-crypto/tink-go/v2/core/registry"
	"github.com/tink-crypto/tink-go/v2/daead"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"

	"github.com/tagseal/tagseal/kms"
	"github.com/tagseal/tagseal/registry"
)

// Errors of the key-management operations, for errors.Is.
var (
	// ErrRewrapUnsupported: the DEK Registry refused to replace an existing
	// DEK version's wrapping: it does not know POST …/deks/{subject}?rewrap=true
	// (Confluent Schema Registry gained it with schema-registry#4046).
	// Nothing was changed for that DEK.
	ErrRewrapUnsupported = errors.New("dekadmin: the DEK Registry does not support rewrapping DEKs (?rewrap=true)")
	// ErrRewrapMismatch: a rewrapped DEK did not unwrap to the same key
	// material, or the registry did not store what was sent; the old
	// wrapping was kept or must be checked.
	ErrRewrapMismatch = errors.New("dekadmin: rewrapped DEK does not match the original")
	// ErrRotationUnsafe: the subject's encryption rule for the KEK does
	// not rotate DEKs (no encrypt.dek.expiry.days > 0). Its ciphertexts
	// carry no DEK version, so readers use the latest DEK: a new version
	// would make every existing record unreadable.
	ErrRotationUnsafe = errors.New("dekadmin: the subject's rule does not rotate DEKs (encrypt.dek.expiry.days); a new DEK version would make its existing records unreadable")
)

// KEKInfo describes a KEK and the DEKs under it, as `tagseal keys list`
// prints them.
type KEKInfo struct {
	Name     string    `json:"name"`
	KmsType  string    `json:"kmsType"`
	KmsKeyID string    `json:"kmsKeyId"`
	Shared   bool      `json:"shared"`
	Deleted  bool      `json:"deleted"`
	Doc      string    `json:"doc,omitempty"`
	Ts       int64     `json:"ts,omitempty"`
	DEKs     []DEKInfo `json:"deks"`
}

// DEKInfo describes one DEK version. Ts is the registry's timestamp of the
// version (Unix ms): its creation, or its last rewrap or soft delete.
// KMSKeyVersion names the KMS key version that wraps it when the wrapped
// form says so (Vault transit: "v2").
type DEKInfo struct {
	Subject       string `json:"subject"`
	Algorithm     string `json:"algorithm"`
	Version       int    `json:"version"`
	Deleted       bool   `json:"deleted"`
	Ts            int64  `json:"ts,omitempty"`
	KMSKeyVersion string `json:"kmsKeyVersion,omitempty"`
}

// Time returns Ts as a time (zero when the registry gave none).
func (d DEKInfo) Time() time.Time {
	if d.Ts == 0 {
		return time.Time{}
	}
	return time.UnixMilli(d.Ts).UTC()
}

// List describes the KEKs (only kek when it is not empty) and every DEK
// version under them, sorted by KEK, subject, algorithm and version;
// includeDeleted adds soft-deleted keys.
func List(ctx context.Context, reg registry.DEKRegistry, admin registry.DEKAdmin, kek string, includeDeleted bool) ([]KEKInfo, error) {
	names := []string{kek}
	if kek == "" {
		var err error
		if names, err = admin.KEKNames(ctx, includeDeleted); err != nil {
			return nil, fmt.Errorf("dekadmin: list KEKs: %w", err)
		}
	}
	out := []KEKInfo{}
	for _, name := range names {
		k, err := reg.KEK(ctx, name, includeDeleted)
		if err != nil {
			return nil, fmt.Errorf("dekadmin: KEK %q: %w", name, err)
		}
		info := KEKInfo{Name: k.Name, KmsType: k.KmsType, KmsKeyID: k.KmsKeyID, Shared: k.Shared,
			Deleted: k.Deleted, Doc: k.Doc, Ts: k.Ts, DEKs: []DEKInfo{}}
		deks, err := versions(ctx, reg, name, "", includeDeleted)
		if err != nil {
			return nil, err
		}
		for _, d := range deks {
			info.DEKs = append(info.DEKs, DEKInfo{Subject: d.Subject, Algorithm: d.Algorithm, Version: d.Version,
				Deleted: d.Deleted, Ts: d.Ts, KMSKeyVersion: kmsKeyVersion(d.EncryptedKeyMaterial)})
		}
		out = append(out, info)
	}
	return out, nil
}

// versions fetches every DEK version under kek (of subject, when not
// empty), sorted by subject, algorithm and version.
func versions(ctx context.Context, reg registry.DEKRegistry, kek, subject string, includeDeleted bool) ([]registry.DEK, error) {
	subjects := []string{subject}
	if subject == "" {
		var err error
		if subjects, err = reg.DEKSubjects(ctx, kek, includeDeleted); err != nil {
			return nil, fmt.Errorf("dekadmin: DEK subjects of KEK %q: %w", kek, err)
		}
	}
	var out []registry.DEK
	for _, s := range subjects {
		for _, alg := range Algorithms {
			vs, err := reg.DEKVersions(ctx, kek, s, alg, includeDeleted)
			if errors.Is(err, registry.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("dekadmin: DEK versions of KEK %q, subject %q (%s): %w", kek, s, alg, err)
			}
			slices.Sort(vs)
			for _, v := range vs {
				d, err := reg.DEK(ctx, kek, s, alg, v, includeDeleted)
				if err != nil {
					return nil, fmt.Errorf("dekadmin: DEK %d of KEK %q, subject %q (%s): %w", v, kek, s, alg, err)
				}
				out = append(out, d)
			}
		}
	}
	return out, nil
}

// kmsKeyVersion reads the key version a Vault transit ciphertext
// ("vault:v2:…") names, or "".
func kmsKeyVersion(encryptedKeyMaterial string) string {
	edek, err := base64.StdEncoding.DecodeString(encryptedKeyMaterial)
	if err != nil {
		return ""
	}
	rest, ok := strings.CutPrefix(string(edek), "vault:")
	if !ok {
		return ""
	}
	v, _, ok := strings.Cut(rest, ":")
	if !ok || len(v) < 2 || v[0] != 'v' {
		return ""
	}
	if _, err := strconv.Atoi(v[1:]); err != nil {
		return ""
	}
	return v
}

// Keys reaches the KMS behind the KEKs: KMS caches the key-wrapping AEADs
// and Config is the rule config the drivers read ("secret", "token.id",
// approle credentials, …; each driver falls back to its environment
// variables).
type Keys struct {
	KMS    *kms.Registry
	Config map[string]string
}

func (k Keys) aead(kek registry.KEK) (kmsAEAD, error) {
	r := k.KMS
	if r == nil {
		r = kms.NewRegistry()
	}
	a, err := r.AEAD(kms.KeyURI(kek.KmsType, kek.KmsKeyID), k.Config)
	if err != nil {
		return nil, fmt.Errorf("dekadmin: KMS of KEK %q: %w", kek.Name, err)
	}
	return a, nil
}

type kmsAEAD interface {
	Encrypt(plaintext, ad []byte) ([]byte, error)
	Decrypt(ciphertext, ad []byte) ([]byte, error)
}

// templates are the Tink key templates of the DEK algorithms.
var templates = map[string]*tinkpb.KeyTemplate{
	"AES128_GCM": aead.AES128GCMKeyTemplate(),
	"AES256_GCM": aead.AES256GCMKeyTemplate(),
	"AES256_SIV": daead.AESSIVKeyTemplate(),
}

// CheckRotation returns ErrRotationUnsafe unless subject's latest schema
// has an encryption rule for kek that rotates DEKs
// (encrypt.dek.expiry.days > 0, on the rule or in the schema's metadata
// properties).
func CheckRotation(ctx context.Context, sr registry.SchemaRegistry, kek, subject string) error {
	s, err := sr.Latest(ctx, subject)
	if err != nil {
		return fmt.Errorf("%w: cannot read subject %q's rules: %w", ErrRotationUnsafe, subject, err)
	}
	param := func(r registry.Rule, name string) string {
		if v, ok := r.Params[name]; ok {
			return v
		}
		if s.Metadata != nil {
			return s.Metadata.Properties[name]
		}
		return ""
	}
	if s.RuleSet != nil {
		for _, r := range s.RuleSet.DomainRules {
			if (r.Type != "ENCRYPT" && r.Type != "ENCRYPT_PAYLOAD") || r.Disabled || param(r, "encrypt.kek.name") != kek {
				continue
			}
			if days, err := strconv.Atoi(param(r, "encrypt.dek.expiry.days")); err == nil && days > 0 {
				return nil
			}
		}
	}
	return fmt.Errorf("%w (KEK %q, subject %q)", ErrRotationUnsafe, kek, subject)
}

// Rotate mints the next version of subject's DEK under kek now (the
// highest existing version, soft-deleted ones included, plus one): a new
// key, wrapped by the KEK's KMS key, or generated by the registry for a
// shared KEK. Producers whose rule rotates DEKs use it once their DEK
// cache refreshes; check CheckRotation first.
func Rotate(ctx context.Context, reg registry.DEKRegistry, keys Keys, kek, subject, algorithm string) (registry.DEK, error) {
	if algorithm == "" {
		algorithm = registry.DefaultAlgorithm
	}
	tmpl, ok := templates[algorithm]
	if !ok {
		return registry.DEK{}, fmt.Errorf("dekadmin: unknown DEK algorithm %q: %w", algorithm, registry.ErrInvalid)
	}
	k, err := reg.KEK(ctx, kek, false)
	if err != nil {
		return registry.DEK{}, fmt.Errorf("dekadmin: KEK %q: %w", kek, err)
	}
	for range 3 { // a producer may create the same version meanwhile
		vs, err := reg.DEKVersions(ctx, kek, subject, algorithm, true)
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return registry.DEK{}, fmt.Errorf("dekadmin: DEK versions of %q: %w", subject, err)
		}
		next := 1
		if len(vs) > 0 {
			next = slices.Max(vs) + 1
		}
		d := registry.DEK{Subject: subject, Version: next, Algorithm: algorithm}
		if !k.Shared {
			kd, err := tinkregistry.NewKeyData(tmpl)
			if err != nil {
				return registry.DEK{}, fmt.Errorf("dekadmin: generate DEK: %w", err)
			}
			a, err := keys.aead(k)
			if err != nil {
				return registry.DEK{}, err
			}
			edek, err := a.Encrypt(kd.GetValue(), nil)
			if err != nil {
				return registry.DEK{}, fmt.Errorf("dekadmin: wrap the new DEK with KEK %q: %w", kek, err)
			}
			d.EncryptedKeyMaterial = base64.StdEncoding.EncodeToString(edek)
		}
		created, err := reg.CreateDEK(ctx, kek, d)
		if errors.Is(err, registry.ErrConflict) {
			continue
		}
		if err != nil {
			return registry.DEK{}, fmt.Errorf("dekadmin: create DEK version %d of %q: %w", next, subject, err)
		}
		return created, nil
	}
	return registry.DEK{}, fmt.Errorf("dekadmin: create the next DEK version of %q: versions kept appearing: %w", subject, registry.ErrConflict)
}

// Rewrapped reports one DEK version a Rewrap handled: From and To name the
// KMS key versions when the wrapped form says (Vault: "v1" → "v2");
// Unchanged means it was already wrapped by the newest version and was
// not written again.
type Rewrapped struct {
	Subject   string `json:"subject"`
	Algorithm string `json:"algorithm"`
	Version   int    `json:"version"`
	Deleted   bool   `json:"deleted"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
	Unchanged bool   `json:"unchanged,omitempty"`
}

// Rewrap re-encrypts every DEK version under kek (of subject, when not
// empty; soft-deleted ones too with includeDeleted) under the newest
// version of the KEK's KMS key and stores the new wrapping in place with
// [registry.DEKAdmin.RewrapDEK]: the DEKs themselves — and so every record
// — stay as they are, and once every DEK is rewrapped the KMS may retire
// the old key version (Vault: min_decryption_version).
//
// Nothing is ever deleted: each new wrapping is first checked to unwrap to
// the same key material as the old one, then written over the old one in
// one registry call, then read back. A DEK of a shared KEK is rewrapped by
// the registry itself. progress, when not nil, is called after each DEK
// version with the number done and the total. Rewrap stops at the first
// error and returns what it did; running it again is safe.
func Rewrap(ctx context.Context, reg registry.DEKRegistry, admin registry.DEKAdmin, keys Keys, kek, subject string, includeDeleted bool, progress func(done, total int)) ([]Rewrapped, error) {
	k, err := reg.KEK(ctx, kek, includeDeleted)
	if err != nil {
		return nil, fmt.Errorf("dekadmin: KEK %q: %w", kek, err)
	}
	deks, err := versions(ctx, reg, kek, subject, includeDeleted)
	if err != nil {
		return nil, err
	}
	var a kmsAEAD
	if !k.Shared && len(deks) > 0 {
		if a, err = keys.aead(k); err != nil {
			return nil, err
		}
	}
	out := make([]Rewrapped, 0, len(deks))
	for i, d := range deks {
		r, err := rewrapOne(ctx, reg, admin, a, k, d)
		if err != nil {
			return out, err
		}
		out = append(out, r)
		if progress != nil {
			progress(i+1, len(deks))
		}
	}
	return out, nil
}

func rewrapOne(ctx context.Context, reg registry.DEKRegistry, admin registry.DEKAdmin, a kmsAEAD, k registry.KEK, d registry.DEK) (Rewrapped, error) {
	r := Rewrapped{Subject: d.Subject, Algorithm: d.Algorithm, Version: d.Version, Deleted: d.Deleted,
		From: kmsKeyVersion(d.EncryptedKeyMaterial)}
	what := fmt.Sprintf("DEK version %d of KEK %q, subject %q (%s)", d.Version, k.Name, d.Subject, d.Algorithm)
	next := registry.DEK{Subject: d.Subject, Version: d.Version, Algorithm: d.Algorithm, Deleted: d.Deleted}
	if !k.Shared {
		edek, err := base64.StdEncoding.DecodeString(d.EncryptedKeyMaterial)
		if err != nil {
			return r, fmt.Errorf("dekadmin: %s: encryptedKeyMaterial is not base64: %w", what, registry.ErrInvalid)
		}
		nedek, err := kms.Rewrap(a, edek)
		if err != nil {
			return r, fmt.Errorf("dekadmin: %s: %w", what, err)
		}
		next.EncryptedKeyMaterial = base64.StdEncoding.EncodeToString(nedek)
		r.To = kmsKeyVersion(next.EncryptedKeyMaterial)
		if r.From != "" && r.From == r.To {
			r.Unchanged = true // already under the newest key version
			return r, nil
		}
		if err := sameKey(a, edek, nedek); err != nil {
			return r, fmt.Errorf("dekadmin: %s: %w", what, err)
		}
	}
	stored, err := admin.RewrapDEK(ctx, k.Name, next)
	if errors.Is(err, registry.ErrConflict) {
		return r, fmt.Errorf("%w: %s: %w", ErrRewrapUnsupported, what, err)
	}
	if err != nil {
		return r, fmt.Errorf("dekadmin: store rewrapped %s: %w", what, err)
	}
	back, err := reg.DEK(ctx, k.Name, d.Subject, d.Algorithm, d.Version, true)
	if err != nil {
		return r, fmt.Errorf("dekadmin: read back rewrapped %s: %w", what, err)
	}
	if !k.Shared && (back.EncryptedKeyMaterial != next.EncryptedKeyMaterial || stored.EncryptedKeyMaterial != next.EncryptedKeyMaterial) {
		return r, fmt.Errorf("%w: %s: the registry did not store the new wrapping", ErrRewrapMismatch, what)
	}
	r.To = kmsKeyVersion(back.EncryptedKeyMaterial)
	return r, nil
}

// sameKey checks that two wrappings hold the same DEK.
func sameKey(a kmsAEAD, old, new []byte) error {
	k1, err := a.Decrypt(old, nil)
	if err != nil {
		return fmt.Errorf("unwrap the old wrapping: %w", err)
	}
	defer clear(k1)
	k2, err := a.Decrypt(new, nil)
	if err != nil {
		return fmt.Errorf("unwrap the new wrapping: %w", err)
	}
	defer clear(k2)
	if len(k1) == 0 || subtle.ConstantTimeCompare(k1, k2) != 1 {
		return ErrRewrapMismatch
	}
	return nil
}
