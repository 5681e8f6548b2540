package wallet

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sovos/sov/wallet/internal/evm"
)

func TestWalletPlanWarnings(t *testing.T) {
	known := "0x52908400098527886E0F7030069857D2E4169EE7"
	poison := "0x5290000000000000000000000000000000009EE7" // same first and last 4
	usdc := evm.HexToAddress("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48")
	sol := "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"
	solLike := "9xQe" + strings.Repeat("A", 36) + "VFin" // different middle, same ends
	tests := []struct {
		name, to, want string
		token          *EVMAddress
		family         string
	}{
		{"zero address", "0x0000000000000000000000000000000000000000", "zero address", nil, FamilyEVM},
		{"token contract", usdc.Hex(), "token contract itself", &usdc, FamilyEVM},
		{"poisoned lookalike", poison, "address poisoning", nil, FamilyEVM},
		{"known payee in other case", strings.ToLower(known), "", nil, FamilyEVM},
		{"unrelated", "0x00000000000000000000000000000000000000dd", "", nil, FamilyEVM},
		{"past payee lookalike", "0x1111000000000000000000000000000000000000", "looks like 0x1111222233334444555566667777888899990000", nil, FamilyEVM},
		{"solana lookalike", solLike, "address poisoning", nil, FamilySolana},
		{"solana known", sol, "", nil, FamilySolana},
	}
	w := testWallet(t)
	if err := w.setPolicy(Policy{Allow: []string{known, sol}}, "test"); err != nil {
		t.Fatal(err)
	}
	if err := w.recordLedger(LedgerEntry{Chain: "eip155:1", Hash: "0xabc", To: "0x1111222233334444555566667777888899990000"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Plan{kind: "send", net: Network{Family: tt.family, CAIP2: "eip155:1"}, to: tt.to, asset: "USDC", summary: "Send 1 USDC"}
			if tt.token != nil {
				p.evmPlan = &EVMPlan{EVMTransfer: EVMTransfer{Token: tt.token}}
			}
			w.warn(p)
			got := strings.Join(p.Warnings(), "|")
			if tt.want == "" {
				if got != "" || p.Summary() != "Send 1 USDC" {
					t.Fatalf("unexpected warning %q (summary %q)", got, p.Summary())
				}
				return
			}
			if !strings.Contains(got, tt.want) || !strings.Contains(p.Summary(), "WARNING: ") {
				t.Fatalf("warnings %q, summary %q: want %q", got, p.Summary(), tt.want)
			}
		})
	}
}

// A send with a warning needs a person: a headless caller is refused (even
// within every limit), a person who approves it sends it, and the decision
// in the ledger carries the warning.
func TestWalletWarningNeedsApproval(t *testing.T) {
	w := sealed(t, testWallet(t))
	a, _ := ToAtomic("1", 6)
	p := &Plan{kind: "send", net: Network{Family: FamilyEVM, CAIP2: "eip155:1", Name: "ethereum"}, to: (EVMAddress{}).Hex(), asset: "USDC", decimals: 6, amount: a, summary: "Send 1 USDC"}
	w.warn(p)
	ctx := context.Background()
	var refused *RefusedError
	if _, err := w.authorize(ctx, p.request(actor{principal: "cli"}), nil); !errors.As(err, &refused) || refused.Rule != RuleApproval || !strings.Contains(err.Error(), "zero address") {
		t.Fatalf("headless: %v", err)
	}
	var shown []string
	yes := typing(testPassphrase, &shown)
	if _, err := w.authorize(ctx, p.request(actor{principal: "cli", interactive: true, approve: yes}), yes); err != nil {
		t.Fatalf("approved: %v", err)
	}
	if len(shown) != 1 || !strings.Contains(shown[0], "WARNING: the recipient is the zero address") {
		t.Fatalf("the person was shown %q", shown)
	}
	n := 0
	for _, e := range audit(t, w) {
		if e.Fields["request"] != nil {
			if s, _ := e.Fields["warnings"].(string); !strings.Contains(s, "zero address") {
				t.Fatalf("entry %s lacks the warning", e)
			}
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d decisions, want 2", n)
	}
}
