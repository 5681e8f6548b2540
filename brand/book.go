package brand

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/sovos/sov/internal/config"
)

// SessionBook is a payer's prepaid sessions, kept in a JSON file: the
// brands' signed receipts and the answers left. Nothing in it is secret
// (each question is signed by the payer's key), so it is plain JSON.
type SessionBook struct {
	Path string
}

// BookEntry is one prepaid session with one brand.
type BookEntry struct {
	Brand    string        `json:"brand"`
	Npub     string        `json:"npub"`
	Key      string        `json:"key"` // the brand key the receipt verified under
	Endpoint string        `json:"endpoint"`
	Receipt  SignedSession `json:"receipt"`
	Left     int           `json:"left"`
}

// Entries reads the book (none when the file does not exist yet).
func (b *SessionBook) Entries() ([]BookEntry, error) {
	data, err := os.ReadFile(b.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("prepaid sessions: %w", err)
	}
	var es []BookEntry
	if err := json.Unmarshal(data, &es); err != nil {
		return nil, fmt.Errorf("prepaid sessions: %s is damaged (%v): move it aside (the brands' receipts in it prove what was bought)", b.Path, err)
	}
	return es, nil
}

// Open is a session with answers left with the brand a announced (same
// endpoint and key), if any.
func (b *SessionBook) Open(a Announcement) (BookEntry, bool, error) {
	es, err := b.Entries()
	for _, e := range es {
		if e.Left > 0 && e.Key == a.Key && e.Endpoint == a.Endpoint {
			return e, true, err
		}
	}
	return BookEntry{}, false, err
}

// Put adds e, or updates the entry of e's session.
func (b *SessionBook) Put(e BookEntry) error {
	es, err := b.Entries()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(es, func(x BookEntry) bool { return x.Receipt.Session == e.Receipt.Session })
	if i < 0 {
		es = append(es, e)
	} else {
		es[i] = e
	}
	data, err := json.MarshalIndent(es, "", "  ")
	if err != nil {
		return err
	}
	return config.WriteFileAtomic(b.Path, data, 0o600)
}
