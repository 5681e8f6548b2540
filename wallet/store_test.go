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

// TestWalletStoreInitOrder: Init asks nothing before it knows a wallet may
// be made, asks a fresh wallet's passphrase before showing its words, and
// saves nothing unless the words come back right.
func TestWalletStoreInitOrder(t *testing.T) {
	tests := []struct {
		name    string
		exists  bool
		c       Creation
		want    string // the calls made, in order
		wantErr any    // error value or *T to match with errors.As
		saved   bool
	}{
		{"fresh, confirmed", false, Creation{Words: 12}, "pass show confirm confirm confirm ", nil, true},
		{"fresh, no check", false, Creation{Words: 24}, "pass show ", nil, true},
		{"fresh, wrong word", false, Creation{Words: 12}, "pass show confirm ", new(*WordMismatchError), false},
		{"fresh, BIP39 passphrase", false, Creation{Words: 12, BIP39: func() ([]byte, error) { return []byte("TREZOR"), nil }}, "pass show confirm confirm confirm ", nil, true},
		{"BIP39 passphrase unreadable", false, Creation{Words: 12, BIP39: func() ([]byte, error) { return nil, errors.New("no file") }}, "", "BIP39 passphrase: no file", false},
		{"bad length", false, Creation{Words: 15}, "", ErrWordCount, false},
		{"exists", true, Creation{Words: 12}, "", ErrWalletExists, true},
		{"import", false, Creation{Import: func() (string, error) { return abandonMnemonic, nil }}, "pass ", nil, true},
		{"import, bad words", false, Creation{Import: func() (string, error) { return strings.Repeat("abandon ", 12), nil }}, "", new(*MnemonicError), false},
		{"import over a wallet", true, Creation{Import: func() (string, error) { panic("read before the check") }}, "", ErrWalletExists, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := OpenStore(t.TempDir(), WithKDF(func() (seal.KDF, error) { return seal.FastKDF(), nil }))
			if tt.exists {
				s.Create(abandonMnemonic, "", []byte("pw"), false)
			}
			var calls strings.Builder
			var shown []string
			c := tt.c
			c.Pass = func() ([]byte, error) { calls.WriteString("pass "); return []byte("pw"), nil }
			c.Show = func(w MnemonicWords) error { calls.WriteString("show "); shown = w; return nil }
			if tt.name != "fresh, no check" {
				c.Confirm = func(pos int) (string, error) {
					calls.WriteString("confirm ")
					if tt.wantErr != nil {
						return "wrong", nil
					}
					return shown[pos-1], nil
				}
			}
			acct, err := s.Init(c)
			switch want := tt.wantErr.(type) {
			case nil:
				if err != nil || acct.EVM == "" {
					t.Fatalf("%+v %v", acct, err)
				}
			case string:
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("error %v, want %q", err, want)
				}
			case error:
				if !errors.Is(err, want) {
					t.Fatalf("error %v, want %v", err, want)
				}
			default:
				if !errors.As(err, want) {
					t.Fatalf("error %v, want %T", err, want)
				}
			}
			if calls.String() != tt.want || s.Exists() != tt.saved {
				t.Fatalf("calls %q (want %q), saved %v", calls.String(), tt.want, s.Exists())
			}
		})
	}
}
