package feeds

import (
	"fmt"

	"github.com/sovos/sov/internal/seal"
)

// CreateKeyFrom is CreateKey with the secret that secret returns (the
// wallet's NIP-06 Nostr key, so the publishing identity can be recovered
// from the wallet's mnemonic); with secret nil the key is new and random.
// The secret is wiped after use.
func (s *Store) CreateKeyFrom(name string, secret func() ([]byte, error), pass func() ([]byte, error)) (string, error) {
	if secret == nil {
		return s.CreateKey(name, nil, pass)
	}
	sk, err := secret()
	if err != nil {
		return "", fmt.Errorf("unlock wallet: %w", err)
	}
	defer seal.Wipe(sk)
	return s.CreateKey(name, sk, pass)
}
