package serde

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/deks"
	cserde "github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"

	"github.com/tagseal/tagseal/tags"
)

// compiled is everything derived from one (writer schema, rule schema) pair:
// the format plan, the rules and their parsed key parameters.
type compiled struct {
	id          int
	plan        formatPlan
	rules       *tags.RuleSet
	fieldKeys   []*ruleKeys // parallel to rules.Field
	payloadKeys []*ruleKeys // parallel to rules.Payload
}

type planKey struct {
	writer string // schema id or GUID
	reader string // "" when the writer schema's rules apply
}

// core is shared by Serializer and Deserializer: registry access, subject
// naming, plan cache and the keyring.
type core struct {
	client    schemaregistry.Client
	serdeType cserde.Type
	strategy  cserde.SubjectNameStrategyFunc
	keys      *keyring
	dekClient deks.Client
	mockDEKs  bool

	mu    sync.RWMutex
	plans map[planKey]*compiled
	names map[string]string // schema text → record name, for record strategies
}

func (c *core) init(client schemaregistry.Client, serdeType cserde.Type, ruleConfig map[string]string,
	strategyType cserde.SubjectNameStrategyType, strategyConfig map[string]string, opts Options) error {
	if client == nil {
		return errors.New("tagseal: schema registry client missing")
	}
	dekClient, err := deks.NewClient(client.Config())
	if err != nil {
		return fmt.Errorf("%w: DEK registry client: %v", ErrRegistry, err)
	}
	c.client = client
	c.serdeType = serdeType
	c.dekClient = dekClient
	c.mockDEKs = strings.HasPrefix(client.Config().SchemaRegistryURL, "mock://")
	c.keys = newKeyring(dekClient, ruleConfig, opts)
	c.plans = map[planKey]*compiled{}
	c.names = map[string]string{}
	switch {
	case opts.SubjectNameStrategy != nil:
		c.strategy = opts.SubjectNameStrategy
	case strategyType == cserde.AssociatedNameStrategyType:
		c.strategy, err = cserde.AssociatedNameStrategy(client, strategyConfig, c.recordName)
	case strategyType == cserde.RecordNameStrategyType, strategyType == cserde.TopicRecordNameStrategyType:
		c.strategy, err = cserde.StrategyFunc(strategyType, c.recordName)
	default:
		// Topic naming is the default; Confluent's v2.15 default consults
		// topic associations first and falls back to the same name.
		c.strategy = cserde.TopicNameStrategy
	}
	return err
}

func (c *core) subject(topic string, info schemaregistry.SchemaInfo) (string, error) {
	s, err := c.strategy(topic, c.serdeType, info)
	if err != nil {
		return "", fmt.Errorf("tagseal: subject name strategy: %w", err)
	}
	return s, nil
}

// recordName is the RecordNameFunc behind the record strategies.
func (c *core) recordName(info schemaregistry.SchemaInfo) (string, error) {
	c.mu.RLock()
	name, ok := c.names[info.Schema]
	c.mu.RUnlock()
	if ok {
		return name, nil
	}
	refs, err := c.references(&info)
	if err != nil {
		return "", err
	}
	p, err := compileFormat(&info, refs, &tags.RuleSet{})
	if err != nil {
		return "", err
	}
	if name = p.recordName(); name == "" {
		return "", fmt.Errorf("%w: record name strategies need a named schema", ErrInvalidSchema)
	}
	c.mu.Lock()
	c.names[info.Schema] = name
	c.mu.Unlock()
	return name, nil
}

// references returns a schema's references, transitively, dependencies
// before dependents, each once.
func (c *core) references(info *schemaregistry.SchemaInfo) ([]reference, error) {
	var out []reference
	seen := map[string]bool{}
	var visit func(refs []schemaregistry.Reference, depth int) error
	visit = func(refs []schemaregistry.Reference, depth int) error {
		if depth > 32 {
			return fmt.Errorf("%w: references nested too deep", ErrInvalidSchema)
		}
		for _, ref := range refs {
			key := fmt.Sprintf("%s\x00%d", ref.Subject, ref.Version)
			if seen[key] {
				continue
			}
			seen[key] = true
			meta, err := c.client.GetSchemaMetadataIncludeDeleted(ref.Subject, ref.Version, true)
			if err != nil {
				return fmt.Errorf("%w: reference %s (subject %s, version %d): %v", ErrSchemaNotFound, ref.Name, ref.Subject, ref.Version, err)
			}
			if err := visit(meta.References, depth+1); err != nil {
				return err
			}
			out = append(out, reference{name: ref.Name, schema: meta.Schema})
		}
		return nil
	}
	return out, visit(info.References, 0)
}

// plan returns the compiled plan for a writer schema, with the rules and
// tags of ruleInfo (the writer itself, or the reader schema when one is
// configured). Plans are built once per key.
func (c *core) plan(key planKey, id int, writer, ruleInfo *schemaregistry.SchemaInfo) (*compiled, error) {
	c.mu.RLock()
	p := c.plans[key]
	c.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	refs, err := c.references(writer)
	if err != nil {
		return nil, err
	}
	rules := tags.FromSchema(ruleInfo)
	fp, err := compileFormat(writer, refs, rules)
	if err != nil {
		return nil, err
	}
	p = &compiled{id: id, plan: fp, rules: rules}
	for i := range rules.Field {
		p.fieldKeys = append(p.fieldKeys, parseRuleKeys(&rules.Field[i]))
	}
	for i := range rules.Payload {
		p.payloadKeys = append(p.payloadKeys, parseRuleKeys(&rules.Payload[i]))
	}
	c.mu.Lock()
	c.plans[key] = p
	c.mu.Unlock()
	return p, nil
}

// ruleFailure applies a rule's failure action: NONE swallows the error
// (the value stays as it was), anything else returns it.
func ruleFailure(action tags.Action, err error, path, rule string) error {
	if path != "" {
		err = &FieldError{Path: path, Rule: rule, Err: err}
	}
	if action == tags.ActionNone {
		slog.Debug("tagseal: rule failed, onFailure NONE leaves the value as it is", "rule", rule, "field", path, "error", err)
		return nil
	}
	return err
}

// encryptLeaf returns the leaf function that encrypts tagged values on write.
func (c *core) encryptLeaf(p *compiled, subject string) leafFunc {
	return func(path string, asString bool, rules []int, value, scratch []byte) ([]byte, error) {
		cur, applied := value, 0
		for _, ri := range rules {
			r := &p.rules.Field[ri]
			if !r.Write {
				continue
			}
			dst := scratch[:0]
			if applied > 0 {
				dst = nil
			}
			out, err := c.encryptWith(p.fieldKeys[ri], subject, asString, cur, dst)
			if err != nil {
				if err := ruleFailure(r.OnWriteFailure, err, path, r.Name); err != nil {
					return nil, err
				}
				continue
			}
			cur, applied = out, applied+1
		}
		return cur, nil
	}
}

// decryptLeaf returns the leaf function that decrypts tagged values on read,
// rules in reverse order.
func (c *core) decryptLeaf(p *compiled, subject string) leafFunc {
	return func(path string, asString bool, rules []int, value, scratch []byte) ([]byte, error) {
		cur, applied := value, 0
		for i := len(rules) - 1; i >= 0; i-- {
			r := &p.rules.Field[rules[i]]
			if !r.Read {
				continue
			}
			dst := scratch[:0]
			if applied > 0 {
				dst = nil
			}
			out, err := c.decryptWith(p.fieldKeys[rules[i]], subject, asString, cur, dst)
			if err != nil {
				if err := ruleFailure(r.OnReadFailure, err, path, r.Name); err != nil {
					return nil, err
				}
				continue
			}
			cur, applied = out, applied+1
		}
		return cur, nil
	}
}

func (c *core) encryptWith(rk *ruleKeys, subject string, asString bool, value, dst []byte) ([]byte, error) {
	if rk.err != nil {
		return nil, rk.err
	}
	return c.keys.encryptValue(rk, subject, asString, value, dst)
}

func (c *core) decryptWith(rk *ruleKeys, subject string, asString bool, value, dst []byte) ([]byte, error) {
	if rk.err != nil {
		return nil, rk.err
	}
	return c.keys.decryptValue(rk, subject, asString, value, dst)
}

// encryptPayload applies the ENCRYPT_PAYLOAD rules to the encoded message.
func (c *core) encryptPayload(p *compiled, subject string, payload []byte) ([]byte, error) {
	for i := range p.rules.Payload {
		r := &p.rules.Payload[i]
		if !r.Write {
			continue
		}
		out, err := c.encryptWith(p.payloadKeys[i], subject, false, payload, nil)
		if err != nil {
			if err := ruleFailure(r.OnWriteFailure, err, "", r.Name); err != nil {
				return nil, err
			}
			continue
		}
		payload = out
	}
	return payload, nil
}

// decryptPayload reverses encryptPayload.
func (c *core) decryptPayload(p *compiled, subject string, payload []byte) ([]byte, error) {
	for i := len(p.rules.Payload) - 1; i >= 0; i-- {
		r := &p.rules.Payload[i]
		if !r.Read {
			continue
		}
		out, err := c.decryptWith(p.payloadKeys[i], subject, false, payload, nil)
		if err != nil {
			if err := ruleFailure(r.OnReadFailure, err, "", r.Name); err != nil {
				return nil, err
			}
			continue
		}
		payload = out
	}
	return payload, nil
}

// Close releases the DEK Registry client. The process-wide mock DEK
// registry is left alone, since closing it would erase every key in it.
func (c *core) Close() error {
	if c.dekClient != nil && !c.mockDEKs {
		return c.dekClient.Close()
	}
	return nil
}

func registryErr(err error, what string) error {
	if isNotFound(err) {
		return fmt.Errorf("%w: %s: %v", ErrSchemaNotFound, what, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrRegistry, what, err)
}

// isNotFound recognises a registry "not found": a REST 404 from a real
// registry, or the mock client's url.Error saying "Not Found".
func isNotFound(err error) bool {
	return isRestCode(err, 404) || strings.Contains(strings.ToLower(err.Error()), "not found")
}
