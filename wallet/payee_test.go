package wallet

import (
	"context"
	"errors"
	"testing"
)

func TestWalletSamePayee(t *testing.T) {
	sol := "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"
	tests := []struct {
		a, b string
		want bool
	}{
		{"0x52908400098527886E0F7030069857D2E4169EE7", "0x52908400098527886e0f7030069857d2e4169ee7", true},
		{sol, sol, true},
		{sol, "9xqeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin", false},
		{"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ", true},
		{"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "BC1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", false},
		{"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "1bvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", false},
		{"alice.near", "Alice.near", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := SamePayee(tt.a, tt.b); got != tt.want {
			t.Errorf("SamePayee(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// A Solana allow-list entry must not allow a key that differs only in case
// (a different key); EVM entries still match across case.
func TestWalletAllowListIsCaseExactForBase58(t *testing.T) {
	w := testWallet(t)
	sol := "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"
	evm := "0x52908400098527886E0F7030069857D2E4169EE7"
	if err := w.setPolicy(Policy{Allow: []string{sol, evm}, PayeeDaily: map[string]map[string]string{sol: {"USDC": "1"}}}, "test"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := w.authorize(ctx, payReq("1", "9xqeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"), nil); !errors.Is(err, ErrRefused) {
		t.Fatalf("case-variant Solana key: %v, want refused", err)
	}
	if _, err := w.authorize(ctx, payReq("1", sol), nil); err != nil {
		t.Fatalf("exact Solana key: %v", err)
	}
	if _, err := w.authorize(ctx, payReq("1", sol), nil); !errors.Is(err, ErrRefused) {
		t.Fatalf("payee cap: %v, want refused", err)
	}
	if _, err := w.authorize(ctx, payReq("1", "0x52908400098527886e0f7030069857d2e4169ee7"), nil); err != nil {
		t.Fatalf("lower-case EVM: %v", err)
	}
}
