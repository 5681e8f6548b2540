package wallet

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/seal"
)

// KDFParams aliases seal.KDF for test helpers.
type KDFParams = seal.KDF

func testKDF() seal.KDF { return seal.FastKDF() }

func TestWalletStoreSealsSeed(t *testing.T) {
	dir := t.TempDir()
	s := OpenStore(dir, WithKDF(func() (seal.KDF, error) { return seal.FastKDF(), nil }))
	if _, err := s.Unlock([]byte("x")); !errors.Is(err, ErrNoWallet) {
		t.Fatalf("no wallet: %v", err)
	}
	acct, err := s.Create(abandonMnemonic, "", []byte("pw"), false)
	if err != nil {
		t.Fatal(err)
	}
	if acct.EVM != "0x9858EfFD232B4033E47d90003D41EC34EcaEda94" {
		t.Fatal(acct.EVM)
	}
	if _, err := s.Create(abandonMnemonic, "", []byte("pw"), false); !errors.Is(err, ErrWalletExists) {
		t.Fatalf("overwrite: %v", err)
	}
	if _, err := s.Unlock([]byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong pass: %v", err)
	}
	k, err := s.Unlock([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := k.Accounts(0)
	k.Wipe()
	if a != acct {
		t.Fatal("unlock derives different accounts")
	}
	m, _, err := s.Reveal([]byte("pw"))
	if err != nil || m != abandonMnemonic {
		t.Fatalf("reveal %q %v", m, err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, seedFile))
	if strings.Contains(string(raw), "abandon") {
		t.Fatal("plaintext mnemonic on disk")
	}
	// tampering is a wrong-passphrase-style failure, never garbage keys
	raw[len(raw)/2] ^= 1
	os.WriteFile(filepath.Join(dir, seedFile), raw, 0o600)
	if _, err := s.Unlock([]byte("pw")); err == nil {
		t.Fatal("tampered seed opened")
	}
	// a BIP39 passphrase changes every address
	s2 := OpenStore(t.TempDir(), WithKDF(func() (seal.KDF, error) { return seal.FastKDF(), nil }))
	a2, err := s2.Create(abandonMnemonic, "TREZOR", []byte("pw"), false)
	if err != nil || a2.EVM == acct.EVM {
		t.Fatalf("bip39 passphrase ignored: %v", err)
	}
}
