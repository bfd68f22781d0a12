package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/tagseal/tagseal/registry"
)

// embedded holds the process-wide embedded registries that mock://NAME
// and mem://NAME URLs name, created empty on first use.
var embedded = struct {
	sync.Mutex
	m map[string]*registry.Memory
}{m: map[string]*registry.Memory{}}

// embeddedRegistry returns the embedded registry a mock:// or mem:// URL
// names, or nil for any other URL.
func embeddedRegistry(url string) *registry.Memory {
	name, ok := strings.CutPrefix(url, "mock://")
	if !ok {
		if name, ok = strings.CutPrefix(url, "mem://"); !ok {
			return nil
		}
	}
	embedded.Lock()
	defer embedded.Unlock()
	m := embedded.m[name]
	if m == nil {
		m = registry.NewMemory()
		embedded.m[name] = m
	}
	return m
}

// newRegistryClient makes the Schema Registry (and DEK Registry) client
// the commands use: an HTTP client for http(s) URLs, with basic auth from
// userInfo ("user:password"), or the process-wide embedded registry that
// a mock://NAME or mem://NAME URL names (empty: useful only within one
// process, as tests do). Tests replace it to share a registry.
var newRegistryClient = func(url, userInfo string) (registry.Client, error) {
	if m := embeddedRegistry(url); m != nil {
		return m, nil
	}
	var opts []registry.Option
	if userInfo != "" {
		user, pass, ok := strings.Cut(userInfo, ":")
		if !ok {
			return nil, errors.New("--basic-auth (SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO) must be user:password")
		}
		opts = append(opts, registry.WithBasicAuth(user, pass))
	}
	return registry.New(url, opts...)
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
