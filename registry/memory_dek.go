package registry

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// The DEK Registry half of Memory, following Confluent's DekRegistry:
// names, soft and permanent deletes, undelete-by-create, error codes.

// dekAlgorithms are the algorithms the DEK Registry accepts.
var dekAlgorithms = map[string]bool{"AES128_GCM": true, "AES256_GCM": true, "AES256_SIV": true}

func keyNotFound(name string) *Error {
	return errorf(http.StatusNotFound, CodeKeyNotFound, "Key '%s' not found", name)
}

func invalidKey(field string) *Error {
	return errorf(http.StatusUnprocessableEntity, CodeInvalidKey, "Invalid or missing key info: %s", field)
}

// checkKeyName applies the DEK Registry's KEK name rule: a letter or '_',
// then letters, digits, '_' or '-', at most 64 characters.
func checkKeyName(name string) error {
	if name == "" || len(name) > 64 {
		return invalidKey("name")
	}
	for i, r := range name {
		ok := unicode.IsLetter(r) || r == '_' || (i > 0 && (unicode.IsDigit(r) || r == '-'))
		if !ok {
			return invalidKey("name")
		}
	}
	return nil
}

func checkDEKSubject(subject string) error {
	if subject == "" || strings.IndexFunc(subject, unicode.IsControl) >= 0 {
		return invalidKey("subject")
	}
	return nil
}

func algorithmOrDefault(a string) (string, error) {
	if a == "" {
		return DefaultAlgorithm, nil
	}
	if !dekAlgorithms[a] {
		return "", invalidKey("algorithm")
	}
	return a, nil
}

// normalizeKmsType spells the cloud KMS types as the DEK Registry stores
// them ("aws…" → "aws-kms" and so on); others are kept.
func normalizeKmsType(t string) string {
	l := strings.ToLower(t)
	switch {
	case strings.HasPrefix(l, "aws"):
		return "aws-kms"
	case strings.HasPrefix(l, "azure"):
		return "azure-kms"
	case strings.HasPrefix(l, "gcp"):
		return "gcp-kms"
	}
	return t
}

func (m *Memory) millis() int64 { return m.now().UnixMilli() }

func cloneKEK(k *KEK) KEK {
	out := *k
	out.KmsProps = cloneMap(k.KmsProps)
	return out
}

// kek returns the named KEK if it is visible.
func (m *Memory) kek(name string, includeDeleted bool) *KEK {
	k := m.keks[name]
	if k == nil || (k.Deleted && !includeDeleted) {
		return nil
	}
	return k
}

// KEK implements [DEKRegistry.KEK].
func (m *Memory) KEK(ctx context.Context, name string, includeDeleted bool) (KEK, error) {
	if err := m.begin(ctx); err != nil {
		return KEK{}, err
	}
	if err := checkKeyName(name); err != nil {
		return KEK{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	k := m.kek(name, includeDeleted)
	if k == nil {
		return KEK{}, keyNotFound(name)
	}
	return cloneKEK(k), nil
}

// KEKNames lists the KEK names, sorted: live ones, or with includeDeleted
// all.
func (m *Memory) KEKNames(ctx context.Context, includeDeleted bool) ([]string, error) {
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := []string{}
	for n, k := range m.keks {
		if includeDeleted || !k.Deleted {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// CreateKEK implements [DEKRegistry.CreateKEK]. KmsType and KmsKeyID are
// required. Re-creating a soft-deleted KEK with the same settings
// undeletes it; any other existing KEK of that name is [ErrConflict]
// (error code 40971).
func (m *Memory) CreateKEK(ctx context.Context, k KEK) (KEK, error) {
	if err := m.begin(ctx); err != nil {
		return KEK{}, err
	}
	if err := checkKeyName(k.Name); err != nil {
		return KEK{}, err
	}
	if k.KmsKeyID == "" {
		return KEK{}, invalidKey("kmsKeyId")
	}
	if k.KmsType == "" {
		return KEK{}, invalidKey("kmsType")
	}
	k.KmsType = normalizeKmsType(k.KmsType)
	k.KmsProps = cloneMap(k.KmsProps)
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.keks[k.Name]; old != nil {
		same := old.KmsType == k.KmsType && old.KmsKeyID == k.KmsKeyID && sameJSON(old.KmsProps, k.KmsProps) &&
			old.Doc == k.Doc && old.Shared == k.Shared
		if !old.Deleted || !same {
			return KEK{}, errorf(http.StatusConflict, CodeKeyExists, "Key '%s' already exists; use a different value", k.Name)
		}
	}
	k.Deleted, k.Ts = false, m.millis()
	m.keks[k.Name] = &k
	return cloneKEK(&k), nil
}

// DeleteKEK implements [DEKRegistry.DeleteKEK]: error code 40470 for an
// unknown KEK, 40471 for a permanent delete of a live one, 42272 while
// DEKs remain.
func (m *Memory) DeleteKEK(ctx context.Context, name string, permanent bool) error {
	if err := m.begin(ctx); err != nil {
		return err
	}
	if err := checkKeyName(name); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.keks[name]
	if k == nil {
		return keyNotFound(name)
	}
	for id, ds := range m.deks {
		if id.kek != name {
			continue
		}
		for _, d := range ds {
			if permanent || !d.Deleted {
				return errorf(http.StatusUnprocessableEntity, CodeKeyReferenceExists,
					"Key '%s' is still referenced by DEKs of subject '%s'", name, id.subject)
			}
		}
	}
	switch {
	case permanent && !k.Deleted:
		return errorf(http.StatusNotFound, CodeKeyNotSoftDeleted,
			"Key '%s' was not deleted first before being permanently deleted", name)
	case permanent:
		delete(m.keks, name)
	case !k.Deleted:
		k.Deleted, k.Ts = true, m.millis()
	}
	return nil
}

func cloneDEK(d *DEK) DEK { return *d }

// DEK implements [DEKRegistry.DEK]. The KEK must be visible too (a
// soft-deleted KEK's DEKs need includeDeleted).
func (m *Memory) DEK(ctx context.Context, kek, subject, algorithm string, version int, includeDeleted bool) (DEK, error) {
	if err := m.begin(ctx); err != nil {
		return DEK{}, err
	}
	id, err := dekKey(kek, subject, algorithm)
	if err != nil {
		return DEK{}, err
	}
	if version < -1 {
		return DEK{}, invalidVersion(strconv.Itoa(version))
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.kek(kek, includeDeleted) == nil {
		return DEK{}, keyNotFound(kek)
	}
	var found *DEK
	for _, d := range m.deks[id] {
		if (version <= 0 || d.Version == version) && (includeDeleted || !d.Deleted) {
			found = d // ascending: the last match is the latest
		}
	}
	if found == nil {
		return DEK{}, keyNotFound(subject)
	}
	return cloneDEK(found), nil
}

// beginDEKWrite starts a DEK create or rewrap: the registry's fault
// injection, the DEK's identity, and its version (0 means 1, negative is
// invalid).
func (m *Memory) beginDEKWrite(ctx context.Context, kek string, d *DEK) (dekID, error) {
	if err := m.begin(ctx); err != nil {
		return dekID{}, err
	}
	id, err := dekKey(kek, d.Subject, d.Algorithm)
	if err != nil {
		return dekID{}, err
	}
	if d.Version < 0 {
		return dekID{}, invalidVersion(strconv.Itoa(d.Version))
	}
	if d.Version == 0 {
		d.Version = 1
	}
	return id, nil
}

func dekKey(kek, subject, algorithm string) (dekID, error) {
	if err := checkKeyName(kek); err != nil {
		return dekID{}, err
	}
	if err := checkDEKSubject(subject); err != nil {
		return dekID{}, err
	}
	alg, err := algorithmOrDefault(algorithm)
	if err != nil {
		return dekID{}, err
	}
	return dekID{kek, subject, alg}, nil
}

// CreateDEK implements [DEKRegistry.CreateDEK]. The KEK must exist and be
// live, and the DEK must carry its EncryptedKeyMaterial (Memory cannot
// generate one for a shared KEK). Re-creating a soft-deleted version with
// the same material undeletes it; any other existing version is
// [ErrConflict] (error code 40971).
func (m *Memory) CreateDEK(ctx context.Context, kek string, d DEK) (DEK, error) {
	id, err := m.beginDEKWrite(ctx, kek, &d)
	if err != nil {
		return DEK{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.kek(kek, false) == nil {
		return DEK{}, keyNotFound(kek)
	}
	if d.EncryptedKeyMaterial == "" {
		return DEK{}, invalidKey("encryptedKeyMaterial")
	}
	nd := &DEK{KekName: kek, Subject: d.Subject, Version: d.Version, Algorithm: id.algorithm,
		EncryptedKeyMaterial: d.EncryptedKeyMaterial, Ts: m.millis()}
	ds := m.deks[id]
	for i, old := range ds {
		if old.Version != d.Version {
			continue
		}
		if !old.Deleted || old.EncryptedKeyMaterial != d.EncryptedKeyMaterial {
			return DEK{}, errorf(http.StatusConflict, CodeKeyExists, "Key '%s' already exists; use a different value", d.Subject)
		}
		ds[i] = nd
		return cloneDEK(nd), nil
	}
	ds = append(ds, nd)
	sort.Slice(ds, func(i, j int) bool { return ds[i].Version < ds[j].Version })
	m.deks[id] = ds
	return cloneDEK(nd), nil
}

// DeleteDEK implements [DEKRegistry.DeleteDEK]: error code 40470 when
// nothing matches, 40471 for a permanent delete of a live version.
func (m *Memory) DeleteDEK(ctx context.Context, kek, subject, algorithm string, version int, permanent bool) error {
	if err := m.begin(ctx); err != nil {
		return err
	}
	id, err := dekKey(kek, subject, algorithm)
	if err != nil {
		return err
	}
	if version < -1 {
		return invalidVersion(strconv.Itoa(version))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.kek(kek, true) == nil {
		return keyNotFound(kek)
	}
	ds := m.deks[id]
	if version == -1 && len(ds) > 0 {
		version = ds[len(ds)-1].Version
	}
	var hit []*DEK
	for _, d := range ds {
		if version == 0 || d.Version == version {
			hit = append(hit, d)
		}
	}
	if len(hit) == 0 {
		return keyNotFound(subject)
	}
	if !permanent {
		for _, d := range hit {
			if !d.Deleted {
				d.Deleted, d.Ts = true, m.millis()
			}
		}
		return nil
	}
	for _, d := range hit {
		if !d.Deleted {
			return errorf(http.StatusNotFound, CodeKeyNotSoftDeleted,
				"Key '%s' was not deleted first before being permanently deleted", subject)
		}
	}
	var kept []*DEK
	for _, d := range ds {
		if version != 0 && d.Version != version {
			kept = append(kept, d)
		}
	}
	if len(kept) == 0 {
		delete(m.deks, id)
	} else {
		m.deks[id] = kept
	}
	return nil
}

// DEKSubjects implements [DEKRegistry.DEKSubjects].
func (m *Memory) DEKSubjects(ctx context.Context, kek string, includeDeleted bool) ([]string, error) {
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	if err := checkKeyName(kek); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.kek(kek, includeDeleted) == nil {
		return nil, keyNotFound(kek)
	}
	seen := map[string]bool{}
	out := []string{}
	for id, ds := range m.deks {
		if id.kek != kek || seen[id.subject] {
			continue
		}
		for _, d := range ds {
			if includeDeleted || !d.Deleted {
				seen[id.subject] = true
				out = append(out, id.subject)
				break
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// DEKVersions implements [DEKRegistry.DEKVersions]; a subject without
// DEKs has none (an empty list, not an error).
func (m *Memory) DEKVersions(ctx context.Context, kek, subject, algorithm string, includeDeleted bool) ([]int, error) {
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	id, err := dekKey(kek, subject, algorithm)
	if err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.kek(kek, includeDeleted) == nil {
		return nil, keyNotFound(kek)
	}
	out := []int{}
	for _, d := range m.deks[id] {
		if includeDeleted || !d.Deleted {
			out = append(out, d.Version)
		}
	}
	return out, nil
}
