// Command franz produces and consumes Avro records with tagged fields
// through franz-go (kgo), using tagseal's serde directly on record values
// and carrying the schema GUID in a record header.
//
//	go run ./examples/franz -bootstrap 127.0.0.1:9092 -secret …
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagseal/tagseal/serde"
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
	registryURL := flag.String("registry", "mock://example", "Schema Registry URL")
	topic := flag.String("topic", "customers-franz", "topic")
	secret := flag.String("secret", os.Getenv("LOCAL_SECRET"), "local-kms secret")
	flag.Parse()
	if err := run(*bootstrap, *registryURL, *topic, *secret); err != nil {
		log.Fatal(err)
	}
}

func run(bootstrap, registryURL, topic, secret string) error {
	client, err := schemaregistry.NewClient(schemaregistry.NewConfig(registryURL))
	if err != nil {
		return err
	}
	if _, err := client.Register(topic+"-value", schemaregistry.SchemaInfo{Schema: schema, SchemaType: "AVRO",
		RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{{Name: "encrypt-pii", Kind: "TRANSFORM",
			Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"}, Params: map[string]string{
				"encrypt.kek.name": "example-kek", "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "example"}}}}}, false); err != nil {
		return err
	}
	rules := map[string]string{"secret": secret}
	conf := serde.NewSerializerConfig()
	conf.AutoRegisterSchemas, conf.UseLatestVersion, conf.RuleConfig = false, true, rules
	conf.SchemaIDSerializer = cserde.HeaderSchemaIDSerializer
	ser, err := serde.NewSerializer(client, cserde.ValueSerde, conf)
	if err != nil {
		return err
	}
	dconf := serde.NewDeserializerConfig()
	dconf.RuleConfig = rules
	de, err := serde.NewDeserializer(client, cserde.ValueSerde, dconf)
	if err != nil {
		return err
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.DefaultProduceTopic(topic),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := int32(0); i < 3; i++ {
		headers, value, err := ser.SerializeWithHeaders(topic, &Customer{ID: i, Email: fmt.Sprintf("user%d@example.com", i)})
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
	for read := 0; read < 3; {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, r := range fetches.Records() {
			var headers []kafka.Header
			for _, h := range r.Headers {
				headers = append(headers, kafka.Header{Key: h.Key, Value: h.Value})
			}
			var c Customer
			if err := de.DeserializeWithHeadersInto(topic, headers, r.Value, &c); err != nil {
				return err
			}
			fmt.Printf("consumed id=%d email=%s\n", c.ID, c.Email)
			read++
		}
	}
	return nil
}
