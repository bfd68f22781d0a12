package registry

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
)

// DEKAdmin is the administrative part of the DEK Registry that key
// management tools (tagseal keys) use beside [DEKRegistry]: listing KEKs
// and storing a DEK version's new wrapping. [*HTTPClient] and [*Memory]
// implement it.
type DEKAdmin interface {
	// KEKNames lists the KEK names, sorted (GET /dek-registry/v1/keks):
	// live ones, or with includeDeleted all.
	KEKNames(ctx context.Context, includeDeleted bool) ([]string, error)
	// RewrapDEK replaces the encryptedKeyMaterial of an existing DEK
	// version with d.EncryptedKeyMaterial (the same key wrapped again,
	// typically under the KEK's newest KMS key version), keeping its
	// subject, version and algorithm, and d.Deleted as its soft-deleted
	// state: POST /dek-registry/v1/keks/{kek}/deks/{subject}?rewrap=true,
	// as Confluent's rewrap-deks tool does (schema-registry#4046). A
	// registry without that parameter refuses with [ErrConflict]; a shared
	// KEK's DEK is rewrapped by the registry itself when
	// d.EncryptedKeyMaterial is empty.
	RewrapDEK(ctx context.Context, kek string, d DEK) (DEK, error)
}

var (
	_ DEKAdmin = (*HTTPClient)(nil)
	_ DEKAdmin = (*Memory)(nil)
)

// KEKNames implements [DEKAdmin.KEKNames].
func (c *HTTPClient) KEKNames(ctx context.Context, includeDeleted bool) ([]string, error) {
	q := url.Values{}
	boolQuery(q, "deleted", includeDeleted)
	var out []string
	if err := c.do(ctx, c.dek, http.MethodGet, keksPath, q, nil, &out); err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

// RewrapDEK implements [DEKAdmin.RewrapDEK].
func (c *HTTPClient) RewrapDEK(ctx context.Context, kek string, d DEK) (DEK, error) {
	if err := checkKEKName(kek); err != nil {
		return DEK{}, err
	}
	if err := checkSubject(d.Subject); err != nil {
		return DEK{}, err
	}
	if d.Version <= 0 {
		return DEK{}, fmt.Errorf("registry: rewrap DEK version %d: %w", d.Version, ErrInvalid)
	}
	req := createDEKRequest{Subject: d.Subject, Version: d.Version, Algorithm: d.Algorithm,
		EncryptedKeyMaterial: d.EncryptedKeyMaterial, Deleted: d.Deleted}
	q := url.Values{}
	q.Set("rewrap", "true")
	var out DEK
	err := c.do(ctx, c.dek, http.MethodPost, dekPath(kek, d.Subject), q, req, &out)
	return out, err
}

// RewrapDEK implements [DEKAdmin.RewrapDEK] as Confluent's DEK Registry
// does with ?rewrap=true: the version is stored with the new
// encryptedKeyMaterial and d.Deleted whether or not it existed; a shared
// KEK's existing DEK with material given is [ErrConflict], and without
// material (the registry would rewrap it with its own KMS access)
// [ErrInvalid], since Memory holds no KMS credentials.
func (m *Memory) RewrapDEK(ctx context.Context, kek string, d DEK) (DEK, error) {
	id, err := m.beginDEKWrite(ctx, kek, &d)
	if err != nil {
		return DEK{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.kek(kek, d.Deleted)
	if k == nil {
		return DEK{}, keyNotFound(kek)
	}
	ds := m.deks[id]
	at := -1
	for i, old := range ds {
		if old.Version == d.Version {
			at = i
		}
	}
	if d.EncryptedKeyMaterial == "" {
		return DEK{}, invalidKey("encryptedKeyMaterial")
	}
	if k.Shared && at >= 0 {
		return DEK{}, errorf(http.StatusConflict, CodeKeyExists, "Key '%s' already exists; use a different value", d.Subject)
	}
	nd := &DEK{KekName: kek, Subject: d.Subject, Version: d.Version, Algorithm: id.algorithm,
		EncryptedKeyMaterial: d.EncryptedKeyMaterial, Ts: m.millis(), Deleted: d.Deleted}
	if at >= 0 {
		ds[at] = nd
		return cloneDEK(nd), nil
	}
	ds = append(ds, nd)
	sort.Slice(ds, func(i, j int) bool { return ds[i].Version < ds[j].Version })
	m.deks[id] = ds
	return cloneDEK(nd), nil
}
