// Package config reads and writes sov's TOML configuration.
//
// The file has one table per package ([model], [tui], [vault], [feeds],
// [wallet], [agents]); each package owns the struct for its own table and
// decodes it with Section, so no package needs to know the others' settings.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"
)

// File is a parsed configuration file.
type File struct {
	path     string
	md       toml.MetaData
	sections map[string]toml.Primitive
}

// Load parses the file at path. A missing file is an empty configuration.
func Load(path string) (*File, error) {
	f := &File{path: path, sections: map[string]toml.Primitive{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	md, err := toml.Decode(string(data), &f.sections)
	if err != nil {
		return nil, fmt.Errorf("config %s is not valid TOML (%v): fix or remove it", path, err)
	}
	f.md = md
	return f, nil
}

// Path is where the file lives.
func (f *File) Path() string { return f.path }

// Section decodes table name into v, leaving v's fields untouched where the
// file says nothing (so callers pre-fill defaults).
func (f *File) Section(name string, v any) error {
	p, ok := f.sections[name]
	if !ok {
		return nil
	}
	if err := f.md.PrimitiveDecode(p, v); err != nil {
		return fmt.Errorf("config %s, table [%s]: %w", f.path, name, err)
	}
	return nil
}

// SetSection replaces table name with v and writes the file atomically,
// keeping the other tables as they were.
func SetSection(path, name string, v any) error {
	all := map[string]any{}
	if data, err := os.ReadFile(path); err == nil {
		if _, err := toml.Decode(string(data), &all); err != nil {
			return fmt.Errorf("config %s is not valid TOML (%v): fix or remove it", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read config: %w", err)
	}
	// Round-trip v through TOML so it is stored with its toml tags.
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(v); err != nil {
		return fmt.Errorf("encode [%s]: %w", name, err)
	}
	sec := map[string]any{}
	if _, err := toml.Decode(buf.String(), &sec); err != nil {
		return fmt.Errorf("encode [%s]: %w", name, err)
	}
	all[name] = sec
	buf.Reset()
	if err := toml.NewEncoder(&buf).Encode(all); err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	return WriteFileAtomic(path, buf.Bytes(), 0o600)
}

// WriteFileAtomic writes data to a temporary file beside path, syncs it,
// renames it over path and syncs the folder, so a crash leaves either the
// old or the new file, whole.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// the rename is durable once the folder is synced
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
