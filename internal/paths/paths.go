// Package paths resolves where sov keeps its data, configuration and cache.
//
// SOV_HOME overrides everything (data, config and cache all live below it);
// otherwise the XDG base directories are used.
package paths

import (
	"fmt"
	"os"
	"path/filepath"
)

// Paths are the directories sov writes to.
type Paths struct {
	Data   string // databases, models, keys
	Config string // config.toml
	Cache  string // rebuildable files
}

// FromEnv resolves the directories from environment variables read through
// getenv (os.Getenv in production, a map in tests).
func FromEnv(getenv func(string) string) (Paths, error) {
	if h := getenv("SOV_HOME"); h != "" {
		abs, err := filepath.Abs(h)
		if err != nil {
			return Paths{}, fmt.Errorf("SOV_HOME %q: %w", h, err)
		}
		return Paths{Data: abs, Config: abs, Cache: filepath.Join(abs, "cache")}, nil
	}
	home := getenv("HOME")
	pick := func(env, fallback string) (string, error) {
		if v := getenv(env); v != "" && filepath.IsAbs(v) {
			return filepath.Join(v, "sov"), nil
		}
		if home == "" {
			return "", fmt.Errorf("neither %s nor HOME is set: set SOV_HOME to a directory sov may use", env)
		}
		return filepath.Join(home, fallback, "sov"), nil
	}
	var p Paths
	var err error
	if p.Data, err = pick("XDG_DATA_HOME", ".local/share"); err != nil {
		return Paths{}, err
	}
	if p.Config, err = pick("XDG_CONFIG_HOME", ".config"); err != nil {
		return Paths{}, err
	}
	if p.Cache, err = pick("XDG_CACHE_HOME", ".cache"); err != nil {
		return Paths{}, err
	}
	return p, nil
}

// Default resolves the directories from the process environment.
func Default() (Paths, error) { return FromEnv(os.Getenv) }

// ConfigFile is the TOML configuration file.
func (p Paths) ConfigFile() string { return filepath.Join(p.Config, "config.toml") }

// Models is where pulled models are stored.
func (p Paths) Models() string { return filepath.Join(p.Data, "models") }

// Sub returns a directory below Data for one package (vault, feeds, wallet…).
func (p Paths) Sub(name string) string { return filepath.Join(p.Data, name) }

// Ensure creates dir (and parents) readable only by the user.
func Ensure(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return nil
}
