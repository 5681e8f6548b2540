package wallet

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/ledger"
)

// testPassphrase seals the seed of wallets made by sealed: approving needs it.
const testPassphrase = "typed by a person"

// sealed gives w a seed (the abandon… mnemonic) sealed under
// testPassphrase, so that approvals can be checked against it.
func sealed(t *testing.T, w *Wallet) *Wallet {
	t.Helper()
	if _, err := w.store.CreateWith(abandonMnemonic, "", func() ([]byte, error) { return []byte(testPassphrase), nil }, false); err != nil {
		t.Fatal(err)
	}
	return w
}

// typing is an approver that types pass ("" declines), keeping what it
// was shown in shown when not nil.
func typing(pass string, shown *[]string) Approver {
	return func(_ context.Context, summary, why string) ([]byte, error) {
		if shown != nil {
			*shown = append(*shown, summary+" | "+why)
		}
		if pass == "" {
			return nil, nil
		}
		return []byte(pass), nil
	}
}

// TestWalletApprovalIsThePassphraseTyped: above the threshold a "yes" is not
// enough; the approver must return the wallet passphrase, checked against
// the sealed seed. A wrong one is a refusal, recorded as such.
func TestWalletApprovalIsThePassphraseTyped(t *testing.T) {
	w := sealed(t, testWallet(t))
	if err := w.setPolicy(Policy{Limits: map[string]Limit{"USDC": {ApproveAbove: "5"}}}, "test"); err != nil {
		t.Fatal(err)
	}
	req := payReq("6", "0xA")
	req.Interactive = true
	tests := []struct {
		name, typed string
		reason      string // "" = approved
	}{
		{"the passphrase approves", testPassphrase, ""},
		{"a wrong one refuses", "y", "the passphrase typed to approve it is wrong"},
		{"nothing typed declines", "", "declined by the user"},
	}
	for _, tt := range tests {
		var shown []string
		d, err := w.authorize(context.Background(), req, typing(tt.typed, &shown))
		switch {
		case len(shown) != 1:
			t.Errorf("%s: the approver was asked %d times", tt.name, len(shown))
		case tt.reason == "" && (err != nil || !d.Approved):
			t.Errorf("%s: %+v %v", tt.name, d, err)
		case tt.reason != "" && (!errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.reason)):
			t.Errorf("%s: %v, want a refusal saying %q", tt.name, err, tt.reason)
		}
	}
	refused := 0
	for _, e := range audit(t, w) {
		if e.Kind == ledger.KindPermission && e.Action == "refused" && e.Fields["rule"] == RuleApproval {
			refused++
		}
	}
	if refused != 2 {
		t.Fatalf("%d approval refusals in the ledger, want 2", refused)
	}
}

// TestWalletPolicyChangeNeedsThePassphraseTyped: showing the policy needs
// nothing; changing it needs the approver's passphrase every time, so a
// headless session (the process the policy limits, an agent's run) cannot
// loosen it, nor can a wrong passphrase or a bare "yes".
func TestWalletPolicyChangeNeedsThePassphraseTyped(t *testing.T) {
	w := sealed(t, testWallet(t))
	ctx := context.Background()
	if err := w.setPolicy(Policy{Limits: map[string]Limit{"ETH": {PerDay: "0.1"}}}, "test"); err != nil {
		t.Fatal(err)
	}
	reset := PolicyEdit{Reset: true}
	var shown []string
	sessions := []struct {
		name   string
		s      *Session
		reason string // "" = changed
	}{
		{"headless", w.NewSession(SessionConfig{Caller: "cli", Approver: typing(testPassphrase, &shown)}), "no human is present"},
		{"a bare yes", w.NewSession(SessionConfig{Caller: "cli", Approver: typing("y", &shown), Interactive: true}), "wrong"},
		{"declined", w.NewSession(SessionConfig{Caller: "cli", Approver: typing("", &shown), Interactive: true}), "declined"},
		{"typed", w.NewSession(SessionConfig{Caller: "cli", Approver: typing(testPassphrase, &shown), Interactive: true}), ""},
	}
	for _, tt := range sessions {
		if _, err := tt.s.EditPolicy(ctx, PolicyEdit{}); err != nil {
			t.Fatalf("%s: showing the policy: %v", tt.name, err)
		}
		_, err := tt.s.EditPolicy(ctx, reset)
		p, lerr := w.LoadPolicy()
		if lerr != nil {
			t.Fatal(lerr)
		}
		changed := len(p.Limits) == 0
		switch {
		case tt.reason == "" && (err != nil || !changed):
			t.Errorf("%s: %v, policy now %v", tt.name, err, p)
		case tt.reason != "" && (changed || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.reason)):
			t.Errorf("%s: %v, policy now %v; want a refusal saying %q", tt.name, err, p, tt.reason)
		}
	}
	// The headless session never reached the approver; the others were
	// shown the policy before and after.
	if len(shown) != 3 || !strings.Contains(shown[0], "Now:\n  ETH") || !strings.Contains(shown[0], "After:\n") {
		t.Fatalf("approver shown %q", shown)
	}
	refused, changed := 0, 0
	for _, e := range audit(t, w) {
		switch {
		case e.Action == "refused" && e.Fields["rule"] == RuleApproval:
			refused++
		case e.Action == "policy-changed":
			changed++
		}
	}
	if refused != 3 || changed != 2 {
		t.Fatalf("ledger: %d refusals, %d changes; want 3 and 2 (setup + typed)", refused, changed)
	}
}
