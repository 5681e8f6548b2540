package prompt

import (
	"errors"
	"fmt"
	"math"

	"github.com/trustelem/zxcvbn"
)

// MinScore is the least zxcvbn score (0-4) a new passphrase needs. Score 3
// means zxcvbn estimates at least 10^8 guesses; with Argon2id at the
// default 64 MiB an offline attacker tries only thousands per second per
// GPU, so that is months of work, while score 2 (10^6, e.g. "password1!")
// falls in minutes. Score 4 (10^10) would refuse many reasonable four-word
// passphrases.
const MinScore = 3

// ErrWeakPassphrase means a new passphrase scored below MinScore.
var ErrWeakPassphrase = errors.New("passphrase too weak")

// WeakError says how weak a passphrase is; it wraps ErrWeakPassphrase.
type WeakError struct {
	Score   int     // zxcvbn score, 0 to 4
	Guesses float64 // zxcvbn's estimate of guesses to find it
}

func (e *WeakError) Error() string {
	return fmt.Sprintf("%v: zxcvbn score %d of 4, about 10^%d guesses; needs %d (10^%d guesses): use four or more random words",
		ErrWeakPassphrase, e.Score, int(math.Log10(math.Max(e.Guesses, 1))), MinScore, 2*MinScore+2)
}

func (e *WeakError) Unwrap() error { return ErrWeakPassphrase }

// CheckStrength estimates a new passphrase with zxcvbn and returns a
// *WeakError below MinScore. userInputs (names, the app's own words) count
// as known to the attacker. Only new passphrases are judged: an existing
// one must always be accepted to unlock.
func CheckStrength(p []byte, userInputs ...string) error {
	r := zxcvbn.PasswordStrength(string(p), userInputs)
	if r.Score >= MinScore {
		return nil
	}
	return &WeakError{Score: r.Score, Guesses: r.Guesses}
}
