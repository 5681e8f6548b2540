package wallet

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"unicode"

	"github.com/sovos/sov/wallet/bip39"
	"golang.org/x/text/unicode/norm"
)

// MnemonicError says what is wrong with a mnemonic without echoing it whole,
// so it is safe to print.
type MnemonicError struct {
	Position int    // 1-based word position; 0 when the fault is not one word
	Word     string // the offending word, when one is known
	Reason   string
}

func (e *MnemonicError) Error() string {
	if e.Position > 0 {
		return fmt.Sprintf("mnemonic word %d %q %s", e.Position, e.Word, e.Reason)
	}
	return "mnemonic " + e.Reason
}

// WordMismatchError means a word typed back during ConfirmMnemonic is not
// the one at its position: the words were not copied as shown.
type WordMismatchError struct{ Position int }

func (e *WordMismatchError) Error() string {
	return fmt.Sprintf("word #%d does not match", e.Position)
}

// ConfirmMnemonic asks for the words at checks distinct random positions of
// m (ask gets a 1-based position and returns what the user typed), so a
// wallet is saved only once its words were written down. It stops at the
// first wrong word with a *WordMismatchError, or at ask's error.
func ConfirmMnemonic(m string, checks int, ask func(position int) (string, error)) error {
	words := strings.Fields(NormalizeMnemonic(m))
	seen := map[int]bool{}
	for len(seen) < min(checks, len(words)) {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(words))))
		if err != nil {
			return err
		}
		i := int(n.Int64())
		if seen[i] {
			continue
		}
		seen[i] = true
		got, err := ask(i + 1)
		if err != nil {
			return err
		}
		if NormalizeMnemonic(got) != words[i] {
			return &WordMismatchError{Position: i + 1}
		}
	}
	return nil
}

// NormalizeMnemonic lower-cases, NFKD-normalises and single-spaces the words.
func NormalizeMnemonic(m string) string {
	return strings.Join(strings.Fields(strings.ToLower(norm.NFKD.String(m))), " ")
}

// ErrNoMnemonic means the input held no words.
var ErrNoMnemonic = errors.New("no mnemonic in the input")

// maxMnemonicInput bounds what ReadMnemonic reads: 24 words fit many times.
const maxMnemonicInput = 16 << 10

// ReadMnemonic reads a whole piped mnemonic, however it is split over lines
// or spaced, and returns it normalised (see NormalizeMnemonic). Reading one
// line only would silently import the first half of a mnemonic split over
// two lines.
func ReadMnemonic(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxMnemonicInput+1))
	defer clear(b)
	if err != nil {
		return "", fmt.Errorf("read the mnemonic: %w", err)
	}
	if len(b) > maxMnemonicInput {
		return "", &MnemonicError{Reason: "input is far longer than any mnemonic"}
	}
	m := NormalizeMnemonic(string(b))
	if m == "" {
		return "", ErrNoMnemonic
	}
	return m, nil
}

// ValidateMnemonic checks word count, that every word is in one official
// BIP39 word list (naming the first unknown word and its position), and the
// checksum; the language is the list holding every word whose checksum
// holds (see bip39.Detect).
func ValidateMnemonic(m string) error {
	_, err := MnemonicLanguage(m)
	return err
}

// MnemonicLanguage validates m (see ValidateMnemonic) and names its word
// list: english, japanese, spanish, …
func MnemonicLanguage(m string) (string, error) {
	words := strings.Fields(NormalizeMnemonic(m))
	switch len(words) {
	case 12, 15, 18, 21, 24:
	default:
		return "", &MnemonicError{Reason: fmt.Sprintf("has %d words; expected 12, 15, 18, 21 or 24 — check for a missing or extra word", len(words))}
	}
	l, err := bip39.Detect(words)
	switch {
	case err == nil:
		return l.Name, nil
	case errors.Is(err, bip39.ErrUnknownWord):
		list := bip39.Closest(words)
		for i, w := range words {
			if _, ok := list.Index(w); ok {
				continue
			}
			reason := fmt.Sprintf("is not in the BIP39 %s word list, which holds most of the other words — check its spelling", strings.ReplaceAll(list.Name, "_", " "))
			if s := suggestWord(list, w); s != "" {
				reason += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return "", &MnemonicError{Position: i + 1, Word: w, Reason: reason}
		}
	case errors.Is(err, bip39.ErrChecksum):
		return "", &MnemonicError{Reason: "checksum does not match: a word is wrong or two words are swapped — re-check every word against your backup"}
	case errors.Is(err, bip39.ErrAmbiguous):
		return "", &MnemonicError{Reason: "is valid in two BIP39 languages: " + strings.TrimPrefix(err.Error(), "bip39: ")}
	}
	return "", &MnemonicError{Reason: "is invalid: " + strings.TrimPrefix(err.Error(), "bip39: ")}
}

// suggestWord returns the unique entry of list sharing w's first four
// letters (the Latin-script lists are unique in their first four letters),
// accents ignored, so "abaco" suggests Spanish "ábaco".
func suggestWord(list *bip39.Wordlist, w string) string {
	key := func(s string) []rune {
		var r []rune
		for _, c := range bip39.Normalize(s) {
			if !unicode.Is(unicode.Mn, c) {
				r = append(r, c)
			}
		}
		return r
	}
	k := key(w)
	if len(k) < 4 {
		return ""
	}
	match := ""
	for _, c := range list.Words() {
		if ck := key(c); len(ck) >= 4 && string(ck[:4]) == string(k[:4]) {
			if match != "" {
				return ""
			}
			match = norm.NFC.String(c)
		}
	}
	return match
}

// NewMnemonic returns a fresh mnemonic of the given word count (12 or 24).
func NewMnemonic(words int) (string, error) {
	bits := map[int]int{12: 128, 15: 160, 18: 192, 21: 224, 24: 256}[words]
	if bits == 0 {
		return "", fmt.Errorf("mnemonic length %d not supported: use 12 or 24", words)
	}
	ent := make([]byte, bits/8)
	if _, err := rand.Read(ent); err != nil {
		return "", fmt.Errorf("entropy: %w", err)
	}
	defer wipe(ent)
	return bip39.English().Mnemonic(ent)
}

// SeedFromMnemonic validates the mnemonic and returns the 64-byte BIP39 seed.
func SeedFromMnemonic(mnemonic, passphrase string) ([]byte, error) {
	if err := ValidateMnemonic(mnemonic); err != nil {
		return nil, err
	}
	return bip39.Seed(NormalizeMnemonic(mnemonic), passphrase), nil
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
