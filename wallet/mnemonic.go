package wallet

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"

	"github.com/tyler-smith/go-bip39"
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

// ValidateMnemonic checks word count, that every word is in the BIP39 English
// list (naming the first unknown word and its position) and the checksum.
func ValidateMnemonic(m string) error {
	words := strings.Fields(NormalizeMnemonic(m))
	switch len(words) {
	case 12, 15, 18, 21, 24:
	default:
		return &MnemonicError{Reason: fmt.Sprintf("has %d words; expected 12, 15, 18, 21 or 24 — check for a missing or extra word", len(words))}
	}
	for i, w := range words {
		if _, ok := bip39.GetWordIndex(w); !ok {
			reason := "is not in the BIP39 English word list — check its spelling"
			if s := suggestWord(w); s != "" {
				reason += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return &MnemonicError{Position: i + 1, Word: w, Reason: reason}
		}
	}
	if _, err := bip39.EntropyFromMnemonic(strings.Join(words, " ")); err != nil {
		if errors.Is(err, bip39.ErrChecksumIncorrect) {
			return &MnemonicError{Reason: "checksum does not match: a word is wrong or two words are swapped — re-check every word against your backup"}
		}
		return &MnemonicError{Reason: "is invalid: " + err.Error()}
	}
	return nil
}

// suggestWord returns the unique word list entry sharing the first four
// letters (BIP39 English words are unique in their first four letters).
func suggestWord(w string) string {
	if len(w) < 4 {
		return ""
	}
	for _, c := range bip39.GetWordList() {
		if strings.HasPrefix(c, w[:4]) {
			return c
		}
	}
	return ""
}

// NewMnemonic returns a fresh mnemonic of the given word count (12 or 24).
func NewMnemonic(words int) (string, error) {
	bits := map[int]int{12: 128, 15: 160, 18: 192, 21: 224, 24: 256}[words]
	if bits == 0 {
		return "", fmt.Errorf("mnemonic length %d not supported: use 12 or 24", words)
	}
	ent, err := bip39.NewEntropy(bits)
	if err != nil {
		return "", fmt.Errorf("entropy: %w", err)
	}
	defer wipe(ent)
	return bip39.NewMnemonic(ent)
}

// SeedFromMnemonic validates the mnemonic and returns the 64-byte BIP39 seed.
func SeedFromMnemonic(mnemonic, passphrase string) ([]byte, error) {
	if err := ValidateMnemonic(mnemonic); err != nil {
		return nil, err
	}
	return bip39.NewSeed(NormalizeMnemonic(mnemonic), norm.NFKD.String(passphrase)), nil
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
