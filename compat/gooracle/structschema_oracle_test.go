package gooracle

import (
	"reflect"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"

	"github.com/tagseal/tagseal/formats/avro"
)

type derivedAddress struct {
	Street string            `avro:"street"`
	Lines  []string          `avro:"lines"`
	Attrs  map[string]string `avro:"attrs"`
}

type derivedEverything struct {
	ID       int32             `avro:"id"`
	Big      int64             `avro:"big"`
	Plain    int               `avro:"plain"`
	U16      uint16            `avro:"u16"`
	Small    int8              `avro:"small"`
	Ratio    float32           `avro:"ratio"`
	Score    float64           `avro:"score"`
	OK       bool              `avro:"ok"`
	Name     string            `avro:"name"`
	Blob     []byte            `avro:"blob"`
	When     time.Time         `avro:"when"`
	Home     derivedAddress    `avro:"home"`
	Work     *derivedAddress   `avro:"work"`
	Nick     *string           `avro:"nick"`
	Past     []derivedAddress  `avro:"past"`
	ByName   map[string]int64  `avro:"by_name"`
	Nested   map[string][]bool `avro:"nested"`
	Skipped  string            `avro:"-"`
	Untagged string
	Anon     struct {
		X string `avro:"x"`
	} `avro:"anon"`
}

// TestDerivedAvroSchemaMatchesConfluent: tagseal derives the schema to
// auto-register without importing Confluent's avrov2 (which links
// librdkafka); the text must stay identical to avrov2.StructToSchema's so
// both register one schema id.
func TestDerivedAvroSchemaMatchesConfluent(t *testing.T) {
	for _, v := range []any{&derivedEverything{}, &derivedAddress{}, &Customer{}} {
		ours, err := avro.SchemaOf(v)
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		theirs, err := avrov2.StructToSchema(reflect.TypeOf(v).Elem())
		if err != nil {
			t.Fatalf("%T: confluent: %v", v, err)
		}
		if ours != theirs.String() {
			t.Fatalf("%T:\n tagseal   %s\n confluent %s", v, ours, theirs.String())
		}
	}
}

type recursiveNode struct {
	Name string         `avro:"name"`
	Next *recursiveNode `avro:"next"`
}

func TestDerivedAvroSchemaRefusesRecursion(t *testing.T) {
	if _, err := avro.SchemaOf(&recursiveNode{}); err == nil {
		t.Fatal("a recursive Go type derived a schema")
	}
}
