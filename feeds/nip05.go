package feeds

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// NIP05Check looks up name@domain (NIP-05) and reports whether the domain
// lists pubKey (hex) for that name. The result is only a hint shown next to
// the key: a domain can change what it serves at any time.
func NIP05Check(ctx context.Context, c *http.Client, ident, pubKey string) error {
	name, domain, ok := strings.Cut(strings.TrimSpace(ident), "@")
	if !ok || name == "" || domain == "" || strings.ContainsAny(domain, "/?#@") {
		return fmt.Errorf("%q is not a NIP-05 identifier: use name@domain", ident)
	}
	scheme := "https"
	if strings.HasPrefix(domain, "127.0.0.1:") || strings.HasPrefix(domain, "localhost:") {
		scheme = "http" // loopback only (tests, local servers)
	}
	u := scheme + "://" + domain + "/.well-known/nostr.json?name=" + url.QueryEscape(name)
	if c == nil {
		c = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("NIP-05 look-up %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("NIP-05 look-up %s: HTTP %s", u, resp.Status)
	}
	var doc struct {
		Names map[string]string `json:"names"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return fmt.Errorf("NIP-05 look-up %s: not a nostr.json document", u)
	}
	if got := strings.ToLower(doc.Names[name]); got != pubKey {
		return fmt.Errorf("NIP-05: %s does not list this key for %q", domain, name)
	}
	return nil
}

// nip05Timeout bounds a NIP-05 look-up: a hint is not worth a long wait.
const nip05Timeout = 15 * time.Second

// CheckNIP05 looks ident (name@domain) up for the trusted key and, when
// the domain lists that key, records it as the key's hint. A failed check
// leaves the trust itself alone.
func (s *Store) CheckNIP05(ctx context.Context, c *http.Client, key, ident string) error {
	ctx, cancel := context.WithTimeout(ctx, nip05Timeout)
	defer cancel()
	if err := NIP05Check(ctx, c, ident, key); err != nil {
		return err
	}
	return s.SetNIP05(key, ident)
}

// SetNIP05 records a checked NIP-05 identifier as a hint on a trusted key.
func (s *Store) SetNIP05(key, ident string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bTrust)
		v := b.Get([]byte(key))
		if v == nil {
			return &NotTrustedError{Key: key}
		}
		var tk TrustedKey
		if err := json.Unmarshal(v, &tk); err != nil {
			return err
		}
		tk.NIP05 = ident
		data, _ := json.Marshal(tk)
		return b.Put([]byte(key), data)
	})
}
