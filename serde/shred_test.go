package serde_test

import (
	"encoding/base64"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tagseal/tagseal/internal/dekadmin"
	"github.com/tagseal/tagseal/registry"
	"github.com/tagseal/tagseal/serde"
)

// Crypto-shredding: deleting the DEK or KEK in the DEK Registry makes the
// data unreadable once the reader's DEK cache TTL ends.
func TestShredding(t *testing.T) {
	cases := []struct {
		name      string
		target    func(t *testing.T) dekadmin.Target
		permanent bool
	}{
		{"soft-delete DEK", func(t *testing.T) dekadmin.Target {
			return dekadmin.Target{KEK: kekName(t), Subject: "shred-value", Version: 1}
		}, false},
		{"hard-delete DEK", func(t *testing.T) dekadmin.Target {
			return dekadmin.Target{KEK: kekName(t), Subject: "shred-value"}
		}, true},
		{"soft-delete KEK", func(t *testing.T) dekadmin.Target { return dekadmin.Target{KEK: kekName(t)} }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := httptest.NewServer(registry.NewMemory())
			t.Cleanup(reg.Close)
			c := newClient(t)
			registerSchema(t, c, "shred-value", customerSchema, rule(t, "local-kms", nil))
			now := time.Now()
			opts := serde.Options{DEKRegistryURL: reg.URL, DEKCacheTTL: time.Minute, Clock: func() time.Time { return now }}
			b, err := newSerializer(t, c, opts).Serialize("shred", ada)
			if err != nil {
				t.Fatal(err)
			}
			d := newDeserializer(t, c, testSecret, opts)
			if _, err := d.Deserialize("shred", b); err != nil {
				t.Fatal(err)
			}
			admin := &dekadmin.Client{BaseURL: reg.URL}
			if err := admin.Delete(tc.target(t), tc.permanent); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Deserialize("shred", b); err != nil {
				t.Fatalf("within the TTL the cached DEK still reads: %v", err)
			}
			now = now.Add(2 * time.Minute)
			_, err = d.Deserialize("shred", b)
			checkErr(t, err, serde.ErrKeyShredded)
			// A fresh reader fails at once.
			_, err = newDeserializer(t, c, testSecret, opts).Deserialize("shred", b)
			checkErr(t, err, serde.ErrKeyShredded)
			// Confluent's reading of soft deletes (ReadDeletedKeys) still reads.
			readDeleted := opts
			readDeleted.ReadDeletedKeys = true
			_, err = newDeserializer(t, c, testSecret, readDeleted).Deserialize("shred", b)
			if tc.permanent {
				checkErr(t, err, serde.ErrKeyShredded)
			} else if err != nil {
				t.Fatalf("ReadDeletedKeys: %v", err)
			}
		})
	}
}

// With read action NONE, shredded fields come back as stored ciphertext.
func TestShreddedWithReadNone(t *testing.T) {
	reg := httptest.NewServer(registry.NewMemory())
	t.Cleanup(reg.Close)
	c := newClient(t)
	r := rule(t, "local-kms", nil)
	r.OnFailure = "ERROR,NONE"
	registerSchema(t, c, "shred-value", customerSchema, r)
	opts := serde.Options{DEKRegistryURL: reg.URL}
	b, err := newSerializer(t, c, opts).Serialize("shred", ada)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&dekadmin.Client{BaseURL: reg.URL}).Delete(dekadmin.Target{KEK: kekName(t), Subject: "shred-value"}, true); err != nil {
		t.Fatal(err)
	}
	got := &Customer{}
	if err := newDeserializer(t, c, testSecret, opts).DeserializeInto("shred", b, got); err != nil {
		t.Fatal(err)
	}
	if _, err := base64.StdEncoding.DecodeString(got.Email); err != nil || got.Email == ada.Email || got.ID != ada.ID {
		t.Fatalf("got %+v", got)
	}
}
