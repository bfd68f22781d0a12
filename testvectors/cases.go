package testvectors

import (
	"github.com/tagseal/tagseal/registry"
)

// A shape is one schema structure under test: the record's schema, its
// references, metadata and plaintext. Rules are added per variant.
type shape struct {
	format    string
	structure string
	about     string
	schema    string
	refs      []ref
	metadata  *registry.Metadata
	plaintext string
	// pci adds a second rule (tag PCI, its own KEK).
	pci bool
	// indexes are the Protobuf message indexes of the record's message.
	indexes []int
}

// ref is a referenced schema, registered under subject before the record.
type ref struct{ name, subject, schema string }

const (
	avroFormat  = "AVRO"
	jsonFormat  = "JSON"
	protoFormat = "PROTOBUF"
)

func shapes() []shape {
	return append(append(avroShapes(), jsonShapes()...), protoShapes()...)
}

func avroShapes() []shape {
	const customer = `{"type":"record","name":"Customer","namespace":"vec","fields":[
  {"name":"id","type":"int"},
  {"name":"name","type":"string","confluent:tags":["PII"]},
  {"name":"email","type":"string","confluent:tags":["PII"]},
  {"name":"note","type":"string"}]}`
	const address = `{"type":"record","name":"Address","namespace":"vec","fields":[
  {"name":"street","type":"string","confluent:tags":["PII"]},
  {"name":"city","type":"string"}]}`
	return []shape{
		{format: avroFormat, structure: "flat", about: "two tagged strings among untagged fields",
			schema:    customer,
			plaintext: `{"id":7,"name":"Ada Lovelace","email":"ada@example.com","note":"vip"}`},
		{format: avroFormat, structure: "nested", about: "tagged fields two records deep",
			schema: `{"type":"record","name":"Order","namespace":"vec","fields":[
  {"name":"id","type":"string"},
  {"name":"customer","type":{"type":"record","name":"Buyer","fields":[
    {"name":"name","type":"string","confluent:tags":["PII"]},
    {"name":"address","type":{"type":"record","name":"Postal","fields":[
      {"name":"street","type":"string","confluent:tags":["PII"]},
      {"name":"zip","type":"string"}]}}]}}]}`,
			plaintext: `{"id":"o-1","customer":{"name":"Grace Hopper","address":{"street":"1 Navy Way","zip":"20001"}}}`},
		{format: avroFormat, structure: "array", about: "a tagged array of strings and an array of records with a tagged field",
			schema: `{"type":"record","name":"Team","namespace":"vec","fields":[
  {"name":"members","type":{"type":"array","items":"string"},"confluent:tags":["PII"]},
  {"name":"contacts","type":{"type":"array","items":{"type":"record","name":"Contact","fields":[
    {"name":"email","type":"string","confluent:tags":["PII"]},
    {"name":"role","type":"string"}]}}}]}`,
			plaintext: `{"members":["Alan Turing","Joan Clarke"],"contacts":[{"email":"alan@example.com","role":"lead"},{"email":"joan@example.com","role":"analyst"}]}`},
		{format: avroFormat, structure: "map", about: "a tagged map of strings (one entry: Avro map order is not fixed)",
			schema: `{"type":"record","name":"Profile","namespace":"vec","fields":[
  {"name":"user","type":"string"},
  {"name":"attributes","type":{"type":"map","values":"string"},"confluent:tags":["PII"]}]}`,
			plaintext: `{"user":"u-42","attributes":{"phone":"+1-202-555-0143"}}`},
		{format: avroFormat, structure: "union", about: "tagged nullable unions (one set, one null) and a union of two records",
			schema: `{"type":"record","name":"Person","namespace":"vec","fields":[
  {"name":"nickname","type":["null","string"],"confluent:tags":["PII"]},
  {"name":"maiden","type":["null","string"],"default":null,"confluent:tags":["PII"]},
  {"name":"reach","type":[
    {"type":"record","name":"Email","fields":[{"name":"address","type":"string","confluent:tags":["PII"]}]},
    {"type":"record","name":"Phone","fields":[{"name":"number","type":"string","confluent:tags":["PII"]}]}]}]}`,
			plaintext: `{"nickname":{"string":"Amazing Grace"},"maiden":null,"reach":{"vec.Phone":{"number":"+44 20 7946 0958"}}}`},
		{format: avroFormat, structure: "reference", about: "the tagged field lives in a referenced schema",
			schema: `{"type":"record","name":"Shipment","namespace":"vec","fields":[
  {"name":"id","type":"string"},
  {"name":"to","type":"vec.Address"}]}`,
			refs:      []ref{{name: "vec.Address", subject: "vec.Address", schema: address}},
			plaintext: `{"id":"s-1","to":{"street":"221B Baker Street","city":"London"}}`},
		{format: avroFormat, structure: "named-type-reuse", about: "one named record used three times (field, reuse by name, array items)",
			schema: `{"type":"record","name":"Route","namespace":"vec","fields":[
  {"name":"from","type":` + address + `},
  {"name":"to","type":"vec.Address"},
  {"name":"stops","type":{"type":"array","items":"vec.Address"}}]}`,
			plaintext: `{"from":{"street":"1 Main St","city":"A"},"to":{"street":"2 High St","city":"B"},"stops":[{"street":"3 Mill Rd","city":"C"}]}`},
		{format: avroFormat, structure: "recursion", about: "a recursive record, three levels deep",
			schema: `{"type":"record","name":"Node","namespace":"vec","fields":[
  {"name":"label","type":"string","confluent:tags":["PII"]},
  {"name":"children","type":{"type":"array","items":"Node"}}]}`,
			plaintext: `{"label":"root secret","children":[{"label":"child secret","children":[{"label":"leaf secret","children":[]}]}]}`},
		{format: avroFormat, structure: "bytes", about: "a tagged bytes field (raw ciphertext, no base64)",
			schema: `{"type":"record","name":"Blob","namespace":"vec","fields":[
  {"name":"name","type":"string"},
  {"name":"data","type":"bytes","confluent:tags":["PII"]}]}`,
			plaintext: `{"name":"scan","data":"fingerprint\u00ca\u00fe\u0000\u0001"}`},
		{format: avroFormat, structure: "metadata-tags", about: "no inline tags: metadata.tags patterns (exact and **) tag the fields",
			schema: `{"type":"record","name":"Account","namespace":"vec","fields":[
  {"name":"user","type":"string"},
  {"name":"ssn","type":"string"},
  {"name":"home","type":{"type":"record","name":"Home","fields":[{"name":"ssn","type":"string"}]}}]}`,
			metadata:  &registry.Metadata{Tags: map[string][]string{"vec.Account.ssn": {"PII"}, "**.Home.*": {"PII"}}},
			plaintext: `{"user":"visible-user","ssn":"078-05-1120","home":{"ssn":"219-09-9999"}}`},
		{format: avroFormat, structure: "two-rules", about: "PII and PCI fields under two rules with two KEKs",
			schema: `{"type":"record","name":"Payment","namespace":"vec","fields":[
  {"name":"holder","type":"string","confluent:tags":["PII"]},
  {"name":"card","type":"string","confluent:tags":["PCI"]},
  {"name":"amount","type":"long"}]}`,
			pci: true, plaintext: `{"holder":"Eve Example","card":"4111111111111111","amount":1999}`},
	}
}

func jsonShapes() []shape {
	const flat = `{"$schema":"http://json-schema.org/draft-07/schema#","title":"Customer","type":"object","properties":{
  "id":{"type":"integer"},
  "name":{"type":"string","confluent:tags":["PII"]},
  "email":{"type":"string","confluent:tags":["PII"]},
  "note":{"type":"string"}}}`
	return []shape{
		{format: jsonFormat, structure: "flat", about: "two tagged strings among untagged properties",
			schema: flat, plaintext: `{"id":7,"name":"Ada Lovelace","email":"ada@example.com","note":"vip"}`},
		{format: jsonFormat, structure: "nested", about: "tagged properties two objects deep",
			schema: `{"$schema":"http://json-schema.org/draft-07/schema#","title":"Order","type":"object","properties":{
  "id":{"type":"string"},
  "customer":{"type":"object","properties":{
    "name":{"type":"string","confluent:tags":["PII"]},
    "address":{"type":"object","properties":{
      "street":{"type":"string","confluent:tags":["PII"]},
      "zip":{"type":"string"}}}}}}}`,
			plaintext: `{"id":"o-1","customer":{"name":"Grace Hopper","address":{"street":"1 Navy Way","zip":"20001"}}}`},
		{format: jsonFormat, structure: "array", about: "a tagged array of strings and an array of objects with a tagged property",
			schema: `{"$schema":"http://json-schema.org/draft-07/schema#","title":"Team","type":"object","properties":{
  "members":{"type":"array","items":{"type":"string"},"confluent:tags":["PII"]},
  "contacts":{"type":"array","items":{"type":"object","properties":{
    "email":{"type":"string","confluent:tags":["PII"]},
    "role":{"type":"string"}}}}}}`,
			plaintext: `{"members":["Alan Turing","Joan Clarke"],"contacts":[{"email":"alan@example.com","role":"lead"},{"email":"joan@example.com","role":"analyst"}]}`},
		{format: jsonFormat, structure: "oneof", about: "oneOf: the branch the value validates against is walked",
			schema: `{"$schema":"http://json-schema.org/draft-07/schema#","title":"Contact","type":"object","properties":{
  "reach":{"oneOf":[
    {"type":"object","properties":{"email":{"type":"string","confluent:tags":["PII"]}},"required":["email"],"additionalProperties":false},
    {"type":"object","properties":{"phone":{"type":"string","confluent:tags":["PII"]}},"required":["phone"],"additionalProperties":false}]}}}`,
			plaintext: `{"reach":{"phone":"+44 20 7946 0958"}}`},
		{format: jsonFormat, structure: "allof", about: "allOf: tags from every branch apply",
			schema: `{"$schema":"http://json-schema.org/draft-07/schema#","title":"Employee","type":"object","allOf":[
  {"properties":{"name":{"type":"string","confluent:tags":["PII"]}}},
  {"properties":{"badge":{"type":"string","confluent:tags":["PII"]},"team":{"type":"string"}}}]}`,
			plaintext: `{"name":"Katherine Johnson","badge":"B-1918","team":"flight"}`},
		{format: jsonFormat, structure: "definitions-ref", about: "tagged fields inside a definition reached by $ref",
			schema: `{"$schema":"http://json-schema.org/draft-07/schema#","title":"Shipment","type":"object",
  "definitions":{"Address":{"type":"object","properties":{"street":{"type":"string","confluent:tags":["PII"]},"city":{"type":"string"}}}},
  "properties":{"from":{"$ref":"#/definitions/Address"},"to":{"$ref":"#/definitions/Address"}}}`,
			plaintext: `{"from":{"street":"1 Main St","city":"A"},"to":{"street":"221B Baker Street","city":"London"}}`},
		{format: jsonFormat, structure: "reference", about: "the tagged field lives in a referenced schema",
			schema: `{"$schema":"http://json-schema.org/draft-07/schema#","title":"Parcel","type":"object","properties":{
  "id":{"type":"string"},"to":{"$ref":"address.json"}}}`,
			refs: []ref{{name: "address.json", subject: "address", schema: `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{
  "street":{"type":"string","confluent:tags":["PII"]},"city":{"type":"string"}}}`}},
			plaintext: `{"id":"s-1","to":{"street":"221B Baker Street","city":"London"}}`},
		{format: jsonFormat, structure: "recursion", about: "a recursive schema ($ref to #), three levels deep",
			schema: `{"$schema":"http://json-schema.org/draft-07/schema#","title":"Node","type":"object","properties":{
  "label":{"type":"string","confluent:tags":["PII"]},
  "children":{"type":"array","items":{"$ref":"#"}}}}`,
			plaintext: `{"label":"root secret","children":[{"label":"child secret","children":[{"label":"leaf secret","children":[]}]}]}`},
		{format: jsonFormat, structure: "nullable", about: "a tagged [\"string\",\"null\"] property, once set and once null",
			schema: `{"$schema":"http://json-schema.org/draft-07/schema#","title":"Person","type":"object","properties":{
  "nickname":{"type":["string","null"],"confluent:tags":["PII"]},
  "maiden":{"type":["string","null"],"confluent:tags":["PII"]}}}`,
			plaintext: `{"nickname":"Amazing Grace","maiden":null}`},
		{format: jsonFormat, structure: "metadata-tags", about: "no inline tags: metadata.tags patterns tag the fields",
			schema: `{"$schema":"http://json-schema.org/draft-07/schema#","title":"Account","type":"object","properties":{
  "user":{"type":"string"},"ssn":{"type":"string"}}}`,
			metadata:  &registry.Metadata{Tags: map[string][]string{"$.ssn": {"PII"}}},
			plaintext: `{"user":"visible-user","ssn":"078-05-1120"}`},
		{format: jsonFormat, structure: "two-rules", about: "PII and PCI fields under two rules with two KEKs",
			schema: `{"$schema":"http://json-schema.org/draft-07/schema#","title":"Payment","type":"object","properties":{
  "holder":{"type":"string","confluent:tags":["PII"]},
  "card":{"type":"string","confluent:tags":["PCI"]},
  "amount":{"type":"integer"}}}`,
			pci: true, plaintext: `{"holder":"Eve Example","card":"4111111111111111","amount":1999}`},
	}
}

const protoHeader = `syntax = "proto3";
package vec;
import "confluent/meta.proto";
`

func protoShapes() []shape {
	return []shape{
		{format: protoFormat, structure: "flat", about: "two tagged strings among untagged fields",
			schema: protoHeader + `
message Customer {
  int32 id = 1;
  string name = 2 [(confluent.field_meta).tags = "PII"];
  string email = 3 [(confluent.field_meta).tags = "PII"];
  string note = 4;
}`, plaintext: `{"id":7,"name":"Ada Lovelace","email":"ada@example.com","note":"vip"}`},
		{format: protoFormat, structure: "nested", about: "tagged fields in nested messages",
			schema: protoHeader + `
message Order {
  string id = 1;
  Buyer customer = 2;
}
message Buyer {
  string name = 1 [(confluent.field_meta).tags = "PII"];
  Postal address = 2;
}
message Postal {
  string street = 1 [(confluent.field_meta).tags = "PII"];
  string zip = 2;
}`, plaintext: `{"id":"o-1","customer":{"name":"Grace Hopper","address":{"street":"1 Navy Way","zip":"20001"}}}`},
		{format: protoFormat, structure: "repeated", about: "a tagged repeated string and a repeated message with a tagged field",
			schema: protoHeader + `
message Team {
  repeated string members = 1 [(confluent.field_meta).tags = "PII"];
  repeated Contact contacts = 2;
}
message Contact {
  string email = 1 [(confluent.field_meta).tags = "PII"];
  string role = 2;
}`, plaintext: `{"members":["Alan Turing","Joan Clarke"],"contacts":[{"email":"alan@example.com","role":"lead"},{"email":"joan@example.com","role":"analyst"}]}`},
		{format: protoFormat, structure: "map", about: "a tagged map<string,string>: its values are encrypted",
			schema: protoHeader + `
message Profile {
  string user = 1;
  map<string, string> attributes = 2 [(confluent.field_meta).tags = "PII"];
}`, plaintext: `{"user":"u-42","attributes":{"phone":"+1-202-555-0143"}}`},
		{format: protoFormat, structure: "oneof", about: "a oneof with tagged members; the set one is encrypted",
			schema: protoHeader + `
message Contact {
  oneof via {
    string email = 1 [(confluent.field_meta).tags = "PII"];
    string phone = 2 [(confluent.field_meta).tags = "PII"];
    int64 account = 3;
  }
}`, plaintext: `{"phone":"+44 20 7946 0958"}`},
		{format: protoFormat, structure: "reference", about: "an imported schema (a reference) defines a message with a tagged field",
			schema: protoHeader + `
import "address.proto";
message Shipment {
  string id = 1;
  vec.common.Address to = 2;
}`, refs: []ref{{name: "address.proto", subject: "address.proto", schema: `syntax = "proto3";
package vec.common;
import "confluent/meta.proto";
message Address {
  string street = 1 [(confluent.field_meta).tags = "PII"];
  string city = 2;
}`}}, plaintext: `{"id":"s-1","to":{"street":"221B Baker Street","city":"London"}}`},
		{format: protoFormat, structure: "recursion", about: "a recursive message, three levels deep",
			schema: protoHeader + `
message Node {
  string label = 1 [(confluent.field_meta).tags = "PII"];
  repeated Node children = 2;
}`, plaintext: `{"label":"root secret","children":[{"label":"child secret","children":[{"label":"leaf secret"}]}]}`},
		{format: protoFormat, structure: "bytes", about: "a tagged bytes field (raw ciphertext, no base64)",
			schema: protoHeader + `
message Blob {
  string name = 1;
  bytes data = 2 [(confluent.field_meta).tags = "PII"];
}`, plaintext: `{"name":"scan","data":"ZmluZ2VycHJpbnTK/gAB"}`},
		{format: protoFormat, structure: "metadata-tags", about: "no inline tags: metadata.tags patterns tag the fields",
			schema: protoHeader + `
message Account {
  string user = 1;
  string ssn = 2;
}`, metadata: &registry.Metadata{Tags: map[string][]string{"vec.Account.ssn": {"PII"}}},
			plaintext: `{"user":"visible-user","ssn":"078-05-1120"}`},
		{format: protoFormat, structure: "message-index", about: "the record is the second message of the file (message indexes [1])",
			schema: protoHeader + `
message Other { string x = 1; }
message Customer {
  int32 id = 1;
  string name = 2 [(confluent.field_meta).tags = "PII"];
  string email = 3 [(confluent.field_meta).tags = "PII"];
}`, indexes: []int{1}, plaintext: `{"id":7,"name":"Ada Lovelace","email":"ada@example.com"}`},
		{format: protoFormat, structure: "two-rules", about: "PII and PCI fields under two rules with two KEKs",
			schema: protoHeader + `
message Payment {
  string holder = 1 [(confluent.field_meta).tags = "PII"];
  string card = 2 [(confluent.field_meta).tags = "PCI"];
  int64 amount = 3;
}`, pci: true, plaintext: `{"holder":"Eve Example","card":"4111111111111111","amount":"1999"}`},
	}
}
