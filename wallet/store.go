package wallet

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/text/unicode/norm"

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
	if err := s.cacheAccounts(keys, acct); err != nil {
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

// Unlock decrypts the seed and checks the address cache against it (see
// verifyCache): an altered cache is rewritten and the unlock fails with an
// *AddressCacheError, so whatever was about to happen with the altered
// addresses in view does not. The caller must Wipe the returned Keys.
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
	keys := NewKeys(seed)
	if err := s.verifyCache(keys); err != nil {
		keys.Wipe()
		return nil, err
	}
	return keys, nil
}

// Reveal returns the mnemonic and BIP39 passphrase. The mnemonic is kept
// in NFKD form (what the seed is computed from); it is shown composed
// (NFC), as a person writes it: the kana of a Japanese mnemonic would
// otherwise print with detached voicing marks. Either form gives the seed.
func (s *Store) Reveal(passphrase []byte) (mnemonic, bip39Passphrase string, err error) {
	sec, err := s.open(passphrase)
	if err != nil {
		return "", "", err
	}
	return norm.NFC.String(sec.Mnemonic), sec.Passphrase, nil
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

// The address cache lets `addresses` and planning run without the
// passphrase. Anyone who can write the wallet directory can edit it, so it
// carries a MAC under a key derived from the seed: only an unlock can check
// it, and every unlock does (see Unlock). Until then what it holds is shown
// as cached, and no send trusts it: every address a transaction pays or
// spends from is derived again from the unlocked seed before signing.
type addressCache struct {
	Accounts Accounts `json:"accounts"`
	MAC      string   `json:"mac"` // hex HMAC-SHA256 of the accounts' JSON
}

// cacheMAC authenticates a under a key only the seed yields.
func (k *Keys) cacheMAC(a Accounts) (string, error) {
	a.Cached = false
	b, err := json.Marshal(a)
	if err != nil {
		return "", err
	}
	key := hmac.New(sha256.New, k.seed)
	key.Write([]byte("sov/wallet/address-cache/v1"))
	mac := hmac.New(sha256.New, key.Sum(nil))
	mac.Write(b)
	return hex.EncodeToString(mac.Sum(nil)), nil
}

// cacheAccounts stores a, authenticated under keys.
func (s *Store) cacheAccounts(keys *Keys, a Accounts) error {
	a.Cached = false
	mac, err := keys.cacheMAC(a)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(addressCache{Accounts: a, MAC: mac}, "", "  ")
	if err != nil {
		return err
	}
	return config.WriteFileAtomic(filepath.Join(s.dir, accountsFile), b, 0o600)
}

// readCache reads the cache as stored; old caches are plain Accounts
// (no MAC).
func (s *Store) readCache() (addressCache, bool) {
	b, err := os.ReadFile(filepath.Join(s.dir, accountsFile))
	if err != nil {
		return addressCache{}, false
	}
	var c addressCache
	if json.Unmarshal(b, &c) == nil && c.Accounts.EVM != "" {
		return c, true
	}
	if json.Unmarshal(b, &c.Accounts) != nil || c.Accounts.EVM == "" {
		return addressCache{}, false
	}
	return addressCache{Accounts: c.Accounts}, true
}

// CachedAccounts returns the cached addresses, marked Cached: they are
// what the file says, unverified until the next unlock. A cache from before
// the account xpubs were kept is reported absent, so the addresses are
// derived (and cached) again.
func (s *Store) CachedAccounts() (Accounts, bool) {
	c, ok := s.readCache()
	if !ok || c.Accounts.BitcoinXpub == "" {
		return Accounts{}, false
	}
	c.Accounts.Cached = true
	return c.Accounts, true
}

// ErrAddressCacheAltered means the address cache did not match the seed at
// unlock: someone with access to the wallet directory changed it (or it was
// damaged). The unlock rewrote it from the seed and stopped, so nothing
// was signed with the altered addresses in view.
var ErrAddressCacheAltered = errors.New("the cached wallet addresses had been altered")

// AddressCacheError names what differed.
type AddressCacheError struct {
	Fields []string // JSON names of the altered fields ("mac" alone: only the MAC was wrong)
}

func (e *AddressCacheError) Error() string {
	return fmt.Sprintf("%s (%s differed from the seed; rewritten from the seed now): any address copied from the cached list may not be yours, check it; nothing was signed, try again",
		ErrAddressCacheAltered, strings.Join(e.Fields, ", "))
}

func (e *AddressCacheError) Unwrap() error { return ErrAddressCacheAltered }

// verifyCache checks the cache against keys (MAC and every address) and
// rewrites it from the seed unless it is intact. A missing cache, one
// without a MAC whose addresses are right, or one lacking fields newer
// versions cache, is simply rewritten; any address or MAC that disagrees
// is an *AddressCacheError.
func (s *Store) verifyCache(keys *Keys) error {
	c, ok := s.readCache()
	index := uint32(0)
	if ok {
		index = c.Accounts.Index
	}
	want, err := keys.Accounts(index)
	if err != nil {
		return err
	}
	if !ok {
		return s.cacheAccounts(keys, want)
	}
	mac, err := keys.cacheMAC(want)
	if err != nil {
		return err
	}
	c.Accounts.Cached = false
	if c.Accounts == want && hmac.Equal([]byte(c.MAC), []byte(mac)) {
		return nil
	}
	altered := diffAccounts(c.Accounts, want)
	if len(altered) == 0 && c.MAC != "" {
		altered = []string{"mac"} // the addresses are right: only the MAC was changed
	}
	if err := s.cacheAccounts(keys, want); err != nil {
		return err
	}
	if len(altered) > 0 {
		return &AddressCacheError{Fields: altered}
	}
	return nil
}

// diffAccounts names the fields of got that are set and differ from want
// (unset ones are from an older cache, not an alteration).
func diffAccounts(got, want Accounts) []string {
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	var gm, wm map[string]any
	json.Unmarshal(g, &gm)
	json.Unmarshal(w, &wm)
	var out []string
	for k, v := range gm {
		if v != "" && v != nil && v != wm[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
