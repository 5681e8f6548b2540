package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sovos/sov/internal/config"
	"github.com/sovos/sov/internal/paths"
	"github.com/sovos/sov/model/gguf"
)

// EnvModel names the model to use when none is chosen explicitly.
const EnvModel = "SOV_MODEL"

// ConfigSection is the config table holding the default model.
const ConfigSection = "model"

// Config is the part of the [model] table the store reads.
type Config struct {
	Default string `toml:"default"` // model name or path
}

// DefaultFromConfig returns [model] default ("" when unset).
func DefaultFromConfig(cfg *config.File) (string, error) {
	if cfg == nil {
		return "", nil
	}
	var c Config
	if err := cfg.Section(ConfigSection, &c); err != nil {
		return "", err
	}
	return c.Default, nil
}

// SetDefault writes [model] default = name into the config file at path,
// keeping any other keys of the [model] table.
func SetDefault(configPath, name string) error {
	cfg, err := config.Load(configPath)
	if err != nil {
		return err
	}
	table := map[string]any{}
	if err := cfg.Section(ConfigSection, &table); err != nil {
		return err
	}
	if name == "" {
		delete(table, "default")
	} else {
		table["default"] = name
	}
	return config.SetSection(configPath, ConfigSection, table)
}

// UnsetDefault removes [model] default from the config file at path when
// it is name (a model being removed) and reports whether it did.
func UnsetDefault(configPath, name string) (bool, error) {
	cfg, err := config.Load(configPath)
	if err != nil {
		return false, err
	}
	def, err := DefaultFromConfig(cfg)
	if err != nil || def != name || name == "" {
		return false, err
	}
	return true, SetDefault(configPath, "")
}

// ResolveFor is Resolve for the usual setup: the store in p.Models() and the
// default from cfg's [model] table (cfg may be nil).
func ResolveFor(p paths.Paths, cfg *config.File, choice string, getenv func(string) string) (string, error) {
	def, err := DefaultFromConfig(cfg)
	if err != nil {
		return "", err
	}
	return New(p.Models()).Resolve(choice, getenv, def)
}

// Resolve picks the model file to use: choice (a name or a path, given
// explicitly) > EnvModel > configuredDefault > the only installed model.
// The file is validated with gguf.Read, so the path returned is safe to hand
// to llama.cpp. Errors match ErrNoModel, ErrNoneChosen, ErrNotFound,
// ErrNoSuchFile, ErrMissing or a gguf format error.
func (s *Store) Resolve(choice string, getenv func(string) string, configuredDefault string) (string, error) {
	if choice != "" {
		return s.resolveOne(choice, FromCaller)
	}
	if getenv != nil {
		if v := getenv(EnvModel); v != "" {
			return s.resolveOne(v, FromEnv)
		}
	}
	if configuredDefault != "" {
		return s.resolveOne(configuredDefault, FromConfig)
	}
	models, err := s.List()
	if err != nil {
		return "", err
	}
	switch len(models) {
	case 0:
		return "", ErrNoModel
	case 1:
		if models[0].Missing {
			return "", &MissingError{models[0]}
		}
		return validate(models[0].Path)
	}
	names := make([]string, len(models))
	for i, m := range models {
		names[i] = m.Name
	}
	return "", kindf(ErrNoneChosen, "%d models are installed (%s) and none is chosen", len(models), strings.Join(names, ", "))
}

// Canonical is how a choice of model (an installed model's name in any
// case, or a path to a GGUF file) is best recorded, e.g. as the default: the
// model's exact name, or the validated file's absolute path.
func (s *Store) Canonical(choice string) (string, error) {
	if m, err := s.Get(choice); err == nil {
		return m.Name, nil
	}
	return s.resolveOne(choice, FromCaller)
}

// resolveOne turns a name or a path into a validated file path.
func (s *Store) resolveOne(v string, from Origin) (string, error) {
	looksLikePath := strings.ContainsAny(v, `/\`) || strings.HasSuffix(strings.ToLower(v), ".gguf")
	if !looksLikePath {
		m, err := s.Get(v)
		if err == nil {
			if m.Missing {
				return "", &MissingError{m}
			}
			return validate(m.Path)
		}
		if !errors.Is(err, ErrNotFound) {
			return "", err
		}
	}
	st, err := os.Stat(v)
	switch {
	case err == nil && st.IsDir():
		return "", fmt.Errorf("model %s%s is a directory: give the .gguf file inside it", v, from.suffix())
	case err == nil:
		abs, err := filepath.Abs(v)
		if err != nil {
			return "", fmt.Errorf("model %s: %w", v, err)
		}
		return validate(abs)
	case looksLikePath:
		return "", kindf(ErrNoSuchFile, "model file %s%s does not exist: check the path", v, from.suffix())
	}
	return "", notFound(v, from)
}

func validate(p string) (string, error) {
	if _, err := gguf.Read(p); err != nil {
		return "", err
	}
	return p, nil
}
