package vault

import (
	"context"

	"github.com/sovos/sov/internal/config"
	"github.com/sovos/sov/internal/seal"
)

// Passphrase supplies a passphrase when one is needed (a prompt, a file,
// the environment). It is called at most once, and only after the checks
// that need no passphrase passed, so nobody types a passphrase for a
// vault that is not there; the result is wiped after use.
type Passphrase func() ([]byte, error)

// InitWith is Init with the passphrase asked only when dir holds no vault
// yet.
func InitWith(ctx context.Context, dir string, pass Passphrase, o Options) error {
	if Exists(dir) {
		return ErrExists
	}
	p, err := pass()
	if err != nil {
		return err
	}
	defer seal.Wipe(p)
	return Init(ctx, dir, p, o)
}

// OpenWith is Open with the passphrase asked only when dir holds a vault,
// and only once o.Embedder, when it can Load (a model loaded on first
// use), has loaded: a missing model fails before anyone types a
// passphrase.
func OpenWith(ctx context.Context, dir string, pass Passphrase, o Options) (*Vault, error) {
	if !Exists(dir) {
		return nil, ErrNotInitialised
	}
	if l, ok := o.Embedder.(interface{ Load(context.Context) error }); ok {
		if err := l.Load(ctx); err != nil {
			return nil, err
		}
	}
	p, err := pass()
	if err != nil {
		return nil, err
	}
	defer seal.Wipe(p)
	return Open(ctx, dir, p, o)
}

// PasswdWith changes the passphrase of the vault in dir: the current one
// is asked and checked first, then the new one. kdf nil keeps the vault's
// Argon2id parameters (with a fresh salt).
func PasswdWith(ctx context.Context, dir string, current, next Passphrase, kdf *seal.KDF, o Options) error {
	if !Exists(dir) {
		return ErrNotInitialised
	}
	old, err := current()
	if err != nil {
		return err
	}
	defer seal.Wipe(old)
	o.ReadOnly = false
	v, err := Open(ctx, dir, old, o)
	if err != nil {
		return err
	}
	defer v.Close()
	p, err := next()
	if err != nil {
		return err
	}
	defer seal.Wipe(p)
	return v.Passwd(old, p, kdf)
}

// With opens the vault in dir as OpenWith does, runs fn on it and closes
// it: a command holds the database, and the keys, only while it runs.
func With(ctx context.Context, dir string, pass Passphrase, o Options, fn func(*Vault) error) error {
	v, err := OpenWith(ctx, dir, pass, o)
	if err != nil {
		return err
	}
	defer v.Close()
	return fn(v)
}

// InitConfigured creates the vault in dir as InitWith does, with the
// Argon2id parameters Config.KDF picks from o and the [vault] table of f,
// and returns them.
func InitConfigured(ctx context.Context, f *config.File, dir string, pass Passphrase, o KDFOverride) (seal.KDF, error) {
	c, err := LoadConfig(f)
	if err != nil {
		return seal.KDF{}, err
	}
	kdf, err := c.KDF(o)
	if err != nil {
		return seal.KDF{}, err
	}
	return *kdf, InitWith(ctx, dir, pass, Options{KDF: kdf})
}

// PasswdConfigured changes the passphrase as PasswdWith does, with the
// [vault] table of f: with override set, new Argon2id parameters are
// picked as Config.KDF does; with override nil the vault keeps its own.
func PasswdConfigured(ctx context.Context, f *config.File, dir string, current, next Passphrase, override *KDFOverride) error {
	c, err := LoadConfig(f)
	if err != nil {
		return err
	}
	var kdf *seal.KDF
	if override != nil {
		if kdf, err = c.KDF(*override); err != nil {
			return err
		}
	}
	o := c.Options()
	o.IdleTimeout = 0 // the new passphrase is asked while the vault is open
	return PasswdWith(ctx, dir, current, next, kdf, o)
}
