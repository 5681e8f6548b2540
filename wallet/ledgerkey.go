package wallet

import "crypto/ed25519"

// LedgerKeyWith unlocks the wallet with the passphrase pass gives and
// returns its ledger key (see LedgerPath); the other keys are wiped.
func (s *Store) LedgerKeyWith(pass Passphrase) (ed25519.PrivateKey, error) {
	keys, err := s.Unlocker(pass)()
	if err != nil {
		return nil, err
	}
	defer keys.Wipe()
	return keys.LedgerKey()
}

// NostrSecretWith unlocks the wallet with the passphrase pass gives and
// returns the private key of its Nostr identity (NIP-06, account 0:
// m/44'/1237'/0'/0/0), 32 bytes for the caller to wipe.
func (s *Store) NostrSecretWith(pass Passphrase) ([]byte, error) {
	keys, err := s.Unlocker(pass)()
	if err != nil {
		return nil, err
	}
	defer keys.Wipe()
	kp, err := keys.NostrKey(0)
	if err != nil {
		return nil, err
	}
	defer kp.Private.Zero()
	return kp.Private.Serialize(), nil
}
