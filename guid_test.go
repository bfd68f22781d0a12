package tagseal

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/tagseal/tagseal/registry"
)

// guidSecret is the tagged value the GUID tests write.
const guidSecret = "guid-secret@example.com"

var guidKeys = Keys{RuleConfig: map[string]string{"secret": "guid-secret"}}

// twoGUIDSubjects registers the same text under ga-value and gb-value, each
// with an ENCRYPT rule under its own KEK, and returns the one GUID both
// versions get.
func twoGUIDSubjects(t *testing.T, c *registry.Memory) string {
	t.Helper()
	ctx := context.Background()
	var guids []string
	for _, s := range []string{"ga", "gb"} {
		m, err := c.Register(ctx, s+"-value", registry.Schema{Schema: cacheKeySchema,
			RuleSet: &registry.RuleSet{DomainRules: []registry.Rule{cacheKeyRule("kek-"+s, AES256GCM)}}}, false)
		if err != nil {
			t.Fatal(err)
		}
		guids = append(guids, m.GUID)
	}
	if guids[0] == "" || guids[0] != guids[1] {
		t.Fatalf("GUIDs %q and %q: the registry must share one GUID for identical text", guids[0], guids[1])
	}
	return guids[0]
}

// core.writers and core.plans for GUIDs: a GUID shared by two subjects
// whose rules use different KEKs is read, through one Deserializer, with
// the rules of the topic's subject, whichever topic comes first, framed in
// a header or in the 0x01 + GUID payload prefix; OpenPayload and
// SealPayload resolve the same way.
func TestSharedGUIDAcrossSubjects(t *testing.T) {
	ctx := context.Background()
	for _, order := range [][]string{{"ga", "gb"}, {"gb", "ga"}} {
		t.Run(order[0]+"-first", func(t *testing.T) {
			c := registry.NewMemory()
			guid := twoGUIDSubjects(t, c)
			ser, err := NewSerializer(c, Value, SerializerConfig{UseLatestVersion: true, SchemaIDInHeader: true, Keys: guidKeys})
			if err != nil {
				t.Fatal(err)
			}
			type record struct {
				headers []Header
				body    []byte
			}
			written := map[string]record{}
			for _, topic := range order {
				h, b, err := ser.SerializeWithHeaders(ctx, topic, map[string]any{"email": guidSecret})
				if err != nil {
					t.Fatalf("serialize %s: %v", topic, err)
				}
				if len(h) != 1 || len(h[0].Value) != 17 || h[0].Value[0] != magicGUID {
					t.Fatalf("serialize %s: headers %v", topic, h)
				}
				if got := uuid.UUID(h[0].Value[1:17]).String(); got != guid {
					t.Fatalf("serialize %s: header GUID %s, want %s", topic, got, guid)
				}
				if bytes.Contains(b, []byte(guidSecret)) {
					t.Fatalf("serialize %s: the tagged value is in clear", topic)
				}
				written[topic] = record{h, b}
			}
			for _, framing := range []string{"header", "prefix"} {
				d, err := NewDeserializer(c, Value, DeserializerConfig{Keys: guidKeys})
				if err != nil {
					t.Fatal(err)
				}
				for round := 0; round < 2; round++ {
					for _, topic := range order {
						r := written[topic]
						headers, payload := r.headers, r.body
						if framing == "prefix" {
							headers, payload = nil, append(append([]byte(nil), r.headers[0].Value...), r.body...)
						}
						v, err := d.DeserializeWithHeaders(ctx, topic, headers, payload)
						if err != nil {
							t.Fatalf("%s round %d: read %s: %v", framing, round, topic, err)
						}
						if got := v.(map[string]any)["email"]; got != guidSecret {
							t.Fatalf("%s round %d: read %s: email %v", framing, round, topic, got)
						}
						w, err := d.writerSchema(ctx, topic, schemaRef{guid: uuid.MustParse(guid)})
						if err != nil {
							t.Fatal(err)
						}
						if kek := w.RuleSet.DomainRules[0].Params[ParamKEKName]; kek != "kek-"+topic {
							t.Fatalf("%s round %d: %s's writer schema has KEK %s", framing, round, topic, kek)
						}
						own := func(kek string) bool { return kek == "kek-"+topic }
						opened, err := d.OpenPayload(ctx, topic, headers, payload, own)
						if err != nil || !bytes.Contains(opened, []byte(guidSecret)) {
							t.Fatalf("%s round %d: OpenPayload %s with its own KEK only: %v", framing, round, topic, err)
						}
					}
				}
			}
		})
	}
}

// A GUID whose content the topic's subject does not have: the Deserializer
// reads it as the registry answers by GUID (as for an id the subject never
// had); SealPayload refuses, having no subject version to take rules from.
func TestGUIDOutsideTheSubject(t *testing.T) {
	ctx := context.Background()
	c := registry.NewMemory()
	if _, err := c.Register(ctx, "plain-value", registry.Schema{Schema: cacheKeySchema}, false); err != nil {
		t.Fatal(err)
	}
	ser, err := NewSerializer(c, Value, SerializerConfig{UseLatestVersion: true, SchemaIDInHeader: true})
	if err != nil {
		t.Fatal(err)
	}
	h, b, err := ser.SerializeWithHeaders(ctx, "plain", map[string]any{"email": "x"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDeserializer(c, Value, DeserializerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := d.DeserializeWithHeaders(ctx, "elsewhere", h, b); err != nil || v.(map[string]any)["email"] != "x" {
		t.Fatalf("read under another subject: %v, %v", v, err)
	}
	sealer, err := NewSerializer(c, Value, SerializerConfig{UseLatestVersion: true, Keys: guidKeys})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sealer.SealPayload(ctx, "elsewhere", h, b); !errors.Is(err, ErrSchemaNotFound) {
		t.Fatalf("SealPayload under a subject without the GUID's content: %v, want ErrSchemaNotFound", err)
	}
}

// SchemaIDInHeader writes the schema's GUID whichever way the schema is
// chosen: a fixed id (whose by-id answer carries no GUID), the latest
// version, or auto-registration; and the header reads back.
func TestSchemaIDInHeaderModes(t *testing.T) {
	ctx := context.Background()
	for name, conf := range map[string]SerializerConfig{
		"UseSchemaID":         {UseSchemaID: 1},
		"UseLatestVersion":    {UseLatestVersion: true},
		"AutoRegisterSchemas": {AutoRegisterSchemas: true},
	} {
		t.Run(name, func(t *testing.T) {
			// A registry of the mode's own: auto-registration adds a version.
			c := registry.NewMemory()
			guid := twoGUIDSubjects(t, c)
			if conf.UseSchemaID > 0 {
				if latest, err := c.Latest(ctx, "ga-value"); err != nil || latest.ID != conf.UseSchemaID {
					t.Fatalf("fixture: latest %+v, %v", latest, err)
				}
			}
			conf.SchemaIDInHeader, conf.Keys = true, guidKeys
			ser, err := NewSerializer(c, Value, conf)
			if err != nil {
				t.Fatal(err)
			}
			var v any = map[string]any{"email": guidSecret}
			if conf.AutoRegisterSchemas {
				v = &struct {
					Email string `avro:"email"`
				}{guidSecret}
			}
			h, b, err := ser.SerializeWithHeaders(ctx, "ga", v)
			if err != nil {
				t.Fatal(err)
			}
			if len(h) != 1 || h[0].Key != ValueSchemaIDHeader || len(h[0].Value) != 17 || h[0].Value[0] != magicGUID {
				t.Fatalf("headers %v", h)
			}
			want := guid
			if conf.AutoRegisterSchemas {
				// The derived schema is other text: its own GUID.
				latest, err := c.Latest(ctx, "ga-value")
				if err != nil {
					t.Fatal(err)
				}
				if want = latest.GUID; want == guid || want == "" {
					t.Fatalf("auto-registered version has GUID %q", want)
				}
			}
			if got := uuid.UUID(h[0].Value[1:]).String(); got != want {
				t.Fatalf("header GUID %s, want %s", got, want)
			}
			if bytes.Contains(b, []byte(guidSecret)) {
				t.Fatal("the tagged value is in clear")
			}
			d, err := NewDeserializer(c, Value, DeserializerConfig{Keys: guidKeys})
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.DeserializeWithHeaders(ctx, "ga", h, b)
			if err != nil {
				t.Fatal(err)
			}
			if got.(map[string]any)["email"] != guidSecret {
				t.Fatalf("read back %v", got)
			}
		})
	}
}

// noGUIDs is a registry that, like one before Confluent Platform 8, gives
// schemas no GUID.
type noGUIDs struct{ *registry.Memory }

func (n noGUIDs) Lookup(ctx context.Context, subject string, s registry.Schema, normalize bool) (registry.SubjectSchema, error) {
	m, err := n.Memory.Lookup(ctx, subject, s, normalize)
	m.GUID = ""
	return m, err
}

func (n noGUIDs) Latest(ctx context.Context, subject string) (registry.SubjectSchema, error) {
	m, err := n.Memory.Latest(ctx, subject)
	m.GUID = ""
	return m, err
}

func TestSchemaIDInHeaderWithoutGUIDs(t *testing.T) {
	ctx := context.Background()
	c := registry.NewMemory()
	twoGUIDSubjects(t, c)
	latest, err := c.Latest(ctx, "ga-value")
	if err != nil {
		t.Fatal(err)
	}
	for _, conf := range []SerializerConfig{{UseSchemaID: latest.ID}, {UseLatestVersion: true}} {
		conf.SchemaIDInHeader, conf.Keys = true, guidKeys
		ser, err := NewSerializer(noGUIDs{c}, Value, conf)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = ser.SerializeWithHeaders(ctx, "ga", map[string]any{"email": guidSecret})
		if !errors.Is(err, ErrNoSchemaGUID) {
			t.Fatalf("%+v: %v, want ErrNoSchemaGUID", conf, err)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), []byte(guidSecret)) {
			t.Fatal("the error holds the tagged value")
		}
	}
}
