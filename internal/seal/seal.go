// Package seal holds the passphrase-based encryption shared by the vault and
// the wallet: Argon2id derives a key-encryption key from the passphrase, and
// every value is sealed with XChaCha20-Poly1305 under a fresh random nonce,
// with associated data binding it to where it belongs.
package seal

import (
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// KeySize is the size of every symmetric key.
const KeySize = chacha20poly1305.KeySize

// ErrOpen means a sealed value did not authenticate: the key is wrong (a wrong
// passphrase), or the bytes or their associated data were changed.
var ErrOpen = errors.New("decryption failed: wrong key or tampered data")

// KDF are the Argon2id parameters; they are stored beside what they protect
// so they can be raised later without breaking old files.
type KDF struct {
	Time      uint32 `json:"t"`
	MemoryKiB uint32 `json:"m"`
	Threads   uint8  `json:"p"`
	Salt      []byte `json:"salt"`
}

// DefaultKDF returns the recommended parameters (t=3, 64 MiB, p=4) with a
// fresh random salt.
func DefaultKDF() (KDF, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return KDF{}, fmt.Errorf("random salt: %w", err)
	}
	return KDF{Time: 3, MemoryKiB: 64 * 1024, Threads: 4, Salt: salt}, nil
}

// FastKDF returns cheap parameters for tests only: they pass Validate (so
// files written with them open) but not ValidateNew.
func FastKDF() KDF {
	return KDF{Time: 1, MemoryKiB: 64, Threads: 1, Salt: []byte("sov-test-salt-16")}
}

// Validate rejects parameters that are missing or absurd (a corrupt header).
func (k KDF) Validate() error {
	switch {
	case k.Time == 0 || k.Time > 100:
		return fmt.Errorf("argon2id time %d out of range", k.Time)
	case k.MemoryKiB < 8 || k.MemoryKiB > 4<<20:
		return fmt.Errorf("argon2id memory %d KiB out of range", k.MemoryKiB)
	case k.Threads == 0:
		return fmt.Errorf("argon2id threads must be positive")
	case len(k.Salt) < 8:
		return fmt.Errorf("argon2id salt too short")
	}
	return nil
}

// Minimums for parameters chosen for new files (ValidateNew). OWASP's
// password storage guidance lists m=19 MiB, t=2, p=1 as the least Argon2id
// setting (its other rows trade memory for passes, down to 7 MiB with t=5);
// 19 MiB is a floor where a GPU or ASIC attacker's per-guess memory cost
// still matters. Time may be 1: with at least 19 MiB of memory, memory is the
// cost that binds.
const (
	MinMemoryKiB = 19 * 1024
	MinTime      = 1
)

// ErrWeakKDF means parameters chosen for a new file are below the minimums.
var ErrWeakKDF = errors.New("under the minimum")

// ValidateNew is Validate plus the minimums, for parameters someone is
// choosing now. Files already written are opened with Validate alone, so
// older, weaker parameters never lock anyone out.
func (k KDF) ValidateNew() error {
	if err := k.Validate(); err != nil {
		return err
	}
	switch {
	case k.MemoryKiB < MinMemoryKiB:
		return fmt.Errorf("argon2id memory %d KiB is %w of %d MiB", k.MemoryKiB, ErrWeakKDF, MinMemoryKiB/1024)
	case k.Time < MinTime:
		return fmt.Errorf("argon2id time %d is %w of %d", k.Time, ErrWeakKDF, MinTime)
	}
	return nil
}

// Derive turns a passphrase into a key-encryption key.
func (k KDF) Derive(passphrase []byte) ([]byte, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	return argon2.IDKey(passphrase, k.Salt, k.Time, k.MemoryKiB, k.Threads, KeySize), nil
}

// NewKey returns a random symmetric key.
func NewKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("random key: %w", err)
	}
	return k, nil
}

// Seal encrypts plaintext under key; aad is authenticated but not stored.
// The result is nonce || ciphertext.
func Seal(key, plaintext, aad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	out := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("random nonce: %w", err)
	}
	return aead.Seal(out, out, plaintext, aad), nil
}

// Open reverses Seal. It returns ErrOpen when the key, the bytes or aad do
// not match what was sealed.
func Open(key, sealed, aad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if len(sealed) < chacha20poly1305.NonceSizeX+aead.Overhead() {
		return nil, ErrOpen
	}
	nonce, ct := sealed[:chacha20poly1305.NonceSizeX], sealed[chacha20poly1305.NonceSizeX:]
	pt, err := aead.Open(nil, nonce, ct, aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// Wipe zeroes b; used on keys and passphrases once they are no longer needed.
func Wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
