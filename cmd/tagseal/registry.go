package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
)

// newRegistryClient makes the Schema Registry client the commands use;
// tests replace it to share an in-memory registry.
var newRegistryClient = func(url, userInfo string) (schemaregistry.Client, error) {
	conf := schemaregistry.NewConfig(url)
	if userInfo != "" {
		conf.BasicAuthCredentialsSource = "USER_INFO"
		conf.BasicAuthUserInfo = userInfo
	}
	return schemaregistry.NewClient(conf)
}

// registryFlags adds the registry flags shared by the commands, named
// after Confluent's tools' settings and read from the same environment.
func registryFlags(fs *flag.FlagSet) (url, userInfo *string) {
	url = fs.String("registry", os.Getenv("SCHEMA_REGISTRY_URL"), "Schema Registry URL; env SCHEMA_REGISTRY_URL")
	userInfo = fs.String("basic-auth", os.Getenv("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"), "user:password; env SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO")
	return url, userInfo
}

// kvFlag collects repeated key=value flags (rule config).
type kvFlag map[string]string

func (k kvFlag) String() string { return fmt.Sprint(map[string]string(k)) }

func (k kvFlag) Set(s string) error {
	key, value, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	k[key] = value
	return nil
}

// parseFlags parses a command's flags. When it returns false the command
// stops with the returned code: 0 after --help, 2 for a bad flag.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}
