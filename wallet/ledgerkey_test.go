package wallet

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sovos/sov/internal/seal"
)

func TestWalletLedgerKeyWith(t *testing.T) {
	s := OpenStore(t.TempDir(), WithKDF(func() (seal.KDF, error) { return seal.FastKDF(), nil }))
	if _, err := s.Create(abandonMnemonic, "", []byte("pw"), false); err != nil {
		t.Fatal(err)
	}
	k1, err := s.LedgerKeyWith(func() ([]byte, error) { return []byte("pw"), nil })
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := s.Unlock([]byte("pw"))
	k2, _ := keys.LedgerKey()
	if !bytes.Equal(k1, k2) {
		t.Fatal("LedgerKeyWith is not the seed's ledger key")
	}
	if _, err := s.LedgerKeyWith(func() ([]byte, error) { return []byte("nope"), nil }); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}
