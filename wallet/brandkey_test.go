package wallet

import (
	"bytes"
	"testing"
)

// TestBrandKey: the brand key is fixed by the seed and is not the ledger key.
func TestBrandKey(t *testing.T) {
	seed, _ := SeedFromMnemonic("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "")
	k := NewKeys(seed)
	defer k.Wipe()
	b1, err := k.BrandKey()
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := k.BrandKey()
	l, _ := k.LedgerKey()
	if !bytes.Equal(b1, b2) || bytes.Equal(b1, l) {
		t.Fatal("brand key not deterministic, or equal to the ledger key")
	}
}
