package server

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sovos/sov/model/store"
)

// StoreCatalog is the models a server may load: the model store's, and
// those the operator named when starting it (which may be files outside
// the store). A request names one; it never gives a path.
type StoreCatalog struct {
	Store *store.Store
	// Default is the model a request without a name gets ("" = none).
	Default string
	// Extra are models named at start, found before the store's.
	Extra []Entry
}

// Lookup implements Catalog. Ollama clients add ":latest" to names
// without a tag; it is ignored.
func (c *StoreCatalog) Lookup(name string) (Entry, error) {
	name = strings.TrimSuffix(name, ":latest")
	if name == "" {
		if c.Default == "" {
			return Entry{}, fmt.Errorf("%w: the request names no model and the server has no default", ErrUnknownModel)
		}
		name = c.Default
	}
	for _, e := range c.Extra {
		if strings.EqualFold(e.Name, name) {
			return e, nil
		}
	}
	if c.Store == nil {
		return Entry{}, fmt.Errorf("%w: %q", ErrUnknownModel, name)
	}
	m, err := c.Store.Get(name)
	if errors.Is(err, store.ErrNotFound) {
		return Entry{}, fmt.Errorf("%w: %q is not installed", ErrUnknownModel, name)
	}
	if err != nil {
		return Entry{}, err
	}
	if m.Missing {
		return Entry{}, fmt.Errorf("%w: the file of %q is missing", ErrUnknownModel, m.Name)
	}
	return storeEntry(m), nil
}

// List implements Catalog.
func (c *StoreCatalog) List() ([]Entry, error) {
	out := append([]Entry{}, c.Extra...)
	if c.Store == nil {
		return out, nil
	}
	ms, err := c.Store.List()
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if !m.Missing && !c.extra(m.Name) {
			out = append(out, storeEntry(m))
		}
	}
	return out, nil
}

func (c *StoreCatalog) extra(name string) bool {
	for _, e := range c.Extra {
		if strings.EqualFold(e.Name, name) {
			return true
		}
	}
	return false
}

func storeEntry(m store.Model) Entry {
	return Entry{Name: m.Name, Path: m.Path, Size: m.Size, Modified: m.Added, SHA256: m.SHA256}
}
