// Package store keeps the user's GGUF models: pulling them from Hugging
// Face, a URL or a local file, listing, inspecting and removing them, and
// resolving which model a command should use.
//
// Models live in one directory (paths.Models()) with a small JSON index
// written atomically; every model is validated with gguf.Read before it is
// registered, so llama.cpp never sees a damaged file.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sovos/sov/internal/config"
	"github.com/sovos/sov/model/gguf"
)

// Model is one installed model.
type Model struct {
	Name            string    `json:"name"`
	Path            string    `json:"path"`
	Linked          bool      `json:"linked"` // a local file registered in place, not copied
	Size            int64     `json:"size"`
	SHA256          string    `json:"sha256,omitempty"`
	Source          string    `json:"source"` // the ref it was pulled from
	Architecture    string    `json:"architecture"`
	Parameters      uint64    `json:"parameters"`
	Quantization    string    `json:"quantization"`
	ContextLength   uint64    `json:"context_length"`
	EmbeddingLength uint64    `json:"embedding_length"`
	ChatTemplate    bool      `json:"chat_template"`
	Added           time.Time `json:"added"`
	// Missing is set by List and Get when the file is no longer there.
	Missing bool `json:"missing,omitempty"`
}

// Store is a model directory. Its methods are safe for concurrent use by
// several processes: index updates are serialised with a file lock.
type Store struct {
	dir string
	// freeSpace reports the bytes available in a directory; tests replace it.
	freeSpace func(dir string) (uint64, error)
}

// New returns the store in dir (usually paths.Models()); the directory is
// created when first written.
func New(dir string) *Store { return &Store{dir: dir, freeSpace: freeSpace} }

// Dir is the model directory.
func (s *Store) Dir() string { return s.dir }

const indexName = "index.json"

type index struct {
	Version int     `json:"version"`
	Models  []Model `json:"models"`
}

func (s *Store) indexPath() string { return filepath.Join(s.dir, indexName) }

func (s *Store) readIndex() (*index, error) {
	data, err := os.ReadFile(s.indexPath())
	if errors.Is(err, os.ErrNotExist) {
		return &index{Version: 1}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read model index: %w", err)
	}
	var ix index
	if err := json.Unmarshal(data, &ix); err != nil {
		return nil, fmt.Errorf("model index %s is damaged (%v): remove it and pull or link your models again", s.indexPath(), err)
	}
	return &ix, nil
}

func (s *Store) writeIndex(ix *index) error {
	sort.Slice(ix.Models, func(i, j int) bool { return ix.Models[i].Name < ix.Models[j].Name })
	data, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return fmt.Errorf("encode model index: %w", err)
	}
	return config.WriteFileAtomic(s.indexPath(), append(data, '\n'), 0o600)
}

// update runs fn on the index under the store lock and writes it back.
func (s *Store) update(fn func(ix *index) error) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", s.dir, err)
	}
	unlock, err := lockFile(filepath.Join(s.dir, ".lock"), true)
	if err != nil {
		return err
	}
	defer unlock()
	ix, err := s.readIndex()
	if err != nil {
		return err
	}
	if err := fn(ix); err != nil {
		return err
	}
	return s.writeIndex(ix)
}

// List returns the installed models sorted by name.
func (s *Store) List() ([]Model, error) {
	ix, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	out := ix.Models
	for i := range out {
		out[i].Missing = !fileExists(out[i].Path)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Get returns the model called name (exact match first, then a unique
// case-insensitive match).
func (s *Store) Get(name string) (Model, error) {
	models, err := s.List()
	if err != nil {
		return Model{}, err
	}
	if m, ok := find(models, name); ok {
		return m, nil
	}
	return Model{}, notFound(name, FromCaller)
}

func notFound(name string, from Origin) error {
	return kindf(ErrNotFound, "no installed model named %q%s", name, from.suffix())
}

func find(models []Model, name string) (Model, bool) {
	for _, m := range models {
		if m.Name == name {
			return m, true
		}
	}
	var hit []Model
	for _, m := range models {
		if strings.EqualFold(m.Name, name) {
			hit = append(hit, m)
		}
	}
	if len(hit) == 1 {
		return hit[0], true
	}
	return Model{}, false
}

// Show returns the model and its parsed GGUF metadata.
func (s *Store) Show(name string) (Model, *gguf.File, error) {
	m, err := s.Get(name)
	if err != nil {
		return Model{}, nil, err
	}
	if m.Missing {
		return m, nil, &MissingError{m}
	}
	f, err := gguf.Read(m.Path)
	if err != nil {
		return m, nil, err
	}
	return m, f, nil
}

// Remove unregisters the model and deletes its file unless it was linked.
func (s *Store) Remove(name string) (Model, error) {
	var removed Model
	err := s.update(func(ix *index) error {
		m, ok := find(ix.Models, name)
		if !ok {
			return notFound(name, FromCaller)
		}
		removed = m
		kept := ix.Models[:0]
		for _, x := range ix.Models {
			if x.Name != m.Name {
				kept = append(kept, x)
			}
		}
		ix.Models = kept
		// Only files sov copied into its own directory are deleted.
		if !m.Linked && filepath.Dir(m.Path) == filepath.Clean(s.dir) {
			if err := os.Remove(m.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove %s: %w", m.Path, err)
			}
		}
		return nil
	})
	return removed, err
}

// register adds m under the lock. A name already taken is an error, except
// by an entry from the same source (Pull only gets here for one whose file
// was gone, so the re-pull repairs it).
func (s *Store) register(m Model) error {
	return s.update(func(ix *index) error {
		for i, old := range ix.Models {
			if old.Name != m.Name {
				continue
			}
			if old.Source == m.Source {
				ix.Models[i] = m
				return nil
			}
			return &NameTakenError{m.Name}
		}
		ix.Models = append(ix.Models, m)
		return nil
	})
}

// describe fills m's metadata from a validated GGUF file.
func describe(m *Model, f *gguf.File) {
	m.Size = f.Size
	m.Architecture = f.Architecture()
	m.Parameters = f.ParameterCount()
	m.Quantization = f.Quantization()
	m.ContextLength = f.ContextLength()
	m.EmbeddingLength = f.EmbeddingLength()
	m.ChatTemplate = f.HasChatTemplate()
}

// validName reports whether name can be a model name (and a file name).
func validName(name string) bool {
	if name == "" || len(name) > 128 || name[0] == '.' || name[0] == '-' {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// nameFromFile derives a model name from a file name: its base without
// .gguf, with anything unusual replaced by '-'.
func nameFromFile(file string) string {
	base := filepath.Base(strings.ReplaceAll(file, "\\", "/"))
	if strings.HasSuffix(strings.ToLower(base), ".gguf") {
		base = base[:len(base)-5]
	}
	b := []byte(base)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	name := strings.Trim(string(b), ".-")
	if len(name) > 128 {
		name = name[:128]
	}
	if name == "" {
		name = "model"
	}
	return name
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
