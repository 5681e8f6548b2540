package feeds

import (
	"fmt"

	"github.com/sovos/sov/internal/seal"
	"github.com/sovos/sov/wallet"
)

// CreateKeyFrom is CreateKey with the wallet's Nostr key (NIP-06, account
// 0: m/44'/1237'/0'/0/0) as the secret when unlock is set (it opens the
// wallet), so the publishing identity can be recovered from the wallet's
// mnemonic; with unlock nil the key is new and random.
func (s *Store) CreateKeyFrom(name string, unlock wallet.Unlocker, pass func() ([]byte, error)) (string, error) {
	if unlock == nil {
		return s.CreateKey(name, nil, pass)
	}
	keys, err := unlock()
	if err != nil {
		return "", fmt.Errorf("unlock wallet: %w", err)
	}
	kp, err := keys.NostrKey(0)
	keys.Wipe()
	if err != nil {
		return "", err
	}
	secret := kp.Private.Serialize()
	kp.Private.Zero()
	defer seal.Wipe(secret)
	return s.CreateKey(name, secret, pass)
}
