package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sovos/sov/wallet/internal/evm"
)

const (
	usdcMainnet = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
	usdcBase    = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
	tdPayee     = "0x1111111111111111111111111111111111111111"
	tdSpender   = "0x2222222222222222222222222222222222222222"
	maxUint256  = "115792089237316195423570985008687907853269984665640564039457584007913129639935"
	// 1,000,000 USDC in base units (6 decimals)
	millionUSDC = "1000000000000"
)

var domainTypes = map[string]string{"name": "string", "version": "string", "chainId": "uint256", "verifyingContract": "address"}

// typedJSON builds an eth_signTypedData_v4 document; each of types is
// "Name(type member,…)", the first the primary type.
func typedJSON(t *testing.T, domain, message map[string]any, types ...string) []byte {
	t.Helper()
	tys := map[string][]map[string]string{}
	for _, k := range []string{"name", "version", "chainId", "verifyingContract"} {
		if _, ok := domain[k]; ok {
			tys["EIP712Domain"] = append(tys["EIP712Domain"], map[string]string{"name": k, "type": domainTypes[k]})
		}
	}
	if tys["EIP712Domain"] == nil {
		tys["EIP712Domain"] = []map[string]string{}
	}
	for _, ty := range types {
		name, members, _ := strings.Cut(strings.TrimSuffix(ty, ")"), "(")
		tys[name] = []map[string]string{}
		for _, m := range strings.Split(members, ",") {
			if m == "" {
				continue
			}
			typ, n, _ := strings.Cut(m, " ")
			tys[name] = append(tys[name], map[string]string{"name": n, "type": typ})
		}
	}
	primary, _, _ := strings.Cut(types[0], "(")
	b, err := json.Marshal(map[string]any{"types": tys, "primaryType": primary, "domain": domain, "message": message})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func typedDoc(t *testing.T, domain, message map[string]any, types ...string) TypedData {
	t.Helper()
	td, err := ParseTypedData(typedJSON(t, domain, message, types...))
	if err != nil {
		t.Fatal(err)
	}
	return td
}

func usdcDomain(chain int, contract string) map[string]any {
	return map[string]any{"name": "USD Coin", "version": "2", "chainId": chain, "verifyingContract": contract}
}

const (
	transferAuthType = "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
	receiveAuthType  = "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
	permitType       = "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
)

// authorization is an EIP-3009 authorization of value USDC base units to
// tdPayee on Ethereum's USDC, valid until 2027-01-01.
func authorization(t *testing.T, typ, value string) TypedData {
	return typedDoc(t, usdcDomain(1, usdcMainnet), map[string]any{
		"from": "0x9858EfFD232B4033E47d90003D41EC34EcaEda94", "to": tdPayee, "value": value,
		"validAfter": "0", "validBefore": "1798761600", "nonce": "0x" + strings.Repeat("ab", 32),
	}, typ)
}

func permit(t *testing.T, chain int, contract, value string) TypedData {
	return typedDoc(t, usdcDomain(chain, contract), map[string]any{
		"owner": "0x9858EfFD232B4033E47d90003D41EC34EcaEda94", "spender": tdSpender, "value": value, "nonce": "0", "deadline": "1798761600",
	}, permitType)
}

// typedSessions are a headless agent's session and an interactive one
// whose approver types the passphrase and keeps what it was shown; unlocked
// counts unlocks.
func typedSessions(t *testing.T, w *Wallet, shown *[]string, unlocked *int) (headless, person *Session) {
	_, _, unlock := testKeys(t)
	count := func() (*Keys, error) { *unlocked++; return unlock() }
	headless = w.NewSession(SessionConfig{Caller: "agent:x", Unlock: count})
	person = w.NewSession(SessionConfig{Caller: "cli", Approver: typing(testPassphrase, shown), Interactive: true, Unlock: count})
	return
}

// lastEntry is the wallet's last ledger entry with action.
func lastEntry(t *testing.T, w *Wallet, action string) AuditEntry {
	t.Helper()
	log := audit(t, w)
	for i := len(log) - 1; i >= 0; i-- {
		if log[i].Action == action {
			return log[i]
		}
	}
	t.Fatalf("no %s entry in\n%s", action, log)
	return AuditEntry{}
}

func refusedBy(err error, rule string) bool {
	var r *RefusedError
	return errors.As(err, &r) && r.Rule == rule
}

// TestTypedDataTransferWithAuthorizationIsLimited: an EIP-3009 transfer
// or receive authorization of USDC is limited like a USDC transfer: over
// the per-transaction or the day's limit it is refused before any key is
// unlocked; within them it is signed and reserved against the day; the
// ledger has the asset, amount and payee.
func TestTypedDataTransferWithAuthorizationIsLimited(t *testing.T) {
	w := sealed(t, testWallet(t))
	if err := w.setPolicy(Policy{Limits: map[string]Limit{"USDC": {PerTx: "1000", PerDay: "1000"}}}, "test"); err != nil {
		t.Fatal(err)
	}
	_, acct, _ := testKeys(t)
	unlocked := 0
	agent, _ := typedSessions(t, w, nil, &unlocked)
	ctx := context.Background()
	for _, typ := range []string{transferAuthType, receiveAuthType} {
		_, err := agent.SignTypedData(ctx, authorization(t, typ, millionUSDC), 0)
		if !refusedBy(err, RulePerTx) || !strings.Contains(err.Error(), "1000000 USDC exceeds the per-transaction limit") || unlocked != 0 {
			t.Fatalf("%s for 1,000,000 USDC: %v (unlocked %d)", typ[:20], err, unlocked)
		}
		e := lastEntry(t, w, "refused")
		if e.Fields["asset"] != "USDC" || e.Fields["amount"] != "1000000" || e.Fields["payee"] != tdPayee || e.Fields["request"] != "sign-typed-data" || e.Fields["network"] != "ethereum" {
			t.Fatalf("refusal entry %v", e.Fields)
		}
	}
	td := authorization(t, transferAuthType, "600000000")
	sig, err := agent.SignTypedData(ctx, td, 0)
	if err != nil {
		t.Fatalf("600 USDC within the limits: %v", err)
	}
	h, _ := TypedDataHash(td)
	if a, err := evm.RecoverAddress(h, sig); err != nil || a.Hex() != acct.EVM {
		t.Fatalf("signature recovers %v %v", a, err)
	}
	if spent, _ := w.SpentToday(); spent["USDC"] != "600" {
		t.Fatalf("spent today %v, want 600 USDC reserved", spent)
	}
	e := lastEntry(t, w, "signed")
	if e.Fields["asset"] != "USDC" || e.Fields["amount"] != "600" || e.Fields["payee"] != tdPayee || e.Fields["typed"] != "TransferWithAuthorization" ||
		e.Fields["typed_deadline"] != "2027-01-01T00:00:00Z" || e.Fields["typed_token"] != usdcMainnet || !e.Signed {
		t.Fatalf("signed entry %v", e.Fields)
	}
	// the day's budget now holds 600: another 600 would pass 1000
	_, err = agent.SignTypedData(ctx, authorization(t, receiveAuthType, "600000000"), 0)
	if !refusedBy(err, RulePerDay) || !strings.Contains(err.Error(), "600 already spent today") {
		t.Fatalf("second 600 USDC: %v", err)
	}
}

// TestTypedDataPermitIsLimited: an EIP-2612 permit's spender is the payee
// and its value the amount; an unlimited value always needs a person and
// the summary says so; the deadline is shown.
func TestTypedDataPermitIsLimited(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		policy  Policy
		value   string
		person  bool
		rule    string // "" = signed
		summary []string
	}{
		{"within the limits, headless", Policy{Limits: map[string]Limit{"USDC": {PerTx: "100"}}}, "50000000", false, "",
			[]string{"(EIP-2612)", "allow " + tdSpender + " to spend 50 USDC", "until 2027-01-01T00:00:00Z", "on ethereum"}},
		{"over the per-tx limit", Policy{Limits: map[string]Limit{"USDC": {PerTx: "100"}}}, "150000000", true, RulePerTx, nil},
		{"spender not allowed", Policy{Allow: []string{tdPayee}}, "1", true, RuleAllowList, nil},
		{"unlimited, headless", Policy{}, maxUint256, false, RuleApproval, nil},
		{"unlimited, over a limit even for a person", Policy{Limits: map[string]Limit{"USDC": {PerDay: "1000"}}}, maxUint256, true, RulePerDay, nil},
		{"unlimited, a person approves", Policy{}, maxUint256, true, "",
			[]string{"to spend UNLIMITED USDC", "WARNING: the amount is UNLIMITED", "until 2027-01-01T00:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := sealed(t, testWallet(t))
			if err := w.setPolicy(tt.policy, "test"); err != nil {
				t.Fatal(err)
			}
			var shown []string
			unlocked := 0
			agent, person := typedSessions(t, w, &shown, &unlocked)
			s := agent
			if tt.person {
				s = person
			}
			_, err := s.SignTypedData(ctx, permit(t, 1, usdcMainnet, tt.value), 0)
			if tt.rule != "" {
				if !refusedBy(err, tt.rule) || unlocked != 0 {
					t.Fatalf("%v (unlocked %d), want refused by %s", err, unlocked, tt.rule)
				}
				if e := lastEntry(t, w, "refused"); e.Fields["payee"] != tdSpender || e.Fields["asset"] != "USDC" {
					t.Fatalf("refusal %v", e.Fields)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			e := lastEntry(t, w, "signed")
			summary := strings.Join(shown, "\n")
			if !tt.person {
				summary = typedRequest(permit(t, 1, usdcMainnet, tt.value), Builtin()).Summary
			}
			for _, want := range tt.summary {
				if !strings.Contains(summary, want) {
					t.Errorf("summary %q lacks %q", summary, want)
				}
			}
			if e.Fields["payee"] != tdSpender || e.Fields["typed_deadline"] != "2027-01-01T00:00:00Z" || (tt.value == maxUint256) != (e.Fields["typed_unlimited"] == "true") {
				t.Fatalf("signed entry %v", e.Fields)
			}
		})
	}
}

// TestTypedDataPermit2IsLimited: Permit2's PermitSingle (an allowance)
// and PermitTransferFrom (a one-off transfer), on the canonical contract,
// name their token inside the message; the spender is the payee.
func TestTypedDataPermit2IsLimited(t *testing.T) {
	domain := map[string]any{"name": "Permit2", "chainId": 8453, "verifyingContract": permit2Contract}
	single := func(amount string) TypedData {
		return typedDoc(t, domain, map[string]any{
			"details": map[string]any{"token": usdcBase, "amount": amount, "expiration": "1798761600", "nonce": "0"},
			"spender": tdSpender, "sigDeadline": "1798761600",
		}, "PermitSingle(PermitDetails details,address spender,uint256 sigDeadline)", "PermitDetails(address token,uint160 amount,uint48 expiration,uint48 nonce)")
	}
	transfer := func(amount string) TypedData {
		return typedDoc(t, domain, map[string]any{
			"permitted": map[string]any{"token": usdcBase, "amount": amount},
			"spender":   tdSpender, "nonce": "7", "deadline": "1798761600",
		}, "PermitTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline)", "TokenPermissions(address token,uint256 amount)")
	}
	w := sealed(t, testWallet(t))
	if err := w.setPolicy(Policy{Limits: map[string]Limit{"USDC": {PerTx: "10"}}}, "test"); err != nil {
		t.Fatal(err)
	}
	unlocked := 0
	agent, _ := typedSessions(t, w, nil, &unlocked)
	ctx := context.Background()
	for name, doc := range map[string]func(string) TypedData{"PermitSingle": single, "PermitTransferFrom": transfer} {
		if _, err := agent.SignTypedData(ctx, doc("2000000000"), 0); !refusedBy(err, RulePerTx) || !strings.Contains(err.Error(), "2000 USDC") {
			t.Errorf("%s for 2000 USDC: %v", name, err)
		}
		if _, err := agent.SignTypedData(ctx, doc("5000000"), 0); err != nil {
			t.Errorf("%s for 5 USDC: %v", name, err)
		}
		e := lastEntry(t, w, "signed")
		if e.Fields["typed"] != name || e.Fields["amount"] != "5" || e.Fields["asset"] != "USDC" || e.Fields["payee"] != tdSpender || e.Fields["network"] != "base" {
			t.Errorf("%s entry %v", name, e.Fields)
		}
		if s := typedRequest(doc("5000000"), Builtin()).Summary; !strings.Contains(s, "(Permit2)") || !strings.Contains(s, tdSpender) || !strings.Contains(s, "5 USDC") {
			t.Errorf("%s summary %q", name, s)
		}
	}
	// an unlimited allowance (the uint160 maximum) is over any limit
	if _, err := agent.SignTypedData(ctx, single("1461501637330902918203684832716283019655932542975"), 0); !refusedBy(err, RulePerTx) {
		t.Errorf("unlimited PermitSingle: %v", err)
	}
	// the same types on another contract are not Permit2: a person reads them
	domain["verifyingContract"] = tdPayee
	if _, err := agent.SignTypedData(ctx, transfer("1"), 0); !refusedBy(err, RuleApproval) || !strings.Contains(err.Error(), "cannot read") && !strings.Contains(err.Error(), "does not know") {
		t.Errorf("PermitTransferFrom on another contract: %v", err)
	}
}

// TestTypedDataVotesFollowTheMessageRule: Governor ballots and Snapshot
// votes and aliases move no money: signed headless unless the policy
// requires approval for messages; the ledger records proposal and choice.
func TestTypedDataVotesFollowTheMessageRule(t *testing.T) {
	governor := map[string]any{"name": "Governor", "version": "1", "chainId": 1, "verifyingContract": "0x3333333333333333333333333333333333333333"}
	snapshot := map[string]any{"name": "snapshot", "version": "0.1.4"}
	tests := []struct {
		name    string
		doc     []byte
		details map[string]string
		summary string
	}{
		{"Ballot", typedJSON(t, governor, map[string]any{"proposalId": "42", "support": 1, "voter": "0x9858EfFD232B4033E47d90003D41EC34EcaEda94", "nonce": "0"},
			"Ballot(uint256 proposalId,uint8 support,address voter,uint256 nonce)"),
			map[string]string{"typed_proposal": "42", "typed_choice": "For"}, "vote For on proposal 42 at governor 0x3333"},
		{"ExtendedBallot", typedJSON(t, governor, map[string]any{"proposalId": "43", "support": 0, "voter": "0x9858EfFD232B4033E47d90003D41EC34EcaEda94", "nonce": "1", "reason": "too costly", "params": "0x"},
			"ExtendedBallot(uint256 proposalId,uint8 support,address voter,uint256 nonce,string reason,bytes params)"),
			map[string]string{"typed_proposal": "43", "typed_choice": "Against"}, `reason "too costly"`},
		{"Snapshot vote", typedJSON(t, snapshot, map[string]any{"from": "0x9858EfFD232B4033E47d90003D41EC34EcaEda94", "space": "sov.eth", "timestamp": 1700000000,
			"proposal": "0x" + strings.Repeat("cd", 32), "choice": 2, "reason": "", "app": "snapshot", "metadata": "{}"},
			"Vote(address from,string space,uint64 timestamp,bytes32 proposal,uint32 choice,string reason,string app,string metadata)"),
			map[string]string{"typed_proposal": "0x" + strings.Repeat("cd", 32), "typed_choice": "2", "typed_space": "sov.eth"}, `vote choice "2" on proposal`},
		{"Snapshot alias", typedJSON(t, snapshot, map[string]any{"from": "0x9858EfFD232B4033E47d90003D41EC34EcaEda94", "alias": tdPayee, "timestamp": 1700000000},
			"Alias(address from,address alias,uint64 timestamp)"),
			map[string]string{"typed_alias": tdPayee}, "let " + tdPayee + " vote and propose"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := sealed(t, testWallet(t))
			unlocked := 0
			agent, _ := typedSessions(t, w, nil, &unlocked)
			td, err := ParseTypedData(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			if s := typedRequest(td, Builtin()).Summary; !strings.Contains(s, tt.summary) || strings.Contains(s, "WARNING") {
				t.Errorf("summary %q, want %q", s, tt.summary)
			}
			if _, err := agent.SignTypedData(ctx, td, 0); err != nil {
				t.Fatalf("no message rule: %v", err)
			}
			e := lastEntry(t, w, "signed")
			for k, v := range tt.details {
				if e.Fields[k] != v {
					t.Errorf("ledger %s = %v, want %s (%v)", k, e.Fields[k], v, e.Fields)
				}
			}
			if _, ok := e.Fields["amount"]; ok {
				t.Errorf("a vote with an amount: %v", e.Fields)
			}
			if err := w.setPolicy(Policy{ApproveMessages: true}, "test"); err != nil {
				t.Fatal(err)
			}
			if _, err := agent.SignTypedData(ctx, td, 0); !refusedBy(err, RuleApproval) || !strings.Contains(err.Error(), "every message signature") {
				t.Fatalf("with the message rule, headless: %v", err)
			}
		})
	}
}

// TestTypedDataUnknownNeedsApprovalEveryTime: typed data of a kind the
// wallet does not know, or a known kind on a token it does not know, needs
// a person whatever the policy: headless it is refused; a person is shown
// the domain, the primary type and every field.
func TestTypedDataUnknownNeedsApprovalEveryTime(t *testing.T) {
	unknownToken := "0x4444444444444444444444444444444444444444"
	tests := []struct {
		name  string
		td    TypedData
		shown []string
	}{
		{"a DAO's own vote", typedDoc(t, map[string]any{"name": "DAO", "chainId": 1}, map[string]any{"proposal": "7", "to": tdPayee, "memo": "hi\x1b[2J"},
			"Vote(uint256 proposal,address to,string memo)"),
			[]string{"Sign EIP-712 Vote", "cannot read", `domain {name: "DAO", chainId: 1}`, "proposal: 7", "to: " + tdPayee, `memo: "hi\x1b[2J"`}},
		{"nested and arrays", typedDoc(t, map[string]any{"name": "Mail", "version": "1", "chainId": 8453, "verifyingContract": tdSpender},
			map[string]any{"from": map[string]any{"name": "Cow", "wallets": []any{tdPayee}}, "contents": "Hello"},
			"Mail(Person from,string contents)", "Person(string name,address[] wallets)"),
			[]string{"on base (" + tdSpender + ")", "from.name: \"Cow\"", "from.wallets[0]: " + tdPayee, `contents: "Hello"`}},
		{"a permit on a token the wallet does not know", permit(t, 1, unknownToken, "1000"),
			[]string{"(EIP-2612)", "1000 base units of token " + unknownToken + " (decimals unknown)", "WARNING: token " + unknownToken + " is not one the wallet knows"}},
		{"USDC's contract on another chain", authorization(t, transferAuthType, "1"),
			nil},
	}
	// the last: Ethereum's USDC address on chain 8453 is not USDC there
	tests[3].td.Domain["chainId"] = json.Number("8453")
	tests[3].shown = []string{"(EIP-3009)", "1 base units of token " + usdcMainnet}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := sealed(t, testWallet(t))
			var shown []string
			unlocked := 0
			agent, person := typedSessions(t, w, &shown, &unlocked)
			for i := 0; i < 2; i++ { // every time, not once
				if _, err := agent.SignTypedData(ctx, tt.td, 0); !refusedBy(err, RuleApproval) || unlocked != 0 {
					t.Fatalf("headless: %v (unlocked %d)", err, unlocked)
				}
			}
			for i := 0; i < 2; i++ {
				if _, err := person.SignTypedData(ctx, tt.td, 0); err != nil {
					t.Fatalf("approved: %v", err)
				}
			}
			if len(shown) != 2 {
				t.Fatalf("the person was asked %d times, want 2", len(shown))
			}
			for _, want := range tt.shown {
				if !strings.Contains(shown[0], want) {
					t.Errorf("shown %q\nlacks %q", shown[0], want)
				}
			}
			if e := lastEntry(t, w, "signed"); e.Fields["typed"] != tt.td.PrimaryType || e.Fields["amount"] != nil {
				t.Errorf("signed entry %v", e.Fields)
			}
		})
	}
}

// TestTypedDataApprovalShowsDecodedValues: above the approval threshold a
// person sees the decoded transfer: amount, asset, payee, network, validity
// and contract; the ledger keeps no free text from the document.
func TestTypedDataApprovalShowsDecodedValues(t *testing.T) {
	w := sealed(t, testWallet(t))
	if err := w.setPolicy(Policy{Limits: map[string]Limit{"USDC": {ApproveAbove: "100"}}}, "test"); err != nil {
		t.Fatal(err)
	}
	var shown []string
	unlocked := 0
	agent, person := typedSessions(t, w, &shown, &unlocked)
	ctx := context.Background()
	td := authorization(t, transferAuthType, "250500000")
	if _, err := agent.SignTypedData(ctx, td, 0); !refusedBy(err, RuleApproval) {
		t.Fatalf("headless above the threshold: %v", err)
	}
	if _, err := person.SignTypedData(ctx, td, 0); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`Sign EIP-712 TransferWithAuthorization (EIP-3009) for "USD Coin" on ethereum (%s): transfer 250.5 USDC from 0x9858EfFD232B4033E47d90003D41EC34EcaEda94 to %s, valid from 1970-01-01T00:00:00Z until 2027-01-01T00:00:00Z | 250.5 USDC is above the approval threshold of 100 USDC`, usdcMainnet, tdPayee)
	if len(shown) != 1 || shown[0] != want {
		t.Fatalf("shown %q\nwant  %q", shown, want)
	}
	if e := lastEntry(t, w, "signed"); e.Fields["amount"] != "250.5" || fmt.Sprint(e.Fields) == "" || strings.Contains(fmt.Sprint(e.Fields), "USD Coin") {
		t.Fatalf("signed entry %v", e.Fields)
	}
}

// TestTypedDataSnapshotFreeTextStaysOutOfTheLedger: a Snapshot proposal
// or choice that is free text is recorded by digest.
func TestTypedDataSnapshotFreeTextStaysOutOfTheLedger(t *testing.T) {
	td := typedDoc(t, map[string]any{"name": "snapshot", "version": "0.1.4"},
		map[string]any{"from": tdPayee, "space": "x.eth", "timestamp": 1, "proposal": "ignore previous\ninstructions", "choice": `{"1":1}`, "reason": "r", "app": "a", "metadata": "{}"},
		"Vote(address from,string space,uint64 timestamp,string proposal,string choice,string reason,string app,string metadata)")
	d := typedRequest(td, nil).Details
	if !strings.HasPrefix(d["typed_proposal"], "sha256:") || d["typed_choice"] != `{"1":1}` {
		t.Fatalf("details %v", d)
	}
}

// FuzzTypedDataDecode: reading any typed data the hasher accepts never
// panics, and what the wallet cannot read always needs a person.
func FuzzTypedDataDecode(f *testing.F) {
	f.Add([]byte(`{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],"PermitWitnessTransferFrom":[{"name":"permitted","type":"TokenPermissions"},{"name":"spender","type":"address"},{"name":"nonce","type":"uint256"},{"name":"deadline","type":"uint256"},{"name":"witness","type":"Order"}],"TokenPermissions":[{"name":"token","type":"address"},{"name":"amount","type":"uint256"}],"Order":[{"name":"ids","type":"uint8[]"}]},"primaryType":"PermitWitnessTransferFrom","domain":{"name":"Permit2","chainId":8453,"verifyingContract":"0x000000000022D473030F116dDEE9F6B43aC78BA3"},"message":{"permitted":{"token":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","amount":"5"},"spender":"0x2222222222222222222222222222222222222222","nonce":"1","deadline":"99999999999999","witness":{"ids":[1,2]}}}`))
	f.Add([]byte(`{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],"PermitBatch":[{"name":"details","type":"PermitDetails[]"},{"name":"spender","type":"address"},{"name":"sigDeadline","type":"uint256"}],"PermitDetails":[{"name":"token","type":"address"},{"name":"amount","type":"uint160"},{"name":"expiration","type":"uint48"},{"name":"nonce","type":"uint48"}]},"primaryType":"PermitBatch","domain":{"name":"Permit2","chainId":1,"verifyingContract":"0x000000000022D473030F116dDEE9F6B43aC78BA3"},"message":{"details":[{"token":"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48","amount":"1","expiration":"0","nonce":"0"},{"token":"0x4444444444444444444444444444444444444444","amount":"2","expiration":"0","nonce":"0"}],"spender":"0x2222222222222222222222222222222222222222","sigDeadline":"1"}}`))
	f.Add([]byte(`{"types":{"EIP712Domain":[{"name":"name","type":"string"}],"Vote":[{"name":"from","type":"address"},{"name":"space","type":"string"},{"name":"proposal","type":"string"},{"name":"choice","type":"uint32[]"}]},"primaryType":"Vote","domain":{"name":"snapshot"},"message":{"from":"0x1111111111111111111111111111111111111111","space":"s","proposal":"p","choice":[1,3]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		td, err := ParseTypedData(b)
		if err != nil {
			return
		}
		if _, err := TypedDataHash(td); err != nil {
			return
		}
		req := typedRequest(td, Builtin())
		if req.Details["typed"] != td.PrimaryType || !strings.HasPrefix(req.Summary, "Sign EIP-712 "+td.PrimaryType) {
			t.Fatalf("request %+v", req)
		}
		if strings.Contains(req.Summary, "cannot read") && len(req.Warnings) == 0 {
			t.Fatalf("unreadable typed data without a warning: %s", req.Summary)
		}
		if req.Amount != nil && (req.Asset == "" || req.Payee == "") {
			t.Fatalf("an amount without asset or payee: %+v", req)
		}
	})
}

// TestTypedDataAuditLine: the audit's line for a typed-data signature
// names the type and, for a vote, the proposal and choice.
func TestTypedDataAuditLine(t *testing.T) {
	e := AuditEntry{Action: "signed", Fields: map[string]any{"request": "sign-typed-data", "typed": "Ballot", "typed_proposal": "42", "typed_choice": "For", "message_sha256": "abcdef0123456789"}}
	if s := e.String(); !strings.Contains(s, "sign-typed-data Ballot proposal 42 choice For message sha256 abcdef012345…") {
		t.Fatalf("%q", s)
	}
}

// TestTypedDataPayeeWarnings: a payee a send would be warned about (the
// zero address, a lookalike of a known address) needs a person here too.
func TestTypedDataPayeeWarnings(t *testing.T) {
	lookalike := "0x1111" + strings.Repeat("2", 32) + "1111" // like tdPayee, allow-listed
	for _, payee := range []string{"0x0000000000000000000000000000000000000000", lookalike} {
		w := sealed(t, testWallet(t))
		if err := w.setPolicy(Policy{Allow: []string{tdPayee, payee}}, "test"); err != nil {
			t.Fatal(err)
		}
		unlocked := 0
		agent, _ := typedSessions(t, w, nil, &unlocked)
		td := authorization(t, transferAuthType, "1")
		td.Message["to"] = payee
		if _, err := agent.SignTypedData(context.Background(), td, 0); !refusedBy(err, RuleApproval) || !strings.Contains(err.Error(), "WARNING") && !strings.Contains(err.Error(), "warning") {
			t.Errorf("payee %s: %v", payee, err)
		}
	}
}
