package feeds

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/sovos/sov/feeds/nostr"
	"github.com/sovos/sov/internal/config"
	"github.com/sovos/sov/internal/seal"
)

// Config is the [feeds] table of config.toml.
type Config struct {
	// Relays receive published events.
	Relays []string `toml:"relays"`
	// EventsFile, when set, gets every published event appended (JSON
	// Lines), e.g. a file a web server serves.
	EventsFile string `toml:"events_file"`
	// Gateways are trustless IPFS gateways for ipfs:// sources.
	Gateways []string `toml:"gateways"`
	// Interests weight topics for the news digest (topic = weight, 0..10).
	Interests map[string]float64 `toml:"interests"`
	// Blocked topics never reach the digest.
	Blocked []string `toml:"blocked"`
	// Model for sov news (name or path); empty = sov's default model.
	Model string `toml:"model"`
	// MaxFuture is how far ahead created_at may be ("15m").
	MaxFuture string `toml:"max_future"`
}

// LoadConfig reads [feeds] with defaults.
func LoadConfig(f *config.File) (Config, error) {
	c := Config{MaxFuture: DefaultMaxFuture.String()}
	if f == nil {
		return c, nil
	}
	if err := f.Section("feeds", &c); err != nil {
		return c, err
	}
	if _, err := time.ParseDuration(c.MaxFuture); err != nil {
		return c, fmt.Errorf("config [feeds] max_future %q: use a duration like \"15m\"", c.MaxFuture)
	}
	return c, nil
}

// MaxFutureDuration is the parsed MaxFuture.
func (c Config) MaxFutureDuration() time.Duration {
	d, err := time.ParseDuration(c.MaxFuture)
	if err != nil || d <= 0 {
		return DefaultMaxFuture
	}
	return d
}

// keyFile is the sealed publishing key: the secret never touches disk in
// plaintext; it is sealed with a key derived from the passphrase.
type keyFile struct {
	PubKey string   `json:"pubkey"`
	KDF    seal.KDF `json:"kdf"`
	Sealed []byte   `json:"sealed"`
}

const keyFileName = "publisher-key.json"

// Keygen creates a publishing key sealed with passphrase into dir. It
// refuses to replace an existing key.
func Keygen(dir string, passphrase []byte, kdf seal.KDF) (string, error) {
	path := filepath.Join(dir, keyFileName)
	if _, err := os.Stat(path); err == nil {
		return "", fmt.Errorf("a publishing key already exists in %s: remove it first if you really want a new identity", path)
	}
	if len(passphrase) == 0 {
		return "", ErrEmptyPassphrase
	}
	sk, err := nostr.GenerateKey()
	if err != nil {
		return "", err
	}
	return sealKey(path, sk, passphrase, kdf)
}

// KeygenFrom seals an existing secret (e.g. the wallet's NIP-06 key at
// m/44'/1237'/0'/0/0) as the publishing key.
func KeygenFrom(dir string, secret, passphrase []byte, kdf seal.KDF) (string, error) {
	path := filepath.Join(dir, keyFileName)
	if _, err := os.Stat(path); err == nil {
		return "", fmt.Errorf("a publishing key already exists in %s: remove it first if you really want a new identity", path)
	}
	if len(passphrase) == 0 {
		return "", ErrEmptyPassphrase
	}
	sk, err := nostr.SecretKeyFromBytes(secret)
	if err != nil {
		return "", err
	}
	return sealKey(path, sk, passphrase, kdf)
}

// CreateKey makes the publishing key in the store's directory and trusts
// it under name: secret when given (e.g. the wallet's NIP-06 key, so one
// mnemonic backs up the identity too), else a new random key, sealed with
// the passphrase pass supplies (wiped after) under the default Argon2id
// parameters. It returns the public key (hex).
func (s *Store) CreateKey(name string, secret []byte, pass func() ([]byte, error)) (string, error) {
	kdf, err := seal.DefaultKDF()
	if err != nil {
		return "", err
	}
	pw, err := pass()
	if err != nil {
		return "", err
	}
	defer seal.Wipe(pw)
	var pub string
	if secret != nil {
		pub, err = KeygenFrom(s.dir, secret, pw, kdf)
	} else {
		pub, err = Keygen(s.dir, pw, kdf)
	}
	if err != nil {
		return "", err
	}
	_, err = s.Trust(pub, name, nil)
	return pub, err
}

func sealKey(path string, sk *nostr.SecretKey, passphrase []byte, kdf seal.KDF) (string, error) {
	secret := sk.Bytes()
	defer seal.Wipe(secret)
	key, err := kdf.Derive(passphrase)
	if err != nil {
		return "", err
	}
	defer seal.Wipe(key)
	pub := sk.PublicKey()
	sealed, err := seal.Seal(key, secret, []byte("sov-feeds-key:"+pub))
	if err != nil {
		return "", err
	}
	data, _ := json.MarshalIndent(keyFile{PubKey: pub, KDF: kdf, Sealed: sealed}, "", "  ")
	if err := config.WriteFileAtomic(path, data, 0o600); err != nil {
		return "", fmt.Errorf("write key: %w", err)
	}
	return pub, nil
}

// PublicKey returns the publishing key's public half without a passphrase.
func PublicKey(dir string) (string, error) {
	kf, err := readKeyFile(dir)
	if err != nil {
		return "", err
	}
	return kf.PubKey, nil
}

func readKeyFile(dir string) (keyFile, error) {
	var kf keyFile
	data, err := os.ReadFile(filepath.Join(dir, keyFileName))
	if errors.Is(err, os.ErrNotExist) {
		return kf, ErrNoKey
	}
	if err != nil {
		return kf, fmt.Errorf("read publishing key: %w", err)
	}
	if err := json.Unmarshal(data, &kf); err != nil {
		return kf, fmt.Errorf("publishing key file is corrupt: %v", err)
	}
	return kf, kf.KDF.Validate()
}

// UnlockKey opens the sealed publishing key.
func UnlockKey(dir string, passphrase []byte) (*nostr.SecretKey, error) {
	kf, err := readKeyFile(dir)
	if err != nil {
		return nil, err
	}
	key, err := kf.KDF.Derive(passphrase)
	if err != nil {
		return nil, err
	}
	defer seal.Wipe(key)
	secret, err := seal.Open(key, kf.Sealed, []byte("sov-feeds-key:"+kf.PubKey))
	if err != nil {
		return nil, fmt.Errorf("wrong passphrase for the publishing key (or the key file was altered)")
	}
	defer seal.Wipe(secret)
	sk, err := nostr.SecretKeyFromBytes(secret)
	if err != nil {
		return nil, err
	}
	if sk.PublicKey() != kf.PubKey {
		return nil, fmt.Errorf("publishing key file is inconsistent")
	}
	return sk, nil
}

// Article is what publish turns into a kind-30023 event.
type Article struct {
	Title   string
	Summary string
	Topics  []string
	Slug    string // d-tag; derived from the title when empty
	Body    string // Markdown
}

// NewArticle builds and signs a NIP-23 long-form event.
func NewArticle(sk *nostr.SecretKey, a Article, now time.Time) (*nostr.Event, error) {
	if strings.TrimSpace(a.Title) == "" {
		return nil, ErrNoTitle
	}
	if strings.TrimSpace(a.Body) == "" {
		return nil, fmt.Errorf("the article body is empty")
	}
	slug := a.Slug
	if slug == "" {
		slug = Slugify(a.Title)
	}
	ts := now.Unix()
	tags := [][]string{{"d", slug}, {"title", a.Title}, {"published_at", fmt.Sprint(ts)}}
	if a.Summary != "" {
		tags = append(tags, []string{"summary", a.Summary})
	}
	for _, t := range normTopics(a.Topics) {
		tags = append(tags, []string{"t", t})
	}
	ev := &nostr.Event{CreatedAt: ts, Kind: nostr.KindArticle, Tags: tags, Content: a.Body}
	if err := sk.Sign(ev); err != nil {
		return nil, err
	}
	if len(ev.Marshal()) > nostr.MaxEventSize {
		return nil, fmt.Errorf("the article is over the %d-byte event cap: shorten it", nostr.MaxEventSize)
	}
	return ev, nil
}

// Slugify makes a d-tag from a title.
func Slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}
