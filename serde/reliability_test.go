package serde_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rest"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rules/encryption/deks"

	"github.com/tagseal/tagseal/kms"
	"github.com/tagseal/tagseal/registry"
	"github.com/tagseal/tagseal/serde"
)

// failingRegistry answers like a registry returning 500 while down is set.
type failingRegistry struct {
	schemaregistry.Client
	down atomic.Bool
}

var err500 = &rest.Error{Code: 50001, Message: "internal server error"}

func (f *failingRegistry) GetLatestSchemaMetadata(s string) (schemaregistry.SchemaMetadata, error) {
	if f.down.Load() {
		return schemaregistry.SchemaMetadata{}, err500
	}
	return f.Client.GetLatestSchemaMetadata(s)
}

func (f *failingRegistry) GetBySubjectAndID(s string, id int) (schemaregistry.SchemaInfo, error) {
	if f.down.Load() {
		return schemaregistry.SchemaInfo{}, err500
	}
	return f.Client.GetBySubjectAndID(s, id)
}

// failingDEKs is a DEK Registry returning 500 while down is set.
type failingDEKs struct {
	deks.Client
	down atomic.Bool
}

func (f *failingDEKs) GetKek(n string, d bool) (deks.Kek, error) {
	if f.down.Load() {
		return deks.Kek{}, err500
	}
	return f.Client.GetKek(n, d)
}

func (f *failingDEKs) GetDek(k, s, a string, d bool) (deks.Dek, error) {
	if f.down.Load() {
		return deks.Dek{}, err500
	}
	return f.Client.GetDek(k, s, a, d)
}

func (f *failingDEKs) RegisterKek(n, t, id string, p map[string]string, doc string, sh bool) (deks.Kek, error) {
	if f.down.Load() {
		return deks.Kek{}, err500
	}
	return f.Client.RegisterKek(n, t, id, p, doc, sh)
}

func (f *failingDEKs) RegisterDekVersion(k, s string, v int, a, m string) (deks.Dek, error) {
	if f.down.Load() {
		return deks.Dek{}, err500
	}
	return f.Client.RegisterDekVersion(k, s, v, a, m)
}

// TestFailClosed is the fail-closed matrix: for each fault and each format,
// a cold serializer returns an error and no bytes; nothing it returns holds
// a tagged plaintext.
func TestFailClosed(t *testing.T) {
	type setup struct {
		reg  *failingRegistry
		deks *failingDEKs
		opts serde.Options
		kms  string
	}
	faults := []struct {
		name   string
		arm    func(t *testing.T, s *setup)
		expect error
	}{
		{"kms unreachable", func(t *testing.T, s *setup) { s.kms = "counting-kms"; counting.down.Store(true) }, serde.ErrKMSUnavailable},
		{"schema registry 500", func(t *testing.T, s *setup) { s.reg.down.Store(true) }, serde.ErrRegistry},
		{"dek registry 500", func(t *testing.T, s *setup) { s.deks.down.Store(true) }, serde.ErrRegistry},
		{"kms key id unknown to the driver", func(t *testing.T, s *setup) { s.kms = "no-such-kms" }, kms.ErrUnsupportedKMS},
		{"dek registry over http answering 500", func(t *testing.T, s *setup) {
			mem := registry.NewMemory()
			mem.FailWith(http.StatusInternalServerError)
			reg := httptest.NewServer(mem)
			t.Cleanup(reg.Close)
			s.opts.DEKClient, s.opts.DEKRegistryURL = nil, reg.URL
		}, serde.ErrRegistry},
	}
	formats := []struct {
		name     string
		register func(t *testing.T, c schemaregistry.Client, r schemaregistry.Rule)
		value    func(t *testing.T) any
	}{
		{"avro", func(t *testing.T, c schemaregistry.Client, r schemaregistry.Rule) {
			registerSchema(t, c, "fc-value", customerSchema, r)
		}, func(*testing.T) any { return ada }},
		{"json", func(t *testing.T, c schemaregistry.Client, r schemaregistry.Rule) {
			registerJSON(t, c, "fc-value", jsonCustomer, r)
		}, func(*testing.T) any {
			return map[string]any{"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"}
		}},
		{"protobuf", func(t *testing.T, c schemaregistry.Client, r schemaregistry.Rule) {
			registerProto(t, c, "fc-value", protoSchema, r)
		}, func(t *testing.T) any { return protoCustomer(t) }},
	}
	for _, fault := range faults {
		for _, format := range formats {
			t.Run(fault.name+"/"+format.name, func(t *testing.T) {
				inner := newClient(t)
				dekInner, err := deks.NewClient(inner.Config())
				if err != nil {
					t.Fatal(err)
				}
				s := &setup{reg: &failingRegistry{Client: inner}, deks: &failingDEKs{Client: dekInner}, kms: "local-kms"}
				s.opts.DEKClient = s.deks
				fault.arm(t, s)
				defer counting.down.Store(false)
				format.register(t, inner, rule(t, s.kms, nil))
				b, err := newSerializer(t, s.reg, s.opts).Serialize("fc", format.value(t))
				if err == nil {
					t.Fatalf("serializer returned %d bytes under fault %q", len(b), fault.name)
				}
				if b != nil {
					t.Fatal("bytes returned with an error")
				}
				checkErr(t, err, fault.expect)
			})
		}
	}
}

// A DEK whose key material does not parse makes the cipher fail: the
// producer fails closed.
func TestCipherFailureFailsClosed(t *testing.T) {
	c := newClient(t)
	r := rule(t, "local-kms", nil)
	registerSchema(t, c, "cf-value", customerSchema, r)
	dekClient, err := deks.NewClient(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dekClient.RegisterKek(kekName(t), "local-kms", "test-key", nil, "", false); err != nil {
		t.Fatal(err)
	}
	kek, err := kms.NewLocalAEAD(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	garbage, err := kek.Encrypt([]byte("not a tink key proto"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dekClient.RegisterDekVersion(kekName(t), "cf-value", 1, serde.AES256GCM, base64.StdEncoding.EncodeToString(garbage)); err != nil {
		t.Fatal(err)
	}
	b, err := newSerializer(t, c, serde.Options{}).Serialize("cf", ada)
	if b != nil || err == nil {
		t.Fatalf("serializer returned %d bytes, err %v", len(b), err)
	}
	checkErr(t, err, serde.ErrDEKUnwrapFailed)
}

// Only a write action of NONE lets a tagged value through in plaintext.
func TestWriteActionNoneIsTheOnlyWayToPlaintext(t *testing.T) {
	for _, onFailure := range []string{"", "ERROR", "ERROR,NONE", "NONE,ERROR"} {
		t.Run(onFailure, func(t *testing.T) {
			c := newClient(t)
			r := rule(t, "no-such-kms", nil)
			r.OnFailure = onFailure
			registerSchema(t, c, "wn-value", customerSchema, r)
			s := newSerializer(t, c, serde.Options{})
			logged := sink.count("written in plaintext")
			b, err := s.Serialize("wn", ada)
			if onFailure == "NONE,ERROR" {
				if err != nil || !bytes.Contains(b, []byte("Ada Lovelace")) {
					t.Fatalf("write action NONE should write plaintext: %v", err)
				}
				if _, err := s.Serialize("wn", ada); err != nil {
					t.Fatal(err)
				}
				if n := sink.count("written in plaintext") - logged; n != 1 {
					t.Fatalf("plaintext fallback logged %d times, want once per rule", n)
				}
				return
			}
			if err == nil || b != nil {
				t.Fatalf("write action %q let the record through", onFailure)
			}
		})
	}
}

// Eight goroutines serialize and deserialize while DEKs expire and rotate
// underneath; every record reads back, and the DEK version moves on.
func TestConcurrentRotation(t *testing.T) {
	c := newClient(t)
	registerSchema(t, c, "rot-value", customerSchema, rule(t, "local-kms", map[string]string{serde.ParamDEKExpiryDays: "1"}))
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	opts := serde.Options{Clock: clock}
	s := newSerializer(t, c, opts)
	d := newDeserializer(t, c, testSecret, opts)
	var wg sync.WaitGroup
	var stop atomic.Bool
	errs := make(chan error, 8)
	versions := make([]atomic.Int64, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50 || !stop.Load(); i++ {
				b, err := s.Serialize("rot", ada)
				if err != nil {
					errs <- err
					return
				}
				got := &Customer{}
				if err := d.DeserializeInto("rot", b, got); err != nil || *got != *ada {
					errs <- fmt.Errorf("read back %+v: %v", got, err)
					return
				}
				versions[g].Store(int64(dekVersionOf(t, b)))
			}
		}()
	}
	for step := 0; step < 5; step++ {
		time.Sleep(5 * time.Millisecond)
		offset.Add(int64(25 * time.Hour)) // past the 1-day expiry
	}
	time.Sleep(5 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	max := int64(0)
	for i := range versions {
		if v := versions[i].Load(); v > max {
			max = v
		}
	}
	if max < 2 {
		t.Fatalf("DEK never rotated (latest version %d)", max)
	}
}

// dekVersionOf reads the DEK version prefix of the name field of a
// Customer payload.
func dekVersionOf(t *testing.T, payload []byte) int {
	body := payload[5:]
	_, n := binary.Varint(body)
	body = body[n:]
	l, m := binary.Varint(body)
	raw, err := base64.StdEncoding.DecodeString(string(body[m : m+int(l)]))
	if err != nil || len(raw) < 5 {
		return -1
	}
	return int(binary.BigEndian.Uint32(raw[1:5]))
}

// With BindCiphertexts, a ciphertext moved to another field no longer
// decrypts; without it, the move goes unnoticed (Confluent's format).
func TestBindCiphertexts(t *testing.T) {
	for _, bind := range []bool{false, true} {
		t.Run(fmt.Sprint("bind=", bind), func(t *testing.T) {
			c := newClient(t)
			registerSchema(t, c, "bind-value", customerSchema, rule(t, "local-kms", nil))
			opts := serde.Options{BindCiphertexts: bind}
			b, err := newSerializer(t, c, opts).Serialize("bind", &Customer{ID: 1, Name: "Ada Lovelace", Email: "Ada Lovelace"})
			if err != nil {
				t.Fatal(err)
			}
			d := newDeserializer(t, c, testSecret, opts)
			if got := (&Customer{}); d.DeserializeInto("bind", b, got) != nil || got.Name != "Ada Lovelace" {
				t.Fatalf("round trip failed: %+v", got)
			}
			// Both tagged strings have the same length: swap the ciphertexts.
			ns, ne := fieldSpan(t, b, 0)
			es, ee := fieldSpan(t, b, 1)
			swapped := append([]byte{}, b...)
			copy(swapped[ns:ne], b[es:ee])
			copy(swapped[es:ee], b[ns:ne])
			err = d.DeserializeInto("bind", swapped, &Customer{})
			if bind {
				checkErr(t, err, serde.ErrDecryptionFailed)
			} else if err != nil {
				t.Fatalf("unbound ciphertexts move silently, yet: %v", err)
			}
		})
	}
}
