// Package dekadmin manages the keys in a DEK Registry through
// registry.DEKRegistry and registry.DEKAdmin (over HTTP by default): it
// lists KEKs and DEK versions (List), mints a subject's next DEK version
// (Rotate), re-encrypts DEKs under a KEK's newest KMS key version (Rewrap),
// and deletes KEKs and DEKs, making the data under them unreadable
// (Client.Delete). It backs `tagseal keys` and `tagseal shred`.
package dekadmin

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/tagseal/tagseal/registry"
)

// Algorithms are the DEK algorithms a DEK Registry knows; deleting a whole
// KEK deletes its subjects' DEKs of each.
var Algorithms = []string{"AES128_GCM", "AES256_GCM", "AES256_SIV"}

// Client deletes keys in one DEK Registry: Registry when set, else the
// registry at BaseURL reached over HTTP with registry.New.
type Client struct {
	Registry   registry.DEKRegistry
	BaseURL    string // e.g. http://registry:8081
	User, Pass string // basic auth, optional
	HTTP       *http.Client
}

// Target names what to delete: a whole KEK (Subject empty), all versions
// of a DEK (Version 0), or one DEK version.
type Target struct {
	KEK       string
	Subject   string
	Version   int
	Algorithm string // DEK algorithm; default AES256_GCM
}

func (t Target) String() string {
	switch {
	case t.Subject == "":
		return fmt.Sprintf("KEK %q", t.KEK)
	case t.Version == 0:
		return fmt.Sprintf("all DEK versions of KEK %q for subject %q (%s)", t.KEK, t.Subject, t.algorithm())
	default:
		return fmt.Sprintf("DEK version %d of KEK %q for subject %q (%s)", t.Version, t.KEK, t.Subject, t.algorithm())
	}
}

func (t Target) algorithm() string {
	if t.Algorithm == "" {
		return registry.DefaultAlgorithm
	}
	return t.Algorithm
}

// registry returns the DEK Registry to talk to.
func (c *Client) registry() (registry.DEKRegistry, error) {
	if c.Registry != nil {
		return c.Registry, nil
	}
	var opts []registry.Option
	if c.User != "" {
		opts = append(opts, registry.WithBasicAuth(c.User, c.Pass))
	}
	if c.HTTP != nil {
		opts = append(opts, registry.WithHTTPClient(c.HTTP))
	}
	r, err := registry.New(c.BaseURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("dekadmin: %w", err)
	}
	return r, nil
}

// Delete is DeleteContext without a deadline.
func (c *Client) Delete(t Target, permanent bool) error {
	return c.DeleteContext(context.Background(), t, permanent)
}

// DeleteContext soft-deletes the target, then, when permanent, deletes it
// for good (the registry requires the soft delete first). A KEK the
// registry refuses to delete because DEKs still refer to it (as Confluent
// Schema Registry does: live DEKs for a soft delete, any for a permanent
// one) has those DEKs deleted first, the same way: shredding a KEK shreds
// every DEK under it.
func (c *Client) DeleteContext(ctx context.Context, t Target, permanent bool) error {
	if t.KEK == "" {
		return fmt.Errorf("dekadmin: a KEK name is required")
	}
	reg, err := c.registry()
	if err != nil {
		return err
	}
	if t.Subject != "" {
		if err := reg.DeleteDEK(ctx, t.KEK, t.Subject, t.algorithm(), t.Version, false); err != nil {
			return fmt.Errorf("dekadmin: delete %s: %w", t, err)
		}
		if permanent {
			if err := reg.DeleteDEK(ctx, t.KEK, t.Subject, t.algorithm(), t.Version, true); err != nil {
				return fmt.Errorf("dekadmin: permanently delete %s: %w", t, err)
			}
		}
		return nil
	}
	if err := deleteKEK(ctx, reg, t, false); err != nil {
		return err
	}
	if permanent {
		return deleteKEK(ctx, reg, t, true)
	}
	return nil
}

// deleteKEK deletes the KEK, and its DEKs first when the registry says
// they are in the way.
func deleteKEK(ctx context.Context, reg registry.DEKRegistry, t Target, permanent bool) error {
	how := "delete"
	if permanent {
		how = "permanently delete"
	}
	err := reg.DeleteKEK(ctx, t.KEK, permanent)
	var re *registry.Error
	if !errors.As(err, &re) || re.ErrorCode != registry.CodeKeyReferenceExists {
		if err != nil {
			return fmt.Errorf("dekadmin: %s %s: %w", how, t, err)
		}
		return nil
	}
	deks, err := DEKs(ctx, reg, t.KEK, true)
	if err != nil {
		return fmt.Errorf("dekadmin: %s %s: list its DEKs: %w", how, t, err)
	}
	for _, d := range deks {
		// Soft-delete what is live (a registry may not find an already
		// soft-deleted key to soft-delete again), then purge.
		live, err := reg.DEKVersions(ctx, t.KEK, d.Subject, d.Algorithm, false)
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("dekadmin: %s %s: %w", how, d, err)
		}
		if len(live) > 0 {
			if err := reg.DeleteDEK(ctx, t.KEK, d.Subject, d.Algorithm, 0, false); err != nil {
				return fmt.Errorf("dekadmin: %s %s: %w", how, d, err)
			}
		}
		if permanent {
			if err := reg.DeleteDEK(ctx, t.KEK, d.Subject, d.Algorithm, 0, true); err != nil {
				return fmt.Errorf("dekadmin: %s %s: %w", how, d, err)
			}
		}
	}
	if err := reg.DeleteKEK(ctx, t.KEK, permanent); err != nil {
		return fmt.Errorf("dekadmin: %s %s: %w", how, t, err)
	}
	return nil
}

// DEKs lists the DEKs under a KEK as targets, one per subject and
// algorithm that has versions (soft-deleted ones too with includeDeleted),
// sorted by subject.
func DEKs(ctx context.Context, reg registry.DEKRegistry, kek string, includeDeleted bool) ([]Target, error) {
	subjects, err := reg.DEKSubjects(ctx, kek, includeDeleted)
	if err != nil {
		return nil, err
	}
	var out []Target
	for _, s := range subjects {
		for _, alg := range Algorithms {
			versions, err := reg.DEKVersions(ctx, kek, s, alg, includeDeleted)
			if errors.Is(err, registry.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if len(versions) > 0 {
				out = append(out, Target{KEK: kek, Subject: s, Algorithm: alg})
			}
		}
	}
	return out, nil
}
