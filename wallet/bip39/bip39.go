// Package bip39 holds the ten official BIP39 word lists (embedded from
// bitcoin/bips, bip-0039/*.txt) and what a wallet needs of them: finding a
// mnemonic's language, its entropy and checksum, and its seed, with the NFKD
// normalisation the specification requires.
package bip39

import (
	"crypto/sha256"
	"crypto/sha512"
	"embed"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/text/unicode/norm"
)

//go:embed wordlists/*.txt
var files embed.FS

// Wordlist is one official list: 2048 words, each unique in the list.
type Wordlist struct {
	Name string // the file's base name: english, japanese, spanish, …
	// SHA256 is the hex digest of the file as bitcoin/bips publishes it; a
	// list that does not match is never loaded.
	SHA256 string
	// Separator joins words when a mnemonic is shown: the ideographic space
	// for Japanese (as the list's notes require), a space otherwise.
	Separator string

	once  sync.Once
	words []string       // as published (NFC where the file is)
	index map[string]int // NFKD form -> index
	err   error
}

// The lists, in the order BIP39's word list page gives them. English comes
// first, so a fresh mnemonic and an unknown word's suggestion default to it.
var lists = []*Wordlist{
	{Name: "english", SHA256: "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda", Separator: " "},
	{Name: "japanese", SHA256: "2eed0aef492291e061633d7ad8117f1a2b03eb80a29d0e4e3117ac2528d05ffd", Separator: "\u3000"},
	{Name: "korean", SHA256: "9e95f86c167de88f450f0aaf89e87f6624a57f973c67b516e338e8e8b8897f60", Separator: " "},
	{Name: "spanish", SHA256: "46846a5a0139d1e3cb77293e521c2865f7bcdb82c44e8d0a06a2cd0ecba48c0b", Separator: " "},
	{Name: "chinese_simplified", SHA256: "5c5942792bd8340cb8b27cd592f1015edf56a8c5b26276ee18a482428e7c5726", Separator: " "},
	{Name: "chinese_traditional", SHA256: "417b26b3d8500a4ae3d59717d7011952db6fc2fb84b807f3f94ac734e89c1b5f", Separator: " "},
	{Name: "french", SHA256: "ebc3959ab7801a1df6bac4fa7d970652f1df76b683cd2f4003c941c63d517e59", Separator: " "},
	{Name: "italian", SHA256: "d392c49fdb700a24cd1fceb237c1f65dcc128f6b34a8aacb58b59384b5c648c2", Separator: " "},
	{Name: "czech", SHA256: "7e80e161c3e93d9554c2efb78d4e3cebf8fc727e9c52e03b83b94406bdcc95fc", Separator: " "},
	{Name: "portuguese", SHA256: "2685e9c194c82ae67e10ba59d9ea5345a23dc093e92276fc5361f6667d79cd3f", Separator: " "},
}

// Lists returns every official word list.
func Lists() []*Wordlist { return lists }

// English is the English list (the one fresh mnemonics use).
func English() *Wordlist { return lists[0] }

// Lookup returns the list called name.
func Lookup(name string) (*Wordlist, bool) {
	for _, l := range lists {
		if l.Name == name {
			return l, true
		}
	}
	return nil, false
}

func (l *Wordlist) load() error {
	l.once.Do(func() {
		b, err := files.ReadFile("wordlists/" + l.Name + ".txt")
		if err != nil {
			l.err = err
			return
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(b)); got != l.SHA256 {
			l.err = fmt.Errorf("bip39: word list %s has sha256 %s, not the published %s", l.Name, got, l.SHA256)
			return
		}
		words := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(words) != 2048 {
			l.err = fmt.Errorf("bip39: word list %s has %d words, not 2048", l.Name, len(words))
			return
		}
		l.words, l.index = words, make(map[string]int, len(words))
		for i, w := range words {
			l.index[Normalize(w)] = i
		}
	})
	return l.err
}

// Words returns the list's 2048 words (nil if the embedded file is bad).
func (l *Wordlist) Words() []string {
	if l.load() != nil {
		return nil
	}
	return l.words
}

// Index is w's position in the list, compared in NFKD form.
func (l *Wordlist) Index(w string) (int, bool) {
	if l.load() != nil {
		return 0, false
	}
	i, ok := l.index[Normalize(w)]
	return i, ok
}

// Normalize is the NFKD form BIP39 compares and hashes words in.
func Normalize(s string) string { return norm.NFKD.String(s) }

// Errors a caller can react to.
var (
	ErrChecksum  = errors.New("bip39: checksum does not match")
	ErrWordCount = errors.New("bip39: a mnemonic has 12, 15, 18, 21 or 24 words")
	// ErrUnknownWord means no list holds every word.
	ErrUnknownWord = errors.New("bip39: no word list holds every word")
	// ErrAmbiguous means the words are valid mnemonics in two lists.
	ErrAmbiguous = errors.New("bip39: the words are a valid mnemonic in more than one language")
)

// Entropy decodes words in l and checks their checksum.
func (l *Wordlist) Entropy(words []string) ([]byte, error) {
	n := len(words)
	if n < 12 || n > 24 || n%3 != 0 {
		return nil, ErrWordCount
	}
	bits := make([]byte, 0, n*11)
	for _, w := range words {
		i, ok := l.Index(w)
		if !ok {
			return nil, fmt.Errorf("%w: %q is not in the %s list", ErrUnknownWord, w, l.Name)
		}
		for b := 10; b >= 0; b-- {
			bits = append(bits, byte(i>>b)&1)
		}
	}
	csBits := n / 3 // ENT/32, with ENT = 11n - CS
	ent := make([]byte, (len(bits)-csBits)/8)
	for i := range ent {
		for b := range 8 {
			ent[i] = ent[i]<<1 | bits[i*8+b]
		}
	}
	sum := sha256.Sum256(ent)
	for b := range csBits {
		if bits[len(ent)*8+b] != (sum[b/8]>>(7-b%8))&1 {
			return nil, ErrChecksum
		}
	}
	return ent, nil
}

// Mnemonic encodes entropy (16 to 32 bytes, a multiple of 4) in l, words
// joined by l's separator.
func (l *Wordlist) Mnemonic(entropy []byte) (string, error) {
	if len(entropy) < 16 || len(entropy) > 32 || len(entropy)%4 != 0 {
		return "", fmt.Errorf("bip39: entropy of %d bytes: use 16, 20, 24, 28 or 32", len(entropy))
	}
	if err := l.load(); err != nil {
		return "", err
	}
	sum := sha256.Sum256(entropy)
	bit := func(i int) int {
		if i < len(entropy)*8 {
			return int(entropy[i/8]>>(7-i%8)) & 1
		}
		i -= len(entropy) * 8
		return int(sum[i/8]>>(7-i%8)) & 1
	}
	n := (len(entropy)*8 + len(entropy)/4) / 11
	words := make([]string, n)
	for w := range n {
		idx := 0
		for b := range 11 {
			idx = idx<<1 | bit(w*11+b)
		}
		words[w] = l.words[idx]
	}
	return strings.Join(words, l.Separator), nil
}

// Detect returns the list in which words are a valid mnemonic. Several
// lists can hold every word (English and French share about a hundred,
// the two Chinese lists most characters); the checksum decides between
// them, and words valid in two lists are refused as ambiguous. With no
// list holding every word the error wraps ErrUnknownWord; with lists
// holding them but no checksum matching, ErrChecksum.
func Detect(words []string) (*Wordlist, error) {
	n := len(words)
	if n < 12 || n > 24 || n%3 != 0 {
		return nil, ErrWordCount
	}
	var valid []*Wordlist
	holds := false
	for _, l := range lists {
		if !l.holdsAll(words) {
			continue
		}
		holds = true
		if _, err := l.Entropy(words); err == nil {
			valid = append(valid, l)
		}
	}
	switch {
	case len(valid) == 1:
		return valid[0], nil
	case len(valid) > 1:
		return nil, fmt.Errorf("%w (%s and %s)", ErrAmbiguous, valid[0].Name, valid[1].Name)
	case holds:
		return nil, ErrChecksum
	}
	return nil, ErrUnknownWord
}

func (l *Wordlist) holdsAll(words []string) bool {
	for _, w := range words {
		if _, ok := l.Index(w); !ok {
			return false
		}
	}
	return true
}

// Closest returns the list holding the most of words (English on a tie),
// the one to name an unknown word against.
func Closest(words []string) *Wordlist {
	best, bestN := lists[0], -1
	for _, l := range lists {
		n := 0
		for _, w := range words {
			if _, ok := l.Index(w); ok {
				n++
			}
		}
		if n > bestN {
			best, bestN = l, n
		}
	}
	return best
}

// Seed is the 64-byte BIP39 seed: PBKDF2-HMAC-SHA512 over the NFKD
// mnemonic, salted with "mnemonic" and the NFKD passphrase, 2048 rounds.
// NFKD turns the Japanese ideographic space into an ASCII one, so either
// separator gives the same seed.
func Seed(mnemonic, passphrase string) []byte {
	return pbkdf2.Key([]byte(Normalize(mnemonic)), []byte("mnemonic"+Normalize(passphrase)), 2048, 64, sha512.New)
}
