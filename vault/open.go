package vault

import (
	"context"

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

// OpenWith is Open with the passphrase asked only when dir holds a vault.
func OpenWith(ctx context.Context, dir string, pass Passphrase, o Options) (*Vault, error) {
	if !Exists(dir) {
		return nil, ErrNotInitialised
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
