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
