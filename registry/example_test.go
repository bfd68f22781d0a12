package registry_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/tagseal/tagseal/registry"
)

// A Memory served over HTTP, reached with New as a real registry would be.
func ExampleNew() {
	srv := httptest.NewServer(registry.NewMemory())
	defer srv.Close()

	client, err := registry.New(srv.URL) // e.g. "https://psrc-….confluent.cloud" with WithBasicAuth
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	rules := &registry.RuleSet{DomainRules: []registry.Rule{{
		Name: "encrypt-pii", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"},
		Params: map[string]string{"encrypt.kek.name": "orders-kek", "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "k"},
	}}}
	text := `{"type":"record","name":"Order","fields":[{"name":"card","type":"string","confluent:tags":["PII"]}]}`
	plain, _ := client.Register(ctx, "audit-value", registry.Schema{Schema: text}, false)
	ruled, _ := client.Register(ctx, "orders-value", registry.Schema{Schema: text, RuleSet: rules}, false)
	fmt.Println("one id for one text:", plain.ID == ruled.ID)

	// The rules that apply depend on the subject asked with the id.
	forAudit, _ := client.SchemaByID(ctx, "audit-value", ruled.ID)
	forOrders, _ := client.SchemaByID(ctx, "orders-value", ruled.ID)
	fmt.Println("audit rules:", forAudit.RuleSet != nil, "orders rules:", len(forOrders.RuleSet.DomainRules))

	_, err = client.KEK(ctx, "orders-kek", false)
	fmt.Println("kek not found:", errors.Is(err, registry.ErrNotFound))
	// Output:
	// one id for one text: true
	// audit rules: false orders rules: 1
	// kek not found: true
}

// Memory used in process, through the same Client interface.
func ExampleNewMemory() {
	var reg registry.Client = registry.NewMemory()
	ctx := context.Background()

	kek, _ := reg.CreateKEK(ctx, registry.KEK{Name: "orders-kek", KmsType: "aws", KmsKeyID: "arn:aws:kms:…"})
	fmt.Println(kek.Name, kek.KmsType)

	d, _ := reg.CreateDEK(ctx, "orders-kek", registry.DEK{Subject: "orders-value", EncryptedKeyMaterial: "d3JhcHBlZA=="})
	fmt.Println("dek version", d.Version, d.Algorithm)

	_, err := reg.CreateDEK(ctx, "orders-kek", registry.DEK{Subject: "orders-value", EncryptedKeyMaterial: "b3RoZXI="})
	fmt.Println("same version again is a conflict:", errors.Is(err, registry.ErrConflict))

	// Soft delete hides the key; a permanent delete then removes it.
	_ = reg.DeleteDEK(ctx, "orders-kek", "orders-value", "", 0, false)
	_, err = reg.DEK(ctx, "orders-kek", "orders-value", "", 0, false)
	fmt.Println("hidden after soft delete:", errors.Is(err, registry.ErrNotFound))
	gone, _ := reg.DEK(ctx, "orders-kek", "orders-value", "", 0, true)
	fmt.Println("still there with includeDeleted:", gone.Deleted)
	// Output:
	// orders-kek aws-kms
	// dek version 1 AES256_GCM
	// same version again is a conflict: true
	// hidden after soft delete: true
	// still there with includeDeleted: true
}
