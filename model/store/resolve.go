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

// EnvModel names the model to use when --model is not given.
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

// ResolveFor is Resolve for the usual setup: the store in p.Models() and the
// default from cfg's [model] table.
func ResolveFor(p paths.Paths, cfg *config.File, flag string, getenv func(string) string) (string, error) {
	def, err := DefaultFromConfig(cfg)
	if err != nil {
		return "", err
	}
	return New(p.Models()).Resolve(flag, getenv, def)
}

// Resolve picks the model file to use: flag (--model, a name or a path) >
// SOV_MODEL > configuredDefault > the only installed model. The file is
// validated with gguf.Read, so the path returned is safe to hand to
// llama.cpp. With nothing to go on it explains how to get a model.
func (s *Store) Resolve(flag string, getenv func(string) string, configuredDefault string) (string, error) {
	if flag != "" {
		return s.resolveOne(flag, "--model")
	}
	if getenv != nil {
		if v := getenv(EnvModel); v != "" {
			return s.resolveOne(v, EnvModel)
		}
	}
	if configuredDefault != "" {
		return s.resolveOne(configuredDefault, "[model] default in the config")
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
			return "", missingError(models[0])
		}
		return validate(models[0].Path)
	}
	names := make([]string, len(models))
	for i, m := range models {
		names[i] = m.Name
	}
	return "", fmt.Errorf("%d models are installed (%s) and none is chosen: pass --model NAME, set %s, or run sov models default NAME", len(models), strings.Join(names, ", "), EnvModel)
}

// ErrNoModel is returned by Resolve when no model is installed or chosen.
var ErrNoModel = errors.New("no model installed: pull one with sov pull hf.co/OWNER/REPO:Q4_K_M (e.g. sov pull hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M), or register a local file with sov pull ./model.gguf --link")

// resolveOne turns a name or a path into a validated file path.
func (s *Store) resolveOne(v, from string) (string, error) {
	looksLikePath := strings.ContainsAny(v, `/\`) || strings.HasSuffix(strings.ToLower(v), ".gguf")
	if !looksLikePath {
		m, err := s.Get(v)
		if err == nil {
			if m.Missing {
				return "", missingError(m)
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
		return "", fmt.Errorf("model %s (from %s) is a directory: give the .gguf file inside it", v, from)
	case err == nil:
		abs, err := filepath.Abs(v)
		if err != nil {
			return "", fmt.Errorf("model %s: %w", v, err)
		}
		return validate(abs)
	case looksLikePath:
		return "", fmt.Errorf("model file %s (from %s) does not exist: check the path, or see sov models for installed models", v, from)
	}
	return "", fmt.Errorf("no installed model named %q (from %s): see sov models for the names, or pull one with sov pull hf.co/OWNER/REPO:Q4_K_M", v, from)
}

func validate(p string) (string, error) {
	if _, err := gguf.Read(p); err != nil {
		return "", err
	}
	return p, nil
}
