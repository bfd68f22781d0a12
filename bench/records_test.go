package bench

import (
	"bytes"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Flat is a 10-field record with 3 tagged strings.
type Flat struct {
	ID        int64   `avro:"id" json:"id"`
	FirstName string  `avro:"first_name" json:"first_name"`
	LastName  string  `avro:"last_name" json:"last_name"`
	Email     string  `avro:"email" json:"email"`
	Country   string  `avro:"country" json:"country"`
	City      string  `avro:"city" json:"city"`
	Age       int32   `avro:"age" json:"age"`
	Score     float64 `avro:"score" json:"score"`
	Active    bool    `avro:"active" json:"active"`
	CreatedAt int64   `avro:"created_at" json:"created_at"`
}

func newFlat() *Flat {
	return &Flat{ID: 123456, FirstName: "Ada", LastName: "Lovelace", Email: "ada.lovelace@example.com",
		Country: "GB", City: "London", Age: 36, Score: 97.5, Active: true, CreatedAt: 1700000000000}
}

// Nested is an order of about 50 fields with 10 tagged fields, arrays and a
// map.
type Nested struct {
	ID        int64             `avro:"id" json:"id"`
	Status    string            `avro:"status" json:"status"`
	Currency  string            `avro:"currency" json:"currency"`
	Total     float64           `avro:"total" json:"total"`
	Tax       float64           `avro:"tax" json:"tax"`
	Discount  float64           `avro:"discount" json:"discount"`
	CreatedAt int64             `avro:"created_at" json:"created_at"`
	Channel   string            `avro:"channel" json:"channel"`
	Coupon    string            `avro:"coupon" json:"coupon"`
	Weight    float64           `avro:"weight" json:"weight"`
	Priority  int32             `avro:"priority" json:"priority"`
	Gift      bool              `avro:"gift" json:"gift"`
	Source    string            `avro:"source" json:"source"`
	Campaign  string            `avro:"campaign" json:"campaign"`
	Customer  Customer          `avro:"customer" json:"customer"`
	Billing   Address           `avro:"billing" json:"billing"`
	Shipping  ShipAddress       `avro:"shipping" json:"shipping"`
	Lines     []Line            `avro:"lines" json:"lines"`
	Notes     []string          `avro:"notes" json:"notes"`
	Attrs     map[string]string `avro:"attrs" json:"attrs"`
}

type Customer struct {
	ID    int64  `avro:"id" json:"id"`
	Name  string `avro:"name" json:"name"`
	Email string `avro:"email" json:"email"`
	Phone string `avro:"phone" json:"phone"`
	Tier  string `avro:"tier" json:"tier"`
	Since int64  `avro:"since" json:"since"`
}

type Address struct {
	Street  string `avro:"street" json:"street"`
	City    string `avro:"city" json:"city"`
	Zip     string `avro:"zip" json:"zip"`
	Country string `avro:"country" json:"country"`
	Region  string `avro:"region" json:"region"`
}

type ShipAddress struct {
	Street  string `avro:"street" json:"street"`
	City    string `avro:"city" json:"city"`
	Zip     string `avro:"zip" json:"zip"`
	Country string `avro:"country" json:"country"`
	Region  string `avro:"region" json:"region"`
}

type Line struct {
	SKU   string  `avro:"sku" json:"sku"`
	Name  string  `avro:"name" json:"name"`
	Qty   int32   `avro:"qty" json:"qty"`
	Price float64 `avro:"price" json:"price"`
	Note  string  `avro:"note" json:"note"`
}

func newNested() *Nested {
	n := &Nested{ID: 98765, Status: "PAID", Currency: "EUR", Total: 249.90, Tax: 41.65, Discount: 10,
		CreatedAt: 1700000000000, Channel: "web", Coupon: "SPRING", Weight: 2.4, Priority: 2, Gift: true,
		Source: "newsletter", Campaign: "spring-2026",
		Customer: Customer{ID: 42, Name: "Grace Hopper", Email: "grace@example.net", Phone: "+1 202 555 0143", Tier: "gold", Since: 1600000000000},
		Billing:  Address{Street: "1 Navy Way", City: "Arlington", Zip: "22201", Country: "US", Region: "VA"},
		Shipping: ShipAddress{Street: "2 Pentagon Blvd", City: "Washington", Zip: "20301", Country: "US", Region: "DC"},
		Notes:    []string{"leave at the door", "call before delivery"},
		Attrs:    map[string]string{"passport": "X1234567", "dob": "1906-12-09", "loyalty": "L-99"},
	}
	for i := 0; i < 5; i++ {
		n.Lines = append(n.Lines, Line{SKU: fmt.Sprintf("SKU-%04d", i), Name: "Widget", Qty: int32(i + 1), Price: 9.99, Note: "gift wrap for Alan"})
	}
	return n
}

// Big carries one tagged 64 KiB bytes field.
type Big struct {
	ID   int64  `avro:"id" json:"id"`
	Blob []byte `avro:"blob" json:"blob"`
}

var bigBlob = bytes.Repeat([]byte("0123456789abcdef"), 4096)

func newBig() *Big { return &Big{ID: 1, Blob: bigBlob} }

const avroFlat = `{"type":"record","name":"Flat","namespace":"bench","fields":[
 {"name":"id","type":"long"},
 {"name":"first_name","type":"string","confluent:tags":["PII"]},
 {"name":"last_name","type":"string","confluent:tags":["PII"]},
 {"name":"email","type":"string","confluent:tags":["PII"]},
 {"name":"country","type":"string"},{"name":"city","type":"string"},
 {"name":"age","type":"int"},{"name":"score","type":"double"},
 {"name":"active","type":"boolean"},{"name":"created_at","type":"long"}]}`

const avroNested = `{"type":"record","name":"Nested","namespace":"bench","fields":[
 {"name":"id","type":"long"},{"name":"status","type":"string"},{"name":"currency","type":"string"},
 {"name":"total","type":"double"},{"name":"tax","type":"double"},{"name":"discount","type":"double"},
 {"name":"created_at","type":"long"},{"name":"channel","type":"string"},{"name":"coupon","type":"string"},
 {"name":"weight","type":"double"},{"name":"priority","type":"int"},{"name":"gift","type":"boolean"},
 {"name":"source","type":"string"},{"name":"campaign","type":"string"},
 {"name":"customer","type":{"type":"record","name":"Customer","fields":[
   {"name":"id","type":"long"},
   {"name":"name","type":"string","confluent:tags":["PII"]},
   {"name":"email","type":"string","confluent:tags":["PII"]},
   {"name":"phone","type":"string","confluent:tags":["PII"]},
   {"name":"tier","type":"string"},{"name":"since","type":"long"}]}},
 {"name":"billing","type":{"type":"record","name":"Address","fields":[
   {"name":"street","type":"string","confluent:tags":["PII"]},{"name":"city","type":"string"},
   {"name":"zip","type":"string","confluent:tags":["PII"]},{"name":"country","type":"string"},{"name":"region","type":"string"}]}},
 {"name":"shipping","type":{"type":"record","name":"ShipAddress","fields":[
   {"name":"street","type":"string","confluent:tags":["PII"]},{"name":"city","type":"string"},
   {"name":"zip","type":"string","confluent:tags":["PII"]},{"name":"country","type":"string"},{"name":"region","type":"string"}]}},
 {"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[
   {"name":"sku","type":"string"},{"name":"name","type":"string"},{"name":"qty","type":"int"},
   {"name":"price","type":"double"},{"name":"note","type":"string","confluent:tags":["PII"]}]}}},
 {"name":"notes","type":{"type":"array","items":"string"},"confluent:tags":["PII"]},
 {"name":"attrs","type":{"type":"map","values":"string"},"confluent:tags":["PII"]}]}`

const avroBig = `{"type":"record","name":"Big","namespace":"bench","fields":[
 {"name":"id","type":"long"},{"name":"blob","type":"bytes","confluent:tags":["PII"]}]}`

// jsonSchemaOf builds a JSON Schema for the flat/nested records.
const jsonFlat = `{"type":"object","properties":{
 "id":{"type":"integer"},
 "first_name":{"type":"string","confluent:tags":["PII"]},
 "last_name":{"type":"string","confluent:tags":["PII"]},
 "email":{"type":"string","confluent:tags":["PII"]},
 "country":{"type":"string"},"city":{"type":"string"},"age":{"type":"integer"},
 "score":{"type":"number"},"active":{"type":"boolean"},"created_at":{"type":"integer"}}}`

const jsonNested = `{"type":"object","$defs":{
 "Address":{"type":"object","properties":{"street":{"type":"string","confluent:tags":["PII"]},"city":{"type":"string"},
   "zip":{"type":"string","confluent:tags":["PII"]},"country":{"type":"string"},"region":{"type":"string"}}}},
 "properties":{
 "id":{"type":"integer"},"status":{"type":"string"},"currency":{"type":"string"},"total":{"type":"number"},
 "tax":{"type":"number"},"discount":{"type":"number"},"created_at":{"type":"integer"},"channel":{"type":"string"},
 "coupon":{"type":"string"},"weight":{"type":"number"},"priority":{"type":"integer"},"gift":{"type":"boolean"},
 "source":{"type":"string"},"campaign":{"type":"string"},
 "customer":{"type":"object","properties":{"id":{"type":"integer"},
   "name":{"type":"string","confluent:tags":["PII"]},"email":{"type":"string","confluent:tags":["PII"]},
   "phone":{"type":"string","confluent:tags":["PII"]},"tier":{"type":"string"},"since":{"type":"integer"}}},
 "billing":{"$ref":"#/$defs/Address"},"shipping":{"$ref":"#/$defs/Address"},
 "lines":{"type":"array","items":{"type":"object","properties":{"sku":{"type":"string"},"name":{"type":"string"},
   "qty":{"type":"integer"},"price":{"type":"number"},"note":{"type":"string","confluent:tags":["PII"]}}}},
 "notes":{"type":"array","items":{"type":"string"},"confluent:tags":["PII"]},
 "attrs":{"type":"object","additionalProperties":{"type":"string"}}}}`

const protoFlat = `syntax = "proto3";
package bench;
import "confluent/meta.proto";
message Flat {
  int64 id = 1;
  string first_name = 2 [(confluent.field_meta).tags = "PII"];
  string last_name = 3 [(confluent.field_meta).tags = "PII"];
  string email = 4 [(confluent.field_meta).tags = "PII"];
  string country = 5; string city = 6; int32 age = 7; double score = 8; bool active = 9; int64 created_at = 10;
}`

const protoNested = `syntax = "proto3";
package bench;
import "confluent/meta.proto";
message Customer {
  int64 id = 1;
  string name = 2 [(confluent.field_meta).tags = "PII"];
  string email = 3 [(confluent.field_meta).tags = "PII"];
  string phone = 4 [(confluent.field_meta).tags = "PII"];
  string tier = 5; int64 since = 6;
}
message Address {
  string street = 1 [(confluent.field_meta).tags = "PII"];
  string city = 2;
  string zip = 3 [(confluent.field_meta).tags = "PII"];
  string country = 4; string region = 5;
}
message Nested {
  int64 id = 1; string status = 2; string currency = 3; double total = 4; double tax = 5; double discount = 6;
  int64 created_at = 7; string channel = 8; string coupon = 9; double weight = 10; int32 priority = 11;
  bool gift = 12; string source = 13; string campaign = 14;
  Customer customer = 15; Address billing = 16; Address shipping = 17;
  repeated string notes = 19 [(confluent.field_meta).tags = "PII"];
  map<string, string> attrs = 20;
  repeated string line_notes = 21 [(confluent.field_meta).tags = "PII"];
}`

// asJSON is the JSON document of a record, as a generic value.
func asJSON(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

func protoreflectName(s string) protoreflect.FullName { return protoreflect.FullName(s) }
