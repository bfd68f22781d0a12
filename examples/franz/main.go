// Command franz produces and consumes Avro records with tagged fields
// through franz-go (kgo) and tagseal's pure-Go API: no cgo, no librdkafka
// (CGO_ENABLED=0 go build works). The schema GUID travels in a record
// header.
//
//	go run ./examples/franz -bootstrap 127.0.0.1:9092 -secret …
//
// Without -registry it uses an embedded registry (registry.NewMemory); with
// -registry http://host:8081 a real Schema Registry with its DEK Registry.
// -produce N and -consume N choose how many records each side handles
// (default 3 and 3), so another client can write or read the other side.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagseal/tagseal"
	"github.com/tagseal/tagseal/registry"
)

// Customer is the record; email is tagged PII in the registered schema.
type Customer struct {
	ID    int32  `avro:"id"`
	Email string `avro:"email"`
}

const schema = `{"type":"record","name":"Customer","namespace":"example","fields":[
  {"name":"id","type":"int"},{"name":"email","type":"string","confluent:tags":["PII"]}]}`

func main() {
	bootstrap := flag.String("bootstrap", "127.0.0.1:9092", "Kafka bootstrap servers")
	registryURL := flag.String("registry", "", "Schema Registry URL (default: an embedded registry)")
	topic := flag.String("topic", "customers-franz", "topic")
	secret := flag.String("secret", os.Getenv("LOCAL_SECRET"), "local-kms secret")
	produce := flag.Int("produce", 3, "records to produce")
	consume := flag.Int("consume", 3, "records to consume from the start of the topic")
	flag.Parse()
	if err := run(*bootstrap, *registryURL, *topic, *secret, *produce, *consume); err != nil {
		log.Fatal(err)
	}
}

func run(bootstrap, registryURL, topic, secret string, produce, consume int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var reg registry.Client = registry.NewMemory()
	if registryURL != "" {
		var err error
		if reg, err = registry.New(registryURL); err != nil {
			return err
		}
	}
	// Register the tagged schema and its ENCRYPT rule (a security team's
	// job; idempotent).
	if _, err := reg.Register(ctx, topic+"-value", registry.Schema{Schema: schema, SchemaType: registry.TypeAvro,
		RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{{Name: "encrypt-pii", Kind: "TRANSFORM",
			Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"}, Params: map[string]string{
				"encrypt.kek.name": "example-kek", "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "example"}}}}}, false); err != nil {
		return err
	}
	keys := tagseal.Keys{RuleConfig: map[string]string{"secret": secret}}
	ser, err := tagseal.NewSerializer(reg, tagseal.Value, tagseal.SerializerConfig{UseLatestVersion: true, SchemaIDInHeader: true, Keys: keys})
	if err != nil {
		return err
	}
	de, err := tagseal.NewDeserializer(reg, tagseal.Value, tagseal.DeserializerConfig{Keys: keys})
	if err != nil {
		return err
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.DefaultProduceTopic(topic),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	for i := 0; i < produce; i++ {
		headers, value, err := ser.SerializeWithHeaders(ctx, topic, &Customer{ID: int32(i), Email: fmt.Sprintf("user%d@example.com", i)})
		if err != nil {
			return err
		}
		rec := &kgo.Record{Value: value}
		for _, h := range headers {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			return err
		}
	}
	for read := 0; read < consume; {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("consumed %d of %d records: %w", read, consume, err)
		}
		var errs []error
		fetches.EachError(func(_ string, _ int32, err error) { errs = append(errs, err) })
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		for _, r := range fetches.Records() {
			headers := make([]tagseal.Header, len(r.Headers))
			for i, h := range r.Headers {
				headers[i] = tagseal.Header{Key: h.Key, Value: h.Value}
			}
			var c Customer
			if err := de.DeserializeWithHeadersInto(ctx, topic, headers, r.Value, &c); err != nil {
				return err
			}
			fmt.Printf("consumed id=%d email=%s\n", c.ID, c.Email)
			read++
		}
	}
	return nil
}
