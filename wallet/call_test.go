package wallet_test

import (
	"context"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/wallet"
	"github.com/sovos/sov/wallet/wallettest"
)

func TestParseCallRule(t *testing.T) {
	const c = "0x00000000000000000000000000000000000000a1"
	for _, tc := range []struct {
		in, net, sel, err string
	}{
		{in: "anvil:" + c + ":0x095ea7b3", net: "anvil", sel: "0x095ea7b3"},
		{in: "eip155:1:" + c + ":0x095EA7B3", net: "eip155:1", sel: "0x095ea7b3"},
		{in: c + ":0x095ea7b3", err: "NETWORK:0xCONTRACT:0xSELECTOR"},
		{in: "anvil:0x12:0x095ea7b3", err: "anvil:0x12"},
		{in: "anvil:" + c + ":0x095ea7", err: "8 hex digits"},
		{in: "anvil:" + c + ":0xzzzzzzzz", err: "8 hex digits"},
		{in: "", err: "NETWORK:0xCONTRACT:0xSELECTOR"},
	} {
		r, err := wallet.ParseCallRule(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || r.Network != tc.net || r.Selector != tc.sel || !strings.EqualFold(r.Contract.Hex(), c) {
			t.Errorf("%q: %+v %v", tc.in, r, err)
		}
	}
}

// callData is the ABI encoding of selector(address, uint256).
func callData(selector string, addr wallet.EVMAddress, v int64) []byte {
	sel, _ := hex.DecodeString(strings.TrimPrefix(selector, "0x"))
	out := append([]byte(nil), sel...)
	out = append(out, make([]byte, 12)...)
	out = append(out, addr[:]...)
	return append(out, new(big.Int).SetInt64(v).FillBytes(make([]byte, 32))...)
}

// TestWalletAnvilContractCall: a contract call on anvil (the test token's
// approve) through PlanCall → Execute: the summary names contract,
// selector, digest and network; a call always needs a person unless the
// policy allow-lists it; a grant calls only what its limits name; a call
// the node would revert is refused before signing, with its reason; the
// fee cap holds; the ledger keeps the selector and digest, not calldata.
func TestWalletAnvilContractCall(t *testing.T) {
	aw := wallettest.NewAnvilWallet(t)
	ctx := context.Background()
	token, err := wallet.ParseEVMAddress(aw.Token)
	if err != nil {
		t.Fatal(err)
	}
	me, _ := wallet.ParseEVMAddress(aw.Me.EVM)
	spender, _ := wallet.ParseEVMAddress("0x00000000000000000000000000000000000000B2")
	approve := func(v int64) wallet.Call {
		return wallet.Call{Network: "anvil", To: token, Data: callData("0x095ea7b3", spender, v), Summary: "approve\x1b[31m the\nspender"}
	}
	var asked []string
	person := func(_ context.Context, summary, why string) ([]byte, error) {
		asked = append(asked, summary+" | "+why)
		return []byte(wallettest.Pass), nil
	}
	user := aw.Wallet.NewSession(wallet.SessionConfig{Caller: "cli", Networks: aw.Networks, Unlock: aw.Unlock(), Approver: person, Interactive: true})
	headless := aw.Wallet.NewSession(wallet.SessionConfig{Caller: "cron", Networks: aw.Networks, Unlock: aw.Unlock()})
	allowance := func() int64 {
		t.Helper()
		e, err := wallet.DialEVM(ctx, aw.Networks[0])
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		data := callData("0xdd62ed3e", me, 0)[:36]
		data = append(data, make([]byte, 12)...)
		data = append(data, spender[:]...)
		out, err := e.Backend.CallContract(ctx, wallet.EVMCallMsg{To: &token, Data: data}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return new(big.Int).SetBytes(out).Int64()
	}
	run := func(t *testing.T, s interface {
		Execute(context.Context, *wallet.Plan) (wallet.LedgerEntry, error)
	}, c wallet.Call) (wallet.LedgerEntry, error) {
		t.Helper()
		p, err := user.PlanCall(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		entry, err := s.Execute(ctx, p)
		if err == nil {
			if entry, err = user.Follow(ctx, entry); err != nil {
				t.Fatal(err)
			}
		}
		return entry, err
	}
	setPolicy := func(t *testing.T, e wallet.PolicyEdit) {
		t.Helper()
		if _, err := user.EditPolicy(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	rule := "anvil:" + token.Hex() + ":0x095ea7b3"

	t.Run("summary", func(t *testing.T) {
		p, err := user.PlanCall(ctx, approve(1))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		s := p.Summary()
		for _, want := range []string{"Call contract " + token.Hex(), "function 0x095ea7b3", "on anvil (eip155:31337)", `"approve the spender"`, "calldata sha256 ", "network fee at most "} {
			if !strings.Contains(s, want) {
				t.Errorf("summary %q lacks %q", s, want)
			}
		}
		if strings.ContainsAny(s, "\x1b\n") || p.Kind() != wallet.KindCall {
			t.Errorf("summary %q kind %q", s, p.Kind())
		}
	})

	t.Run("headless refused", func(t *testing.T) {
		_, err := run(t, headless, approve(5))
		var r *wallet.RefusedError
		if !errors.As(err, &r) || r.Rule != wallet.RuleApproval || !r.Headless || r.Call != rule {
			t.Fatalf("err %v (%+v), want a headless approval refusal naming %s", err, r, rule)
		}
		if allowance() != 0 {
			t.Fatal("a refused call reached the chain")
		}
	})

	t.Run("approved by the person", func(t *testing.T) {
		asked = nil
		entry, err := run(t, user, approve(7))
		if err != nil {
			t.Fatal(err)
		}
		if len(asked) != 1 || !strings.Contains(asked[0], "function 0x095ea7b3") || !strings.Contains(asked[0], "contract call needs the user's approval") {
			t.Fatalf("asked %q", asked)
		}
		if entry.Status != "confirmed" || entry.Kind != wallet.KindCall || allowance() != 7 {
			t.Fatalf("entry %+v, allowance %d", entry, allowance())
		}
		es, _ := aw.Ledger.Entries()
		var found bool
		for _, e := range es {
			if e.Kind == ledger.KindPayment && e.Fields["tx"] == entry.Hash {
				found = true
				if e.Fields["request"] != wallet.KindCall || e.Fields["selector"] != "0x095ea7b3" || len(e.Fields["data_sha256"].(string)) != 64 {
					t.Fatalf("ledger fields %v", e.Fields)
				}
			}
			if strings.Contains(strings.ToLower(string(e.Line)), strings.ToLower(spender.Hex()[2:])) {
				t.Fatalf("the ledger holds calldata: %s", e.Line)
			}
		}
		if !found {
			t.Fatal("no ledger entry for the call")
		}
	})

	t.Run("allow-listed goes through headless", func(t *testing.T) {
		setPolicy(t, wallet.PolicyEdit{AllowCall: []string{rule}})
		asked = nil
		if _, err := run(t, headless, approve(9)); err != nil {
			t.Fatal(err)
		}
		if allowance() != 9 || len(asked) != 0 {
			t.Fatalf("allowance %d, asked %q", allowance(), asked)
		}
		// another selector of the same contract still needs a person
		other := wallet.Call{Network: "anvil", To: token, Data: callData("0xa9059cbb", spender, 1)}
		var r *wallet.RefusedError
		if _, err := run(t, headless, other); !errors.As(err, &r) || r.Rule != wallet.RuleApproval {
			t.Fatalf("transfer call: %v", err)
		}
	})

	t.Run("grant needs the call named", func(t *testing.T) {
		g, err := headless.Grant("agent:dao", wallet.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		var r *wallet.RefusedError
		if _, err := run(t, g, approve(11)); !errors.As(err, &r) || r.Rule != wallet.RuleGrant {
			t.Fatalf("grant without calls: %v", err)
		}
		g2, err := headless.Grant("agent:dao", wallet.Limits{Calls: []string{rule}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := run(t, g2, approve(12)); err != nil || allowance() != 12 {
			t.Fatalf("grant naming the call: %v, allowance %d", err, allowance())
		}
		if _, err := headless.Grant("agent:x", wallet.Limits{Calls: []string{"anvil:nope"}}); err == nil {
			t.Fatal("a malformed call rule was accepted in a grant")
		}
	})

	t.Run("revert refused before signing", func(t *testing.T) {
		before, _ := aw.Wallet.Ledger()
		// transferFrom(me, spender, 1) from me: no allowance of my own
		data := callData("0x23b872dd", me, 0)[:36]
		data = append(data, make([]byte, 12)...)
		data = append(data, spender[:]...)
		data = append(data, new(big.Int).SetInt64(1).FillBytes(make([]byte, 32))...)
		_, err := user.PlanCall(ctx, wallet.Call{Network: "anvil", To: token, Data: data})
		var re *wallet.RevertError
		if !errors.As(err, &re) || !strings.Contains(re.Reason, "ERC20: insufficient allowance") {
			t.Fatalf("err %v, want the revert reason", err)
		}
		after, _ := aw.Wallet.Ledger()
		if len(after) != len(before) {
			t.Fatal("a reverting call was recorded as sent")
		}
	})

	t.Run("fee cap", func(t *testing.T) {
		setPolicy(t, wallet.PolicyEdit{Asset: "ETH", MaxFee: "0.000000001"})
		defer setPolicy(t, wallet.PolicyEdit{Asset: "ETH", MaxFee: "none"})
		var r *wallet.RefusedError
		if _, err := run(t, user, approve(13)); !errors.As(err, &r) || r.Rule != wallet.RuleMaxFee {
			t.Fatalf("err %v, want the fee cap", err)
		}
	})

	t.Run("bad calls", func(t *testing.T) {
		for _, c := range []wallet.Call{
			{Network: "anvil", To: token, Data: []byte{1, 2}},
			{Network: "anvil", To: token, Data: approve(1).Data, Value: big.NewInt(1)},
			{Network: "anvil", Data: approve(1).Data},
			{To: token, Data: approve(1).Data},
		} {
			if _, err := user.PlanCall(ctx, c); !errors.Is(err, wallet.ErrInvalidCall) {
				t.Errorf("%+v: %v", c, err)
			}
		}
		var un *wallet.UnknownNetworkError
		if _, err := user.PlanCall(ctx, wallet.Call{Network: "nowhere", To: token, Data: approve(1).Data}); !errors.As(err, &un) {
			t.Errorf("unknown network: %v", err)
		}
	})
}
