package feeds

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovos/sov/wallet"
)

// CreateKeyFrom makes the wallet's NIP-06 key the publishing key (NIP-06
// test vector 1), a random one without a wallet, and says when the wallet
// would not open.
func TestFeedsCreateKeyFromWallet(t *testing.T) {
	const mnemonic = "leader monkey parrot ring guide accident before fence cannon height naive bean"
	w := wallet.OpenStore(filepath.Join(t.TempDir(), "wallet"))
	if _, err := w.Create(mnemonic, "", []byte("wallet pw"), false); err != nil {
		t.Fatal(err)
	}
	pass := func() ([]byte, error) { return []byte("feeds pw"), nil }
	walletPass := func() ([]byte, error) { return []byte("wallet pw"), nil }
	pub, err := openTestStore(t).CreateKeyFrom("me", func() ([]byte, error) { return w.NostrSecretWith(walletPass) }, pass)
	if err != nil || pub != "17162c921dc4d2518f9a101db33695df1afb56ab82f5ff3e5da6eec3ca5cd917" {
		t.Fatalf("from the wallet: %s %v", pub, err)
	}
	random, err := openTestStore(t).CreateKeyFrom("me", nil, pass)
	if err != nil || len(random) != 64 || random == pub {
		t.Fatalf("random key: %s %v", random, err)
	}
	wrong := func() ([]byte, error) { return []byte("wrong"), nil }
	s := openTestStore(t)
	if _, err := s.CreateKeyFrom("me", func() ([]byte, error) { return w.NostrSecretWith(wrong) }, pass); err == nil || !strings.Contains(err.Error(), "unlock wallet") {
		t.Fatalf("wrong wallet passphrase: %v", err)
	}
	if _, err := PublicKey(s.dir); !errors.Is(err, ErrNoKey) {
		t.Fatalf("a failed unlock left a key behind: %v", err)
	}
}
