package registryoracle

import (
	"fmt"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	_ "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption"
	_ "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/localkms"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/tagseal/tagseal/registry"
)

// ruleConfig is shared by every serde in the process, tagseal's and
// Confluent's (whose executors are process-wide).
var ruleConfig = map[string]string{"secret": "registry-oracle-secret"}

// memory, srv and client are the one registry of the test binary:
// tagseal's registry.Memory served over HTTP, which shares ids across
// subjects and keeps rules per subject version as real registries do.
var (
	memory *registry.Memory
	srv    *httptest.Server
	client schemaregistry.Client
)

func TestMain(m *testing.M) {
	memory = registry.NewMemory()
	srv = httptest.NewServer(memory)
	var err error
	if client, err = schemaregistry.NewClient(schemaregistry.NewConfig(srv.URL)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	srv.Close()
	os.Exit(code)
}

func encryptRule(name, kek string, tags ...string) schemaregistry.Rule {
	return schemaregistry.Rule{Name: name, Kind: "TRANSFORM", Mode: "WRITEREAD", Type: "ENCRYPT", Tags: tags,
		Params: map[string]string{
			"encrypt.kek.name":   kek,
			"encrypt.kms.type":   "local-kms",
			"encrypt.kms.key.id": "registry-oracle-key",
		}}
}

func set(m *dynamicpb.Message, field string, v any) {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(field))
	m.Set(fd, protoreflect.ValueOf(v))
}
