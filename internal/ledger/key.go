package ledger

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sovos/sov/internal/seal"
)

// The ledger's key: an ed25519 key whose public half, in key.json, is what
// every signature is checked against. It is either derived from the wallet
// seed at a dedicated path (Source "wallet": nothing secret is stored here,
// the wallet passphrase unlocks it) or a local key sealed under its own
// passphrase (Source "local") for users without a wallet.

const keyFile = "key.json"

// Key sources.
const (
	SourceWallet = "wallet"
	SourceLocal  = "local"
)

// Errors a caller reacts to.
var (
	ErrNoKey           = errors.New("the ledger has no signing key yet")
	ErrKeyExists       = errors.New("the ledger already has a signing key")
	ErrKeyMismatch     = errors.New("this key is not the ledger's key")
	ErrWrongPassphrase = errors.New("wrong ledger passphrase")
)

// KeyInfo is key.json: the public key, and the sealed private key when
// Source is local.
type KeyInfo struct {
	Version int       `json:"version"`
	KeyID   string    `json:"keyid"`
	Public  []byte    `json:"public"`
	Source  string    `json:"source"`
	KDF     *seal.KDF `json:"kdf,omitempty"`
	Sealed  []byte    `json:"sealed,omitempty"`
}

// KeyID names an ed25519 public key: the sha256 hex of its 32 bytes.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:])
}

// LoadKey reads key.json; ErrNoKey when there is none.
func (l *Ledger) LoadKey() (KeyInfo, error) {
	b, err := os.ReadFile(filepath.Join(l.dir, keyFile))
	if errors.Is(err, os.ErrNotExist) {
		return KeyInfo{}, ErrNoKey
	}
	if err != nil {
		return KeyInfo{}, fmt.Errorf("ledger key: %w", err)
	}
	var k KeyInfo
	if err := json.Unmarshal(b, &k); err != nil {
		return KeyInfo{}, fmt.Errorf("ledger key %s is damaged: %w", filepath.Join(l.dir, keyFile), err)
	}
	if len(k.Public) != ed25519.PublicKeySize || KeyID(k.Public) != k.KeyID {
		return KeyInfo{}, fmt.Errorf("ledger key %s is damaged: public key and key id disagree", filepath.Join(l.dir, keyFile))
	}
	return k, nil
}

func (l *Ledger) writeKey(k KeyInfo) error {
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(l.dir, keyFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("ledger key: %w", err)
	}
	// Link, not rename: a key that appeared meanwhile is never replaced.
	if err := os.Link(tmp, path); err != nil {
		os.Remove(tmp)
		if errors.Is(err, os.ErrExist) {
			return ErrKeyExists
		}
		return fmt.Errorf("ledger key: %w", err)
	}
	return os.Remove(tmp)
}

// AdoptKey makes pub (derived from the wallet seed) the ledger's key.
func (l *Ledger) AdoptKey(pub ed25519.PublicKey) error {
	return l.writeKey(KeyInfo{Version: 1, KeyID: KeyID(pub), Public: pub, Source: SourceWallet})
}

// CreateLocalKey makes a new key sealed under passphrase.
func (l *Ledger) CreateLocalKey(passphrase []byte, kdf seal.KDF) (*Signer, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ledger key: %w", err)
	}
	kek, err := kdf.Derive(passphrase)
	if err != nil {
		return nil, fmt.Errorf("ledger key: %w", err)
	}
	defer seal.Wipe(kek)
	sealed, err := seal.Seal(kek, priv.Seed(), []byte("sov ledger key v1"))
	if err != nil {
		return nil, err
	}
	if err := l.writeKey(KeyInfo{Version: 1, KeyID: KeyID(pub), Public: pub, Source: SourceLocal, KDF: &kdf, Sealed: sealed}); err != nil {
		return nil, err
	}
	return NewSigner(priv), nil
}

// UnlockLocalKey opens a local key with its passphrase.
func (l *Ledger) UnlockLocalKey(passphrase []byte) (*Signer, error) {
	k, err := l.LoadKey()
	if err != nil {
		return nil, err
	}
	if k.Source != SourceLocal || k.KDF == nil {
		return nil, fmt.Errorf("the ledger key comes from the %s, not a local passphrase", k.Source)
	}
	kek, err := k.KDF.Derive(passphrase)
	if err != nil {
		return nil, fmt.Errorf("ledger key: %w", err)
	}
	defer seal.Wipe(kek)
	seed, err := seal.Open(kek, k.Sealed, []byte("sov ledger key v1"))
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	defer seal.Wipe(seed)
	return l.Signer(ed25519.NewKeyFromSeed(seed))
}

// Signer checks that priv is the ledger's key and returns its signer.
func (l *Ledger) Signer(priv ed25519.PrivateKey) (*Signer, error) {
	k, err := l.LoadKey()
	if err != nil {
		return nil, err
	}
	s := NewSigner(priv)
	if s.id != k.KeyID {
		return nil, fmt.Errorf("%w: key %s…, the ledger's is %s…", ErrKeyMismatch, s.id[:12], k.KeyID[:12])
	}
	return s, nil
}

// Signer signs DSSE envelopes with an ed25519 key.
type Signer struct {
	priv ed25519.PrivateKey
	id   string
}

// NewSigner wraps priv.
func NewSigner(priv ed25519.PrivateKey) *Signer {
	return &Signer{priv: priv, id: KeyID(priv.Public().(ed25519.PublicKey))}
}

// Sign implements dsse.Signer; data is the DSSE pre-authentication encoding.
func (s *Signer) Sign(_ context.Context, data []byte) ([]byte, error) {
	return ed25519.Sign(s.priv, data), nil
}

// KeyID implements dsse.Signer.
func (s *Signer) KeyID() (string, error) { return s.id, nil }

// Public is the signer's public key.
func (s *Signer) Public() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }

// verifier checks DSSE signatures with an ed25519 public key.
type verifier struct {
	pub ed25519.PublicKey
	id  string
}

func (v verifier) Verify(_ context.Context, data, sig []byte) error {
	if !ed25519.Verify(v.pub, data, sig) {
		return errors.New("ed25519 signature does not verify")
	}
	return nil
}
func (v verifier) KeyID() (string, error)   { return v.id, nil }
func (v verifier) Public() crypto.PublicKey { return v.pub }

// PublicPEM is the key as a PEM "PUBLIC KEY" (PKIX), for third parties.
func (k KeyInfo) PublicPEM() ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(ed25519.PublicKey(k.Public))
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// Keys says how to reach the secrets behind a ledger key; the caller
// decides where passphrases come from (a prompt, the environment).
type Keys struct {
	// Wallet derives the wallet's ledger key (unlocking the wallet); nil
	// when there is no wallet.
	Wallet func() (ed25519.PrivateKey, error)
	// Passphrase gives the local key's passphrase; create is true when a
	// new key will be sealed with it (ask twice).
	Passphrase func(create bool) ([]byte, error)
	// KDF seals a new local key (seal.DefaultKDF when nil).
	KDF func() (seal.KDF, error)
}

// Unlock returns the ledger's signer. The key comes from the wallet when
// key.json says so; a ledger without a key yet gets one when create is set:
// the wallet's when there is a wallet, otherwise a new local key.
func (l *Ledger) Unlock(k Keys, create bool) (*Signer, error) {
	info, err := l.LoadKey()
	switch {
	case errors.Is(err, ErrNoKey) && !create:
		return nil, err
	case err != nil && !errors.Is(err, ErrNoKey):
		return nil, err
	}
	if info.Source == SourceWallet || (info.KeyID == "" && k.Wallet != nil) {
		if k.Wallet == nil {
			return nil, errors.New("the ledger key comes from the wallet, and there is no wallet here")
		}
		priv, err := k.Wallet()
		if err != nil {
			return nil, err
		}
		if info.KeyID == "" {
			if err := l.AdoptKey(priv.Public().(ed25519.PublicKey)); err != nil && !errors.Is(err, ErrKeyExists) {
				return nil, err
			}
		}
		return l.Signer(priv)
	}
	pass, err := k.Passphrase(info.KeyID == "")
	if err != nil {
		return nil, err
	}
	defer seal.Wipe(pass)
	if info.KeyID != "" {
		return l.UnlockLocalKey(pass)
	}
	kdf := seal.DefaultKDF
	if k.KDF != nil {
		kdf = k.KDF
	}
	params, err := kdf()
	if err != nil {
		return nil, err
	}
	return l.CreateLocalKey(pass, params)
}
