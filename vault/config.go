package vault

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sovos/sov/internal/config"
	"github.com/sovos/sov/internal/seal"
)

// ConfigSection is the vault's table in config.toml.
const ConfigSection = "vault"

// DefaultIdleTimeout is how long the TUI and other long-running processes
// keep the vault unlocked without use.
const DefaultIdleTimeout = 15 * time.Minute

// Config is the [vault] table of config.toml.
type Config struct {
	KDFTime      uint32 `toml:"kdf_time"`       // Argon2id passes for new vaults (default 3)
	KDFMemoryMiB uint32 `toml:"kdf_memory_mib"` // Argon2id memory for new vaults (default 64)
	KDFThreads   uint8  `toml:"kdf_threads"`    // Argon2id parallelism (default 4)
	EmbedModel   string `toml:"embed_model"`    // model for vector search (name or path); empty = lexical only
	ChatModel    string `toml:"chat_model"`     // model for `vault ask`; empty = the default model
	// AskMinBM25 and AskMinCosine are the relevance floors of ask (see
	// AskOptions): 0 = the defaults, negative = any match.
	AskMinBM25   float64 `toml:"ask_min_bm25"`
	AskMinCosine float64 `toml:"ask_min_cosine"`
	// OpenTimeoutSeconds bounds waiting for another process's lock.
	OpenTimeoutSeconds int `toml:"open_timeout_seconds"`
	// IdleMinutes locks long-running sessions after this much idle time.
	IdleMinutes int `toml:"idle_minutes"`
}

// LoadConfig reads the [vault] table (defaults where it says nothing).
func LoadConfig(f *config.File) (Config, error) {
	c := Config{OpenTimeoutSeconds: 2, IdleMinutes: int(DefaultIdleTimeout / time.Minute)}
	if f == nil {
		return c, nil
	}
	err := f.Section(ConfigSection, &c)
	return c, err
}

// Options returns Open options from the configuration.
func (c Config) Options() Options {
	return Options{
		OpenTimeout: time.Duration(c.OpenTimeoutSeconds) * time.Second,
		IdleTimeout: time.Duration(c.IdleMinutes) * time.Minute,
	}
}

// KDFOverride holds Argon2id settings chosen for one command; zero fields
// defer to the configuration.
type KDFOverride struct {
	Time      uint32 // passes
	MemoryMiB uint32
	Threads   uint8
}

// ErrBadKDF wraps Argon2id parameters that fail validation.
var ErrBadKDF = errors.New("invalid Argon2id parameters")

// KDF picks the Argon2id parameters for a new vault or passphrase: o's
// non-zero fields, then the configuration's, then seal's defaults, with a
// fresh salt.
func (c Config) KDF(o KDFOverride) (*seal.KDF, error) {
	k, err := seal.DefaultKDF()
	if err != nil {
		return nil, err
	}
	for _, t := range []uint32{c.KDFTime, o.Time} {
		if t > 0 {
			k.Time = t
		}
	}
	for _, m := range []uint32{c.KDFMemoryMiB, o.MemoryMiB} {
		if m > math.MaxUint32/1024 {
			return nil, fmt.Errorf("%w: argon2id memory %d MiB out of range", ErrBadKDF, m)
		}
		if m > 0 {
			k.MemoryKiB = m * 1024
		}
	}
	for _, p := range []uint8{c.KDFThreads, o.Threads} {
		if p > 0 {
			k.Threads = p
		}
	}
	if err := k.ValidateNew(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKDF, err)
	}
	return &k, nil
}
