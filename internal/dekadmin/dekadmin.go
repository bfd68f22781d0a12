// Package dekadmin deletes KEKs and DEKs in a DEK Registry through its REST
// API (/dek-registry/v1), which confluent-kafka-go's deks client does not
// expose. It backs `tagseal shred`.
package dekadmin

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one DEK Registry.
type Client struct {
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

// Path is the REST path of the target.
func (t Target) Path() string {
	p := "/dek-registry/v1/keks/" + url.PathEscape(t.KEK)
	if t.Subject != "" {
		p += "/deks/" + url.PathEscape(t.Subject)
		if t.Version > 0 {
			p += "/versions/" + strconv.Itoa(t.Version)
		}
	}
	return p
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
		return "AES256_GCM"
	}
	return t.Algorithm
}

// Delete soft-deletes the target, then, when permanent, deletes it for
// good (the registry requires the soft delete first).
func (c *Client) Delete(t Target, permanent bool) error {
	if t.KEK == "" {
		return fmt.Errorf("dekadmin: a KEK name is required")
	}
	if err := c.delete(t, false); err != nil {
		return err
	}
	if permanent {
		return c.delete(t, true)
	}
	return nil
}

func (c *Client) delete(t Target, permanent bool) error {
	q := url.Values{"permanent": {strconv.FormatBool(permanent)}}
	if t.Subject != "" {
		q.Set("algorithm", t.algorithm())
	}
	req, err := http.NewRequest(http.MethodDelete, strings.TrimRight(c.BaseURL, "/")+t.Path()+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	if c.User != "" {
		req.SetBasicAuth(c.User, c.Pass)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("dekadmin: delete %s: %s: %s", t, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
