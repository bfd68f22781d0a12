package registryoracle

import (
	"context"
	"errors"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rest"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/deks"

	"github.com/tagseal/tagseal/registry"
)

// The Memory oracle: Confluent's real REST clients (schemaregistry and
// deks, not mock://) against registry.Memory served over HTTP, proving
// Memory speaks the wire format those clients expect. Each test starts
// its own server; the package's shared registry (TestMain) is untouched.

func memoryServer(t *testing.T) (*registry.Memory, string) {
	t.Helper()
	m := registry.NewMemory()
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return m, srv.URL
}

func restCode(t *testing.T, err error) int {
	t.Helper()
	var re *rest.Error
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T): want a *rest.Error from the registry", err, err)
	}
	return re.Code
}

func TestMemorySchemaRegistryWithConfluentClient(t *testing.T) {
	_, url := memoryServer(t)
	c, err := schemaregistry.NewClient(schemaregistry.NewConfig(url))
	if err != nil {
		t.Fatal(err)
	}
	const text = `{"type":"record","name":"R","fields":[{"name":"a","type":"string","confluent:tags":["PII"]}]}`
	rules := &schemaregistry.RuleSet{
		DomainRules:   []schemaregistry.Rule{encryptRule("enc", "memory-kek", "PII")},
		EncodingRules: []schemaregistry.Rule{{Name: "payload", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT_PAYLOAD"}},
	}
	md := &schemaregistry.Metadata{Properties: map[string]string{"app": "1"}, Tags: map[string][]string{"R.a": {"PII"}}}

	plain, err := c.Register("memory-orders-value", schemaregistry.SchemaInfo{Schema: text}, false)
	if err != nil {
		t.Fatal(err)
	}
	ruled, err := c.RegisterFullResponse("memory-customers-value", schemaregistry.SchemaInfo{Schema: text, RuleSet: rules, Metadata: md}, false)
	if err != nil {
		t.Fatal(err)
	}
	if ruled.ID != plain || ruled.Version != 1 || ruled.GUID == "" || !reflect.DeepEqual(ruled.RuleSet, rules) {
		t.Fatalf("full response %+v: want id %d, version 1, a guid, the rules", ruled, plain)
	}

	orders, err := c.GetBySubjectAndID("memory-orders-value", plain)
	if err != nil || orders.RuleSet != nil || orders.Schema != text {
		t.Fatalf("orders by id: %+v %v", orders, err)
	}
	customers, err := c.GetBySubjectAndID("memory-customers-value", plain)
	if err != nil || !reflect.DeepEqual(customers.RuleSet, rules) || !reflect.DeepEqual(customers.Metadata, md) {
		t.Fatalf("customers by id: %+v %v", customers, err)
	}
	if byGUID, err := c.GetByGUID(ruled.GUID); err != nil || byGUID.Schema != text {
		t.Fatalf("by guid: %+v %v", byGUID, err)
	}
	if svs, err := c.GetSubjectsAndVersionsByID(plain); err != nil || len(svs) != 2 {
		t.Fatalf("subjects and versions of id: %+v %v", svs, err)
	}

	// Version 2 inherits rules and metadata.
	const v2 = `{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}`
	id2, err := c.Register("memory-customers-value", schemaregistry.SchemaInfo{Schema: v2}, false)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := c.GetLatestSchemaMetadata("memory-customers-value")
	if err != nil || latest.ID != id2 || latest.Version != 2 || !reflect.DeepEqual(latest.RuleSet, rules) || latest.Subject != "memory-customers-value" {
		t.Fatalf("latest %+v %v: want version 2 with inherited rules", latest, err)
	}
	withMD, err := c.GetLatestWithMetadata("memory-customers-value", map[string]string{"app": "1"}, false)
	if err != nil || withMD.Version != 2 {
		t.Fatalf("latest with metadata %+v %v", withMD, err)
	}
	if v1, err := c.GetSchemaMetadata("memory-customers-value", 1); err != nil || v1.ID != plain {
		t.Fatalf("version 1 %+v %v", v1, err)
	}
	if id, err := c.GetID("memory-customers-value", schemaregistry.SchemaInfo{Schema: text}, false); err != nil || id != plain {
		t.Fatalf("lookup id %d %v", id, err)
	}
	if vs, err := c.GetAllVersions("memory-customers-value"); err != nil || !reflect.DeepEqual(vs, []int{1, 2}) {
		t.Fatalf("versions %v %v", vs, err)
	}
	if ss, err := c.GetAllSubjects(); err != nil || len(ss) != 2 {
		t.Fatalf("subjects %v %v", ss, err)
	}

	// Deletes: soft, then permanent; error codes as Confluent's.
	if _, err := c.DeleteSubjectVersion("memory-customers-value", 1, true); restCode(t, err) != registry.CodeVersionNotSoftDeleted {
		t.Fatalf("permanent before soft: %v", err)
	}
	if n, err := c.DeleteSubjectVersion("memory-customers-value", 2, false); err != nil || n != 2 {
		t.Fatalf("soft delete version: %d %v", n, err)
	}
	if _, err := c.GetSchemaMetadata("memory-customers-value", 2); restCode(t, err) != registry.CodeVersionNotFound {
		t.Fatalf("deleted version: %v", err)
	}
	if d, err := c.GetSchemaMetadataIncludeDeleted("memory-customers-value", 2, true); err != nil || d.ID != id2 {
		t.Fatalf("deleted version, deleted=true: %+v %v", d, err)
	}
	if vs, err := c.DeleteSubject("memory-orders-value", false); err != nil || !reflect.DeepEqual(vs, []int{1}) {
		t.Fatalf("soft delete subject %v %v", vs, err)
	}
	if vs, err := c.DeleteSubject("memory-orders-value", true); err != nil || !reflect.DeepEqual(vs, []int{1}) {
		t.Fatalf("hard delete subject %v %v", vs, err)
	}
	fresh, _ := schemaregistry.NewClient(schemaregistry.NewConfig(url)) // no caches
	if _, err := fresh.GetLatestSchemaMetadata("memory-orders-value"); restCode(t, err) != registry.CodeSubjectNotFound {
		t.Fatalf("deleted subject: %v", err)
	}
	if _, err := fresh.GetBySubjectAndID("", 999); restCode(t, err) != registry.CodeSchemaNotFound {
		t.Fatalf("unknown id: %v", err)
	}
}

func TestMemoryDEKRegistryWithConfluentClient(t *testing.T) {
	m, url := memoryServer(t)
	newClient := func() deks.Client {
		c, err := deks.NewClient(schemaregistry.NewConfig(url))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := newClient()
	kek, err := c.RegisterKek("memory_kek", "local-kms", "key-id", map[string]string{"p": "v"}, "doc", false)
	if err != nil || kek.Name != "memory_kek" || kek.KmsKeyID != "key-id" || kek.KmsProps["p"] != "v" || kek.Doc != "doc" {
		t.Fatalf("register kek %+v %v", kek, err)
	}
	if got, err := newClient().GetKek("memory_kek", false); err != nil || got.KmsType != "local-kms" {
		t.Fatalf("get kek %+v %v", got, err)
	}
	if _, err := newClient().RegisterKek("memory_kek", "local-kms", "other", nil, "", false); restCode(t, err) != registry.CodeKeyExists {
		t.Fatalf("kek again: %v", err)
	}
	if _, err := newClient().GetKek("no_such_kek", false); restCode(t, err) != registry.CodeKeyNotFound {
		t.Fatalf("unknown kek: %v", err)
	}

	d1, err := c.RegisterDek("memory_kek", "memory-value", "AES256_GCM", "ZGVrMQ==")
	if err != nil || d1.Version != 1 || d1.EncryptedKeyMaterial != "ZGVrMQ==" || d1.KekName != "memory_kek" {
		t.Fatalf("register dek %+v %v", d1, err)
	}
	if _, err := c.RegisterDekVersion("memory_kek", "memory-value", 2, "AES256_GCM", "ZGVrMg=="); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetDek("memory_kek", "memory-value", "AES256_GCM", false); err != nil || got.Version != 1 {
		t.Fatalf("get dek (the unversioned path is version 1) %+v %v", got, err)
	}
	if got, err := c.GetDekVersion("memory_kek", "memory-value", -1, "AES256_GCM", false); err != nil || got.Version != 2 || got.EncryptedKeyMaterial != "ZGVrMg==" {
		t.Fatalf("latest dek %+v %v", got, err)
	}
	if got, err := c.GetDekVersion("memory_kek", "memory-value", 1, "AES256_GCM", false); err != nil || got.EncryptedKeyMaterial != "ZGVrMQ==" {
		t.Fatalf("dek version 1 %+v %v", got, err)
	}
	if _, err := newClient().RegisterDekVersion("memory_kek", "memory-value", 2, "AES256_GCM", "b3RoZXI="); restCode(t, err) != registry.CodeKeyExists {
		t.Fatalf("dek again: %v", err)
	}

	// Deletes go through tagseal's client (Confluent's deks client has
	// none); Confluent's client then sees them as the real registry's.
	ctx := context.Background()
	rc, err := registry.New(url)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.DeleteDEK(ctx, "memory_kek", "memory-value", "", 2, false); err != nil {
		t.Fatal(err)
	}
	if _, err := newClient().GetDekVersion("memory_kek", "memory-value", 2, "AES256_GCM", false); restCode(t, err) != registry.CodeKeyNotFound {
		t.Fatalf("soft-deleted dek: %v", err)
	}
	if got, err := newClient().GetDekVersion("memory_kek", "memory-value", 2, "AES256_GCM", true); err != nil || !got.Deleted {
		t.Fatalf("soft-deleted dek, deleted=true: %+v %v", got, err)
	}
	if got, err := newClient().GetDekVersion("memory_kek", "memory-value", -1, "AES256_GCM", false); err != nil || got.Version != 1 {
		t.Fatalf("latest after deleting version 2: %+v %v", got, err)
	}
	if err := rc.DeleteDEK(ctx, "memory_kek", "memory-value", "", 0, false); err != nil {
		t.Fatal(err)
	}
	if err := rc.DeleteDEK(ctx, "memory_kek", "memory-value", "", 0, true); err != nil {
		t.Fatal(err)
	}
	if _, err := newClient().GetDekVersion("memory_kek", "memory-value", 1, "AES256_GCM", true); restCode(t, err) != registry.CodeKeyNotFound {
		t.Fatalf("hard-deleted dek: %v", err)
	}
	if err := rc.DeleteKEK(ctx, "memory_kek", false); err != nil {
		t.Fatal(err)
	}
	if _, err := newClient().GetKek("memory_kek", false); restCode(t, err) != registry.CodeKeyNotFound {
		t.Fatalf("soft-deleted kek: %v", err)
	}
	if got, err := newClient().GetKek("memory_kek", true); err != nil || !got.Deleted {
		t.Fatalf("soft-deleted kek, deleted=true: %+v %v", got, err)
	}
	if err := rc.DeleteKEK(ctx, "memory_kek", true); err != nil {
		t.Fatal(err)
	}
	if _, err := m.KEK(ctx, "memory_kek", true); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("hard-deleted kek: %v", err)
	}
}
