package e2e

import (
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	_ "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption"
	_ "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/localkms"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"

	pureregistry "github.com/tagseal/tagseal/registry"
)

// The pure-Go API against Confluent Go through the real broker: the franz
// example, built with CGO_ENABLED=0, writes records that a confluent-kafka-go
// consumer with Confluent's own CSFLE deserializer reads, and reads records
// Confluent's CSFLE serializer wrote. Both sides share one tagseal
// registry.Memory served over HTTP (Confluent's encryption executor is
// process-wide and accepts one registry, so the server is the test binary's).

const pureSecret = "e2e-pure-go-secret"

const exampleSchema = `{"type":"record","name":"Customer","namespace":"example","fields":[
  {"name":"id","type":"int"},{"name":"email","type":"string","confluent:tags":["PII"]}]}`

type exampleCustomer struct {
	ID    int32  `avro:"id"`
	Email string `avro:"email"`
}

var (
	pureRegistryOnce sync.Once
	pureRegistryURL  string
)

func pureRegistry() string {
	pureRegistryOnce.Do(func() {
		pureRegistryURL = httptest.NewServer(pureregistry.NewMemory()).URL // lives as long as the test binary
	})
	return pureRegistryURL
}

// runFranzExample runs examples/franz built without cgo.
func runFranzExample(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"run", "../examples/franz"}, args...)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("examples/franz (CGO_ENABLED=0): %v\n%s", err, out)
	}
	return string(out)
}

func TestPureGoToConfluentGo(t *testing.T) {
	broker := bootstrap(t)
	topic := newTopic(t, broker, 1, nil)
	url := pureRegistry()
	out := runFranzExample(t, "-bootstrap", broker, "-registry", url, "-topic", topic, "-secret", pureSecret, "-produce", "3", "-consume", "3")
	if n := strings.Count(out, "consumed id="); n != 3 {
		t.Fatalf("the example consumed %d records, want 3:\n%s", n, out)
	}
	records := readRaw(t, broker, topic, 3)
	for _, r := range records {
		if strings.Contains(string(r.Value), "@example.com") {
			t.Fatal("the pure-Go producer wrote an email in clear")
		}
	}

	client, err := schemaregistry.NewClient(schemaregistry.NewConfig(url))
	if err != nil {
		t.Fatal(err)
	}
	dc := avrov2.NewDeserializerConfig()
	dc.RuleConfig = map[string]string{"secret": pureSecret}
	de, err := avrov2.NewDeserializer(client, cserde.ValueSerde, dc)
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": broker, "group.id": "pure-" + topic, "auto.offset.reset": "earliest"})
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	if err := consumer.Subscribe(topic, nil); err != nil {
		t.Fatal(err)
	}
	seen := map[int32]bool{}
	deadline := time.Now().Add(60 * time.Second)
	for len(seen) < 3 && time.Now().Before(deadline) {
		msg, err := consumer.ReadMessage(time.Second)
		if err != nil {
			continue // timeouts while the group joins
		}
		var c exampleCustomer
		if err := de.DeserializeWithHeadersInto(topic, msg.Headers, msg.Value, &c); err != nil {
			t.Fatalf("Confluent Go read a pure-Go record: %v", err)
		}
		if want := fmt.Sprintf("user%d@example.com", c.ID); c.Email != want {
			t.Fatalf("Confluent Go read email %q for id %d, want %q", c.Email, c.ID, want)
		}
		seen[c.ID] = true
	}
	if len(seen) != 3 {
		t.Fatalf("Confluent Go read %d of 3 records", len(seen))
	}
}

func TestConfluentGoToPureGo(t *testing.T) {
	broker := bootstrap(t)
	topic := newTopic(t, broker, 1, nil)
	url := pureRegistry()
	client, err := schemaregistry.NewClient(schemaregistry.NewConfig(url))
	if err != nil {
		t.Fatal(err)
	}
	// The same registration the example makes, so it finds its rule.
	if _, err := client.Register(topic+"-value", schemaregistry.SchemaInfo{Schema: exampleSchema, SchemaType: "AVRO",
		RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{{Name: "encrypt-pii", Kind: "TRANSFORM",
			Mode: "WRITEREAD", Type: "ENCRYPT", Tags: []string{"PII"}, Params: map[string]string{
				"encrypt.kek.name": "example-kek", "encrypt.kms.type": "local-kms", "encrypt.kms.key.id": "example"}}}}}, false); err != nil {
		t.Fatal(err)
	}
	sc := avrov2.NewSerializerConfig()
	sc.AutoRegisterSchemas, sc.UseLatestVersion = false, true
	sc.RuleConfig = map[string]string{"secret": pureSecret}
	ser, err := avrov2.NewSerializer(client, cserde.ValueSerde, sc)
	if err != nil {
		t.Fatal(err)
	}
	producer := newProducer(t, broker) // drains delivery reports
	for i := int32(0); i < 3; i++ {
		value, err := ser.Serialize(topic, &exampleCustomer{ID: i, Email: fmt.Sprintf("user%d@example.com", i)})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(value), "@example.com") {
			t.Fatal("Confluent Go wrote an email in clear")
		}
		if err := producer.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny}, Value: value}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if left := producer.Flush(30000); left != 0 {
		t.Fatalf("%d records not delivered", left)
	}
	out := runFranzExample(t, "-bootstrap", broker, "-registry", url, "-topic", topic, "-secret", pureSecret, "-produce", "0", "-consume", "3")
	for i := 0; i < 3; i++ {
		if want := fmt.Sprintf("consumed id=%d email=user%d@example.com", i, i); !strings.Contains(out, want) {
			t.Fatalf("the pure-Go consumer did not print %q:\n%s", want, out)
		}
	}
}
