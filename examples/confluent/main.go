// Command confluent produces and consumes Avro records with tagged fields
// through confluent-kafka-go, using tagseal as the value serde. The only
// change from a plain Confluent setup is serde.NewSerializer /
// serde.NewDeserializer instead of avrov2's constructors.
//
//	go run ./examples/confluent -bootstrap 127.0.0.1:9092 -registry http://127.0.0.1:8081
//
// With -registry mock://demo it runs on an in-memory registry and registers
// the tagged schema itself; LOCAL_SECRET (or -secret) is the local-KMS secret.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"

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
	topic := flag.String("topic", "customers", "topic")
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
	ser, err := serde.NewSerializer(client, cserde.ValueSerde, conf)
	if err != nil {
		return err
	}
	producer, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": bootstrap})
	if err != nil {
		return err
	}
	defer producer.Close()
	for i := int32(0); i < 3; i++ {
		value, err := ser.Serialize(topic, &Customer{ID: i, Email: fmt.Sprintf("user%d@example.com", i)})
		if err != nil {
			return err
		}
		delivery := make(chan kafka.Event, 1)
		if err := producer.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Value: value}, delivery); err != nil {
			return err
		}
		if m := (<-delivery).(*kafka.Message); m.TopicPartition.Error != nil {
			return m.TopicPartition.Error
		}
	}

	dconf := serde.NewDeserializerConfig()
	dconf.RuleConfig = rules
	de, err := serde.NewDeserializer(client, cserde.ValueSerde, dconf)
	if err != nil {
		return err
	}
	consumer, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "group.id": "example", "auto.offset.reset": "earliest"})
	if err != nil {
		return err
	}
	defer consumer.Close()
	if err := consumer.Subscribe(topic, nil); err != nil {
		return err
	}
	for read := 0; read < 3; {
		msg, err := consumer.ReadMessage(10 * time.Second)
		if err != nil {
			return err
		}
		var c Customer
		if err := de.DeserializeInto(topic, msg.Value, &c); err != nil {
			return err
		}
		fmt.Printf("consumed id=%d email=%s\n", c.ID, c.Email)
		read++
	}
	return nil
}
