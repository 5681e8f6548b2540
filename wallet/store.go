package wallet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sovos/sov/internal/config"
	"github.com/sovos/sov/internal/seal"
)

// Errors callers map to user messages.
var (
	ErrNoWallet        = errors.New("no wallet yet")
	ErrWalletExists    = errors.New("a wallet already exists")
	ErrWrongPassphrase = errors.New("wrong wallet passphrase (nothing was changed)")
)

const (
	seedFile     = "seed.sealed"
	accountsFile = "accounts.json"
	seedAAD      = "sov/wallet/seed/v1"
)

// sealedSeed is the on-disk form: only KDF parameters and ciphertext.
type sealedSeed struct {
	Version int      `json:"version"`
	KDF     seal.KDF `json:"kdf"`
	Sealed  []byte   `json:"sealed"`
}

// secret is what is sealed: the mnemonic (so it can be revealed) and the
// optional BIP39 passphrase.
type secret struct {
	Mnemonic   string `json:"mnemonic"`
	Passphrase string `json:"bip39_passphrase,omitempty"`
}

// Store keeps the encrypted seed and a cache of public addresses in dir.
type Store struct {
	dir    string
	newKDF func() (seal.KDF, error)
}

// StoreOption adjusts a Store.
type StoreOption func(*Store)

// WithKDF sets the Argon2id parameters used for new seeds (tests use
// seal.FastKDF; the default is seal.DefaultKDF).
func WithKDF(f func() (seal.KDF, error)) StoreOption { return func(s *Store) { s.newKDF = f } }

// OpenStore returns the store in dir (normally paths.Sub("wallet")).
func OpenStore(dir string, opts ...StoreOption) *Store {
	s := &Store{dir: dir, newKDF: seal.DefaultKDF}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Dir is the wallet's data directory.
func (s *Store) Dir() string { return s.dir }

// Exists reports whether a sealed seed is present.
func (s *Store) Exists() bool {
	_, err := os.Stat(filepath.Join(s.dir, seedFile))
	return err == nil
}

// Create seals mnemonic (validated) under passphrase and caches the index-0
// public addresses. It refuses to replace a wallet unless overwrite is set.
func (s *Store) Create(mnemonic, bip39Passphrase string, passphrase []byte, overwrite bool) (Accounts, error) {
	if len(passphrase) == 0 {
		return Accounts{}, errors.New("empty wallet passphrase: choose one to encrypt the seed")
	}
	if s.Exists() && !overwrite {
		return Accounts{}, ErrWalletExists
	}
	seed, err := SeedFromMnemonic(mnemonic, bip39Passphrase)
	if err != nil {
		return Accounts{}, err
	}
	defer wipe(seed)
	keys := NewKeys(seed)
	defer keys.Wipe()
	acct, err := keys.Accounts(0)
	if err != nil {
		return Accounts{}, err
	}
	kdf, err := s.newKDF()
	if err != nil {
		return Accounts{}, err
	}
	kek, err := kdf.Derive(passphrase)
	if err != nil {
		return Accounts{}, err
	}
	defer seal.Wipe(kek)
	pt, err := json.Marshal(secret{Mnemonic: NormalizeMnemonic(mnemonic), Passphrase: bip39Passphrase})
	if err != nil {
		return Accounts{}, err
	}
	defer wipe(pt)
	ct, err := seal.Seal(kek, pt, []byte(seedAAD))
	if err != nil {
		return Accounts{}, err
	}
	out, err := json.MarshalIndent(sealedSeed{Version: 1, KDF: kdf, Sealed: ct}, "", "  ")
	if err != nil {
		return Accounts{}, err
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return Accounts{}, fmt.Errorf("create %s: %w", s.dir, err)
	}
	if err := config.WriteFileAtomic(filepath.Join(s.dir, seedFile), out, 0o600); err != nil {
		return Accounts{}, err
	}
	if err := s.cacheAccounts(acct); err != nil {
		return Accounts{}, err
	}
	return acct, nil
}

func (s *Store) open(passphrase []byte) (secret, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, seedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return secret{}, ErrNoWallet
	}
	if err != nil {
		return secret{}, fmt.Errorf("read wallet: %w", err)
	}
	var f sealedSeed
	if err := json.Unmarshal(b, &f); err != nil || f.Version != 1 {
		return secret{}, fmt.Errorf("wallet file %s is corrupt: restore it from backup or re-import your mnemonic", filepath.Join(s.dir, seedFile))
	}
	kek, err := f.KDF.Derive(passphrase)
	if err != nil {
		return secret{}, fmt.Errorf("wallet file: %w", err)
	}
	defer seal.Wipe(kek)
	pt, err := seal.Open(kek, f.Sealed, []byte(seedAAD))
	if errors.Is(err, seal.ErrOpen) {
		return secret{}, ErrWrongPassphrase
	}
	if err != nil {
		return secret{}, err
	}
	defer wipe(pt)
	var sec secret
	if err := json.Unmarshal(pt, &sec); err != nil {
		return secret{}, fmt.Errorf("wallet payload corrupt: %w", err)
	}
	return sec, nil
}

// Unlock decrypts the seed. The caller must Wipe the returned Keys.
func (s *Store) Unlock(passphrase []byte) (*Keys, error) {
	sec, err := s.open(passphrase)
	if err != nil {
		return nil, err
	}
	seed, err := SeedFromMnemonic(sec.Mnemonic, sec.Passphrase)
	if err != nil {
		return nil, err
	}
	defer wipe(seed)
	return NewKeys(seed), nil
}

// Reveal returns the mnemonic and BIP39 passphrase.
func (s *Store) Reveal(passphrase []byte) (mnemonic, bip39Passphrase string, err error) {
	sec, err := s.open(passphrase)
	if err != nil {
		return "", "", err
	}
	return sec.Mnemonic, sec.Passphrase, nil
}

// Passphrase yields the wallet passphrase when the store needs it (from a
// prompt, the environment, a file); the store wipes it after use.
type Passphrase func() ([]byte, error)

// ask checks the wallet exists before asking for its passphrase.
func (s *Store) ask(pass Passphrase) ([]byte, error) {
	if !s.Exists() {
		return nil, ErrNoWallet
	}
	return pass()
}

// Unlocker unlocks with pass, asked only when the keys are needed (a
// request was allowed).
func (s *Store) Unlocker(pass Passphrase) Unlocker {
	return func() (*Keys, error) {
		p, err := s.ask(pass)
		if err != nil {
			return nil, err
		}
		defer wipe(p)
		return s.Unlock(p)
	}
}

// RevealWith is Reveal with the passphrase asked for here.
func (s *Store) RevealWith(pass Passphrase) (mnemonic, bip39Passphrase string, err error) {
	p, err := s.ask(pass)
	if err != nil {
		return "", "", err
	}
	defer wipe(p)
	return s.Reveal(p)
}

// CreateWith is Create with the passphrase asked for here, once it is
// known that the wallet may be created.
func (s *Store) CreateWith(mnemonic, bip39Passphrase string, pass Passphrase, overwrite bool) (Accounts, error) {
	if s.Exists() && !overwrite {
		return Accounts{}, ErrWalletExists
	}
	p, err := pass()
	if err != nil {
		return Accounts{}, err
	}
	defer wipe(p)
	return s.Create(mnemonic, bip39Passphrase, p, overwrite)
}

// Creation describes a new wallet: an existing mnemonic to import, or a
// fresh one of Words words, shown once and checked, sealed under the
// passphrase Pass yields (and, optionally, a BIP39 passphrase).
type Creation struct {
	Import    func() (string, error) // reads the words to import; nil: a fresh mnemonic
	Words     int                    // a fresh mnemonic's length (12 or 24)
	BIP39     Passphrase             // the optional BIP39 passphrase ("25th word"); nil: none
	Overwrite bool                   // replace an existing wallet
	Pass      Passphrase
	Show      func(MnemonicWords) error          // shows a fresh mnemonic, once
	Confirm   func(position int) (string, error) // asks a word back; nil skips the check
}

// ConfirmChecks is how many words of a fresh mnemonic are asked back.
const ConfirmChecks = 3

// ErrWordCount means a fresh mnemonic was asked for with a length other
// than 12 or 24 words.
var ErrWordCount = errors.New("a new mnemonic has 12 or 24 words")

// Init creates the wallet c describes. It refuses to replace a wallet
// before anything is read or asked; an imported mnemonic is checked before
// the passphrase is asked; for a fresh one the passphrase is asked before the
// words are shown, so a mistyped passphrase does not waste words already
// written down, and nothing is saved unless ConfirmChecks words come back
// right (a *WordMismatchError otherwise). A bad mnemonic or word says that
// nothing was saved.
func (s *Store) Init(c Creation) (Accounts, error) {
	if s.Exists() && !c.Overwrite {
		return Accounts{}, ErrWalletExists
	}
	unsaved := func(err error) (Accounts, error) { return Accounts{}, fmt.Errorf("%w (nothing was saved)", err) }
	var m string
	var err error
	if c.Import != nil {
		if m, err = c.Import(); err != nil {
			return Accounts{}, err
		}
		if err := ValidateMnemonic(m); err != nil {
			return unsaved(err)
		}
	} else if c.Words != 12 && c.Words != 24 {
		return Accounts{}, fmt.Errorf("%w, not %d", ErrWordCount, c.Words)
	} else if m, err = NewMnemonic(c.Words); err != nil {
		return Accounts{}, err
	}
	var bip39Pass []byte
	if c.BIP39 != nil {
		if bip39Pass, err = c.BIP39(); err != nil {
			return Accounts{}, fmt.Errorf("BIP39 passphrase: %w", err)
		}
		defer wipe(bip39Pass)
	}
	if c.Import != nil {
		return s.CreateWith(m, string(bip39Pass), c.Pass, c.Overwrite)
	}
	p, err := c.Pass()
	if err != nil {
		return Accounts{}, err
	}
	defer wipe(p)
	if err := c.Show(strings.Fields(m)); err != nil {
		return Accounts{}, err
	}
	if c.Confirm != nil {
		if err := ConfirmMnemonic(m, ConfirmChecks, c.Confirm); err != nil {
			return unsaved(err)
		}
	}
	return s.Create(m, string(bip39Pass), p, c.Overwrite)
}

// cacheAccounts stores public addresses so `addresses` needs no passphrase.
func (s *Store) cacheAccounts(a Accounts) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	return config.WriteFileAtomic(filepath.Join(s.dir, accountsFile), b, 0o600)
}

// CachedAccounts returns the cached index-0 addresses, if any.
func (s *Store) CachedAccounts() (Accounts, bool) {
	b, err := os.ReadFile(filepath.Join(s.dir, accountsFile))
	if err != nil {
		return Accounts{}, false
	}
	var a Accounts
	if json.Unmarshal(b, &a) != nil || a.EVM == "" {
		return Accounts{}, false
	}
	return a, true
}
