// Command gotestee is the conformance testee for Confluent's Go CSFLE
// implementation: confluent-kafka-go v2's serdes (avrov2, jsonschema,
// protobuf) with schemaregistry/rules/encryption and local-kms. It speaks
// the protocol of testvectors/SPEC.md ("Conformance protocol") on stdin
// and stdout; run it with
//
//	tagseal conformance --testee gotestee --failure-list compat/gotestee/failures.txt
//
// Every request gets its own registry, so vectors cannot see each other's
// keys: tagseal's registry.Memory, set up from the vector and served over
// HTTP on a fresh loopback URL, a fresh Confluent schemaregistry client,
// a fresh rule registry holding fresh encryption executors (Confluent's
// global executors accept one registry URL per process and cache DEKs, so
// they are emptied at start), and an empty Tink KMS client registry. confluent-kafka-go has no typed errors, so
// the testee reports no error classes: the harness only checks that
// negative vectors fail.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"runtime/debug"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption"
	_ "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/localkms"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/jsonschema"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/protobuf"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	tinkregistry "github.com/tink-crypto/tink-go/v2/core/registry"

	"github.com/tagseal/tagseal/testvectors"
	"github.com/tagseal/tagseal/testvectors/conformance"
)

func main() {
	// The encryption package registers process-wide executors in init;
	// each request brings its own (see serve). Clear would Close executors
	// that were never configured (a nil dereference in v2.15): replace them.
	*cserde.GlobalRuleRegistry() = cserde.NewRuleRegistry()
	if err := conformance.Serve(os.Stdin, os.Stdout, handle); err != nil {
		fmt.Fprintln(os.Stderr, "gotestee:", err)
		os.Exit(1)
	}
}

func handle(req conformance.Request) conformance.Response {
	switch req.Op {
	case conformance.OpCapabilities:
		return conformance.Response{Capabilities: &conformance.Capabilities{
			Name:         "confluent-go",
			Formats:      []string{"AVRO", "JSON", "PROTOBUF"},
			Algorithms:   []string{"AES128_GCM", "AES256_GCM", "AES256_SIV"},
			KMS:          []string{"local-kms"},
			ErrorClasses: []string{},
			Ops:          []string{conformance.OpRead, conformance.OpWrite},
			Framings:     []string{testvectors.FramingID, testvectors.FramingGUID, testvectors.FramingGUIDHeader},
		}}
	case conformance.OpRead, conformance.OpWrite:
		if req.Vector == nil {
			return conformance.Response{Error: &conformance.Error{Message: "no vector in the request"}}
		}
		resp, err := serve(req.Op, req.Vector)
		if err != nil {
			return conformance.Response{Error: &conformance.Error{Message: err.Error()}}
		}
		return resp
	}
	return conformance.Response{Error: &conformance.Error{Message: "unknown op " + req.Op}}
}

// serve answers one read or write with a registry of its own.
func serve(op string, v *testvectors.Vector) (resp conformance.Response, err error) {
	defer func() { // Confluent's field walk can panic on odd values
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
			if os.Getenv("GOTESTEE_STACKS") != "" {
				fmt.Fprintf(os.Stderr, "%s\n", debug.Stack())
			}
		}
	}()
	// Confluent's executors register one KMS client per KEK URI in Tink's
	// process-wide registry and reuse it whatever secret a later serde is
	// configured with; a vector with another secret must not see it.
	tinkregistry.ClearKMSClients()
	reg, err := testvectors.NewRegistry(context.Background(), v)
	if err != nil {
		return resp, err
	}
	srv := httptest.NewServer(reg)
	defer srv.Close()
	client, err := schemaregistry.NewClient(schemaregistry.NewConfig(srv.URL))
	if err != nil {
		return resp, err
	}
	ruleConfig := map[string]string{"secret": v.LocalKMSSecret}
	rules := cserde.NewRuleRegistry()
	rules.RegisterExecutor(encryption.NewExecutor())
	rules.RegisterExecutor(encryption.NewFieldExecutor())
	if op == conformance.OpRead {
		plain, err := read(client, &rules, ruleConfig, v)
		if err != nil {
			return resp, err
		}
		return conformance.Response{Plaintext: plain}, nil
	}
	headers, payload, err := write(client, &rules, ruleConfig, v)
	if err != nil {
		return resp, err
	}
	var hs []testvectors.Header
	for _, h := range headers {
		hs = append(hs, testvectors.Header{Key: h.Key, Value: fmt.Sprintf("%x", h.Value)})
	}
	return conformance.WrittenResponse(payload, hs), nil
}

// serializer is what Confluent's three serializers have in common.
type serializer interface {
	SerializeWithHeaders(topic string, msg any) ([]kafka.Header, []byte, error)
	SetRuleRegistry(*cserde.RuleRegistry, map[string]string) error
}

func write(client schemaregistry.Client, rules *cserde.RuleRegistry, ruleConfig map[string]string, v *testvectors.Vector) ([]kafka.Header, []byte, error) {
	var ser serializer
	var base *cserde.BaseSerializer
	var msg any
	value, err := v.Value()
	if err != nil {
		return nil, nil, err
	}
	switch v.Format {
	case "AVRO":
		conf := avrov2.NewSerializerConfig()
		conf.AutoRegisterSchemas, conf.UseSchemaID, conf.RuleConfig = false, v.Record().ID, ruleConfig
		s, err := avrov2.NewSerializer(client, cserde.ValueSerde, conf)
		if err != nil {
			return nil, nil, err
		}
		record, ok := value.(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("Avro plaintext is %T, not a record", value)
		}
		ser, base, msg = s, &s.BaseSerializer, &record
	case "JSON":
		var doc any
		if err := json.Unmarshal(v.Plaintext, &doc); err != nil {
			return nil, nil, err
		}
		conf := jsonschema.NewSerializerConfig()
		conf.AutoRegisterSchemas, conf.UseSchemaID, conf.RuleConfig = false, v.Record().ID, ruleConfig
		s, err := jsonschema.NewSerializer(client, cserde.ValueSerde, conf)
		if err != nil {
			return nil, nil, err
		}
		ser, base, msg = s, &s.BaseSerializer, doc
	case "PROTOBUF":
		conf := protobuf.NewSerializerConfig()
		conf.AutoRegisterSchemas, conf.UseSchemaID, conf.RuleConfig = false, v.Record().ID, ruleConfig
		s, err := protobuf.NewSerializer(client, cserde.ValueSerde, conf)
		if err != nil {
			return nil, nil, err
		}
		ser, base, msg = s, &s.BaseSerializer, value
	default:
		return nil, nil, fmt.Errorf("format %q", v.Format)
	}
	if err := ser.SetRuleRegistry(rules, ruleConfig); err != nil {
		return nil, nil, err
	}
	if v.FramingOrDefault() == testvectors.FramingGUIDHeader {
		base.SchemaIDSerializer = cserde.HeaderSchemaIDSerializer
	}
	return ser.SerializeWithHeaders(v.Topic, msg)
}

// deserializer is what Confluent's three deserializers have in common.
type deserializer interface {
	DeserializeWithHeaders(topic string, headers []kafka.Header, payload []byte) (any, error)
	SetRuleRegistry(*cserde.RuleRegistry, map[string]string) error
}

func read(client schemaregistry.Client, rules *cserde.RuleRegistry, ruleConfig map[string]string, v *testvectors.Vector) (json.RawMessage, error) {
	payload, hs, err := v.Message()
	if err != nil {
		return nil, err
	}
	var headers []kafka.Header
	for _, h := range hs {
		headers = append(headers, kafka.Header{Key: h.Key, Value: h.Value})
	}
	var de deserializer
	switch v.Format {
	case "AVRO":
		conf := avrov2.NewDeserializerConfig()
		conf.RuleConfig = ruleConfig
		d, err := avrov2.NewDeserializer(client, cserde.ValueSerde, conf)
		if err != nil {
			return nil, err
		}
		d.MessageFactory = func(string, string) (any, error) { return &map[string]any{}, nil }
		de = d
	case "JSON":
		conf := jsonschema.NewDeserializerConfig()
		conf.RuleConfig = ruleConfig
		d, err := jsonschema.NewDeserializer(client, cserde.ValueSerde, conf)
		if err != nil {
			return nil, err
		}
		d.MessageFactory = func(string, string) (any, error) { return &map[string]any{}, nil }
		de = d
	case "PROTOBUF":
		conf := protobuf.NewDeserializerConfig()
		conf.RuleConfig = ruleConfig
		d, err := protobuf.NewDeserializer(client, cserde.ValueSerde, conf)
		if err != nil {
			return nil, err
		}
		want, err := v.Value()
		if err != nil {
			return nil, err
		}
		md := want.(*dynamicpb.Message).Descriptor()
		d.MessageFactory = func(string, string) (any, error) { return dynamicpb.NewMessage(md), nil }
		de = d
	default:
		return nil, fmt.Errorf("format %q", v.Format)
	}
	if err := de.SetRuleRegistry(rules, ruleConfig); err != nil {
		return nil, err
	}
	got, err := de.DeserializeWithHeaders(v.Topic, headers, payload)
	if err != nil {
		return nil, err
	}
	switch m := got.(type) {
	case proto.Message:
		return protojson.Marshal(m)
	case nil:
		return nil, errors.New("deserialized to nil")
	}
	if p, ok := got.(*map[string]any); ok {
		got = *p // the MessageFactory's value
	}
	if v.Format == "AVRO" {
		return json.Marshal(testvectors.AvroJSON(got))
	}
	return json.Marshal(got)
}
