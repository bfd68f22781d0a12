package registrytest_test

import (
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"

	"github.com/tagseal/tagseal/internal/registrytest"
)

const text = `{"type":"record","name":"R","fields":[{"name":"a","type":"string","confluent:tags":["PII"]}]}`

var encrypt = &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{{
	Name: "e", Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"}}}}

// TestRealRegistrySemantics checks, through Confluent's real REST client,
// the behaviours the double exists for.
func TestRealRegistrySemantics(t *testing.T) {
	srv := registrytest.New(t)
	c, err := schemaregistry.NewClient(schemaregistry.NewConfig(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := c.Register("orders-value", schemaregistry.SchemaInfo{Schema: text}, false)
	if err != nil {
		t.Fatal(err)
	}
	ruled, err := c.Register("customers-value", schemaregistry.SchemaInfo{Schema: text, RuleSet: encrypt}, false)
	if err != nil {
		t.Fatal(err)
	}
	if plain != ruled {
		t.Fatalf("identical text got ids %d and %d; real registries share one", plain, ruled)
	}
	orders, err := c.GetBySubjectAndID("orders-value", plain)
	if err != nil {
		t.Fatal(err)
	}
	customers, err := c.GetBySubjectAndID("customers-value", plain)
	if err != nil {
		t.Fatal(err)
	}
	if orders.RuleSet != nil || customers.RuleSet == nil || len(customers.RuleSet.DomainRules) != 1 {
		t.Fatalf("rules by subject: orders %+v, customers %+v", orders.RuleSet, customers.RuleSet)
	}

	// A new version without rules inherits the previous version's.
	v2 := `{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}`
	id2, err := c.Register("customers-value", schemaregistry.SchemaInfo{Schema: v2}, false)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := c.GetLatestSchemaMetadata("customers-value")
	if err != nil {
		t.Fatal(err)
	}
	if latest.ID != id2 || latest.Version != 2 || latest.RuleSet == nil {
		t.Fatalf("latest %+v: want version 2, id %d, inherited rules", latest, id2)
	}
	// Registering the same content again is idempotent.
	again, err := c.Register("customers-value", schemaregistry.SchemaInfo{Schema: v2}, false)
	if err != nil || again != id2 {
		t.Fatalf("re-register: id %d, %v", again, err)
	}
	if vs, err := c.GetAllVersions("customers-value"); err != nil || len(vs) != 2 {
		t.Fatalf("versions %v, %v", vs, err)
	}
}
