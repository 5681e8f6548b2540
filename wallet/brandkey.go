package wallet

import "crypto/ed25519"

// BrandPath is the SLIP-10 path of the ed25519 key a brand signs its paid
// answers with: beside the ledger key, outside BIP-44, so no chain's
// wallet derives it and it is not the ledger's own key.
const BrandPath = "m/7337'/1'/0'"

// BrandKey returns the ed25519 key at BrandPath.
func (k *Keys) BrandKey() (ed25519.PrivateKey, error) {
	s, _, err := DeriveSLIP10(k.seed, BrandPath)
	if err != nil {
		return nil, err
	}
	return ed25519FromSeed(s), nil
}

// BrandKeyWith unlocks the wallet with the passphrase pass gives and
// returns its brand key (see BrandPath); the other keys are wiped.
func (s *Store) BrandKeyWith(pass Passphrase) (ed25519.PrivateKey, error) {
	keys, err := s.Unlocker(pass)()
	if err != nil {
		return nil, err
	}
	defer keys.Wipe()
	return keys.BrandKey()
}
