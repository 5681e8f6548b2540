package wallet

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/internal/config"
	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/internal/seal"
)

// The API front ends (the CLI, the shell) build on: word checks, the
// passphrase asked only when needed, message signing, text forms, typed
// refusals, the config file and balances.

func TestWalletConfirmMnemonic(t *testing.T) {
	words := strings.Fields(abandonMnemonic)
	right := func(pos int) (string, error) { return "  " + strings.ToUpper(words[pos-1]) + " ", nil }
	tests := []struct {
		name      string
		answer    func(pos int) (string, error)
		wantAsked int
		wantErr   func(error) bool
	}{
		{"right words, any case and spacing", right, 3, func(err error) bool { return err == nil }},
		{"a wrong word stops at once", func(int) (string, error) { return "zoo", nil }, 1, func(err error) bool {
			var m *WordMismatchError
			return errors.As(err, &m) && m.Position >= 1 && m.Position <= 12
		}},
		{"the reader fails", func(int) (string, error) { return "", errors.New("eof") }, 1, func(err error) bool { return err != nil && err.Error() == "eof" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[int]bool{}
			err := ConfirmMnemonic(abandonMnemonic, 3, func(pos int) (string, error) {
				if seen[pos] {
					t.Errorf("position %d asked twice", pos)
				}
				seen[pos] = true
				return tt.answer(pos)
			})
			if !tt.wantErr(err) || len(seen) != tt.wantAsked {
				t.Fatalf("err %v after %d questions", err, len(seen))
			}
		})
	}
	// "about" is only at position 12: a user answering "abandon" everywhere
	// is caught as soon as position 12 comes up, never let through.
	for range 20 {
		err := ConfirmMnemonic(abandonMnemonic, 12, func(int) (string, error) { return "abandon", nil })
		var m *WordMismatchError
		if !errors.As(err, &m) || m.Position != 12 {
			t.Fatalf("12 checks with a wrong last word: %v", err)
		}
	}
}

func TestWalletPassphraseIsAskedOnlyWhenNeeded(t *testing.T) {
	st := OpenStore(t.TempDir(), WithKDF(func() (seal.KDF, error) { return seal.FastKDF(), nil }))
	asked := 0
	var given [][]byte
	pass := func() ([]byte, error) {
		asked++
		b := []byte("pw")
		given = append(given, b)
		return b, nil
	}
	if _, err := st.Unlocker(pass)(); !errors.Is(err, ErrNoWallet) || asked != 0 {
		t.Fatalf("unlock without a wallet: %v, asked %d", err, asked)
	}
	if _, _, err := st.RevealWith(pass); !errors.Is(err, ErrNoWallet) || asked != 0 {
		t.Fatalf("reveal without a wallet: %v, asked %d", err, asked)
	}
	acct, err := st.CreateWith(abandonMnemonic, "", pass, false)
	if err != nil || acct.EVM != "0x9858EfFD232B4033E47d90003D41EC34EcaEda94" {
		t.Fatalf("create: %v %s", err, acct.EVM)
	}
	if _, err := st.CreateWith(abandonMnemonic, "", pass, false); !errors.Is(err, ErrWalletExists) || asked != 1 {
		t.Fatalf("create over a wallet: %v, asked %d", err, asked)
	}
	keys, err := st.Unlocker(pass)()
	if err != nil {
		t.Fatal(err)
	}
	keys.Wipe()
	if m, _, err := st.RevealWith(pass); err != nil || m != abandonMnemonic {
		t.Fatalf("reveal: %q %v", m, err)
	}
	for i, b := range given {
		if string(b) != "\x00\x00" {
			t.Errorf("passphrase %d was not wiped: %q", i, b)
		}
	}
}

func TestWalletSignMessage(t *testing.T) {
	w := testWallet(t)
	_, acct, unlock := testKeys(t)
	unlocked := 0
	s := w.NewSession(SessionConfig{Caller: "test", Unlock: func() (*Keys, error) { unlocked++; return unlock() }})
	ctx := context.Background()
	// a Governor ballot: typed data the wallet reads, which moves no money
	typed := []byte(`{"types":{"EIP712Domain":[{"name":"name","type":"string"}],"Ballot":[{"name":"proposalId","type":"uint256"},{"name":"support","type":"uint8"}]},"primaryType":"Ballot","domain":{"name":"DAO"},"message":{"proposalId":"7","support":1}}`)
	tests := []struct {
		m       Message
		invalid bool
	}{
		{Message{Text: "hi"}, false},
		{Message{Family: FamilyEVM, TypedData: typed}, false},
		{Message{Family: FamilySolana, Text: "hi"}, false},
		{Message{Family: FamilyNEAR, Text: "hi", Recipient: "app.near"}, false},
		{Message{Family: FamilyNEAR, Text: "hi"}, true},
		{Message{Family: "dogecoin", Text: "hi"}, true},
		{Message{Family: FamilySolana, TypedData: typed}, true},
	}
	for _, tt := range tests {
		before := unlocked
		sig, err := s.SignMessage(ctx, tt.m, 0)
		if tt.invalid {
			if !errors.Is(err, ErrInvalidMessage) || unlocked != before {
				t.Errorf("%+v: %v (unlocked %d times)", tt.m, err, unlocked-before)
			}
			continue
		}
		if err != nil || len(sig.Sig) == 0 {
			t.Errorf("%+v: %v", tt.m, err)
		}
		if tt.m.Family == FamilyNEAR {
			nm := NEP413Message{Message: tt.m.Text, Recipient: tt.m.Recipient}
			copy(nm.Nonce[:], sig.Nonce)
			h := nm.Hash()
			if len(sig.Nonce) != 32 || !ed25519.Verify(b58(t, strings.TrimPrefix(acct.NEARPublicKey, "ed25519:")), h[:], sig.Sig) {
				t.Errorf("NEAR signature does not verify with the nonce returned")
			}
		}
	}
}

func TestWalletTextForms(t *testing.T) {
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	pol := Policy{
		Limits:     map[string]Limit{"USDC": {PerDay: "50"}, "ETH": {PerTx: "1", ApproveAbove: "0.5"}},
		PayeeDaily: map[string]map[string]string{"bob": {"USDC": "5", "ETH": "1"}},
		Allow:      []string{"bob", "carol"}, ApproveMessages: true,
	}
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"policy", pol.String(), "ETH    per tx 1          per day -          approval above 0.5\n" +
			"USDC   per tx -          per day 50         approval above -\n" +
			"payee bob: at most 1 ETH per day\npayee bob: at most 5 USDC per day\n" +
			"only these payees: bob, carol\nmessage signatures need approval\n"},
		{"empty policy", Policy{}.String(), "no limits set: every payment is allowed\n"},
		{"messages only", Policy{ApproveMessages: true}.String(), "no limits set: every payment is allowed\nmessage signatures need approval\n"},
		{"ledger entry", LedgerEntry{Time: "2025-01-02T03:04:05.123Z", Status: "confirmed", Kind: "send", Amount: "1", Asset: "ETH", To: "0xB", Network: "base", Nonce: 7, Hash: "0xH", Caller: "cli"}.String(),
			"2025-01-02T03:04:05 confirmed send     1 ETH to 0xB on base (nonce 7) 0xH cli"},
		{"audit refusal", AuditEntry{Seq: 3, Time: created, Kind: "permission", Action: "refused", Principal: "agent:x",
			Fields: map[string]any{"request": "pay", "amount": "2", "asset": "USDC", "payee": "0xB", "network": "base", "rule": "per-day", "reason": "over the limit"}}.String(),
			"    3 2025-01-02T03:04:05 permission refused        agent:x        -      pay 2 USDC to 0xB on base — per-day: over the limit"},
		{"audit payment", AuditEntry{Seq: 9, Time: created, Kind: "payment", Action: "signed", Principal: "cli", Signed: true,
			Fields: map[string]any{"request": "send", "amount": "1", "asset": "ETH", "payee": "0xB", "tx": "0xH", "reservation": "r1"}}.String(),
			"    9 2025-01-02T03:04:05 payment    signed         cli            signed send 1 ETH to 0xB tx 0xH reservation r1"},
		{"audit message signature", AuditEntry{Seq: 7, Time: created, Kind: "permission", Action: "signed", Principal: "tui", Signed: true,
			Fields: map[string]any{"request": "sign-message", "message_sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}}.String(),
			"    7 2025-01-02T03:04:05 permission signed         tui            signed sign-message message sha256 44136fa355b3…"},
		{"audit migrated policy change", AuditEntry{Seq: 4, Time: created, Kind: "permission", Action: "policy-changed", Principal: "cli",
			Fields: map[string]any{"migrated": true, "old_time": "2024-12-31T23:59:59.5Z", "policy_sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}}.String(),
			"    4 2024-12-31T23:59:59 permission policy-changed cli            -      policy sha256 44136fa355b3 (migrated)"},
		{"audit migration with damage", AuditEntry{Seq: 5, Time: created, Kind: "note", Action: "audit-migrated", Principal: "wallet",
			Fields: map[string]any{"entries": 2.0, "kept": "audit.log.migrated", "first_line_not_migrated": 3.0, "problem": "truncated line"}}.String(),
			"    5 2025-01-02T03:04:05 note       audit-migrated wallet         -      2 entries of the old audit log, kept as audit.log.migrated; not migrated from line 3: truncated line"},
		{"audit report", AuditReport{Entries: 3, Migrated: 1, Signed: 1, Covered: 1, Unsigned: 1, Ledger: ledger.Report{Entries: 7, KeyID: "abcdef0123456789", Root: "r00t"}}.String(),
			"wallet: 3 entries in the ledger (1 moved from the old audit log): 1 signed, 1 covered by a later signature, 1 not yet signed\n" +
				"the last 1 are not authenticated yet: the next payment, or a checkpoint, signs them\n" +
				"ledger: 7 entries (key abcdef012345…): chain, signatures and checkpoints intact; root r00t\n"},
		{"revoked grant", GrantInfo{ID: "g1", Principal: "agent:shop", MintedBy: "tui", Created: created, Revoked: created}.String(),
			"g1 revoked  agent:shop           by tui    since 2025-01-02T03:04:05Z"},
		{"balances", BalanceReport{
			Chains: []Balance{{Network: "base", Asset: "USDC", Status: "failed", Error: "timeout"}, {Network: "ethereum", Asset: "USDC", Status: "ok", Amount: "3"}},
			Totals: []Total{{Asset: "USDC", Amount: "3", Partial: true, Missing: []string{"base"}}},
		}.String(), "USDC   3  (incomplete: base failed)\n  base       FAILED: timeout\n  ethereum   3\n"},
		{"empty ledger", Ledger{}.String(), "no transactions yet\n"},
		{"grants", GrantList{{ID: "g2", Principal: "a", MintedBy: "cli", Created: created}}.String(), "g2 active   a                    by cli    since 2025-01-02T03:04:05Z\n"},
		{"empty audit log", AuditLog{}.String(), "no wallet entries in the ledger yet\n"},
		{"mnemonic words", MnemonicWords{"abandon", "about"}.String(), " 1. abandon\n 2. about\n"},
		{"network without RPC", Network{Name: "base", CAIP2: "eip155:8453", Native: "ETH"}.String(), "base       eip155:8453                                ETH   USDC -                                            no RPC"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, tt.got, tt.want)
		}
	}
	if !(Policy{ApproveMessages: true}).Empty() || pol.Empty() {
		t.Error("Empty counts message approval as a limit, or misses limits")
	}
	_, acct, _ := testKeys(t)
	if s := acct.String(); !strings.HasPrefix(s, "Account index 0\n") || strings.Count(s, "\n") != 8 || !strings.Contains(s, acct.BitcoinRegtest) {
		t.Errorf("accounts:\n%s", s)
	}
}

// TestWalletRefusalsNameTheirRule: every refusal carries the rule that
// refused it, so the CLI can offer its own way out; none tells a grant
// holder (an agent) how to change the policy it is bound by.
func TestWalletRefusalsNameTheirRule(t *testing.T) {
	ctx := context.Background()
	_, _, unlock := testKeys(t)
	payee := "0x00000000000000000000000000000000000000b1"
	tests := []struct {
		name     string
		policy   Policy
		limits   Limits
		amount   string
		rule     string
		headless bool
	}{
		{"allow list", Policy{Allow: []string{"0xsomeoneelse"}}, Limits{}, "1", RuleAllowList, false},
		{"per tx", Policy{Limits: map[string]Limit{"USDC": {PerTx: "0.5"}}}, Limits{}, "1", RulePerTx, false},
		{"per day", Policy{Limits: map[string]Limit{"USDC": {PerDay: "0.5"}}}, Limits{}, "1", RulePerDay, false},
		{"payee daily", Policy{PayeeDaily: map[string]map[string]string{payee: {"USDC": "0.5"}}}, Limits{}, "1", RulePayeeDaily, false},
		{"approval, headless", Policy{Limits: map[string]Limit{"USDC": {ApproveAbove: "0.5"}}}, Limits{}, "1", RuleApproval, true},
		{"grant limit", Policy{}, Limits{PerTx: map[string]string{"USDC": "0.5"}}, "1", RuleGrant, false},
		{"grant network", Policy{}, Limits{Networks: []string{"base"}}, "1", RuleGrant, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := testWallet(t)
			if err := w.setPolicy(tt.policy, "test"); err != nil {
				t.Fatal(err)
			}
			user := w.NewSession(SessionConfig{Caller: "tui", Unlock: unlock})
			g, err := user.Grant("agent:shop", tt.limits)
			if err != nil {
				t.Fatal(err)
			}
			_, err = g.Execute(ctx, usdcPlan(tt.amount, payee))
			var refused *RefusedError
			if !errors.As(err, &refused) || refused.Rule != tt.rule || refused.Headless != tt.headless {
				t.Fatalf("got %#v (%v), want rule %s", refused, err, tt.rule)
			}
			for _, hint := range []string{"sov ", "--", "`", "raise", "allow the", "relax", "policy --"} {
				if strings.Contains(err.Error(), hint) {
					t.Errorf("a grant holder is told %q: %v", hint, err)
				}
			}
		})
	}
}

func TestWalletConfigFile(t *testing.T) {
	nets, err := LoadNetworks(nil)
	if err != nil || !reflect.DeepEqual(names(nets), names(mustAll(t, Config{}))) {
		t.Fatalf("no config: %v %v", names(nets), err)
	}
	path := filepath.Join(t.TempDir(), "config.toml")
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := SaveRPC(ctx, f, NetworkConfig{Name: "dev", ChainID: 31337, RPC: []string{"http://127.0.0.1:8545"}}); err != nil {
		t.Fatal(err)
	}
	if err := SaveRPC(ctx, f, NetworkConfig{Name: "nope"}); err == nil {
		t.Fatal("saved a network without an RPC")
	}
	f, _ = config.Load(path)
	nets, err = LoadNetworks(f)
	if n, ok := FindNetwork(nets, "dev"); err != nil || !ok || n.ChainID != 31337 || len(n.RPC) != 1 {
		t.Fatalf("dev network after reload: %+v %v", n, err)
	}
}

func names(nets []Network) []string {
	var out []string
	for _, n := range nets {
		out = append(out, n.Name)
	}
	return out
}

func mustAll(t *testing.T, c Config) []Network {
	t.Helper()
	nets, err := c.All()
	if err != nil {
		t.Fatal(err)
	}
	return nets
}

// TestWalletSessionBalances: no RPC at all is ErrNoNetworks; a chain that
// does not answer is reported as failed with a *QueryError, never as zero.
func TestWalletSessionBalances(t *testing.T) {
	w := testWallet(t)
	if _, err := w.Store().Create(abandonMnemonic, "", []byte("pw"), false); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := w.NewSession(SessionConfig{Caller: "test", Networks: mustAll(t, Config{})})
	if _, err := s.Balances(ctx, 0); !errors.Is(err, ErrNoNetworks) {
		t.Fatalf("no RPC: %v", err)
	}
	dead := mustAll(t, Config{RPC: map[string][]string{"base": {"http://127.0.0.1:1"}}, RPCTimeout: "2s"})
	s = w.NewSession(SessionConfig{Caller: "test", Networks: dead})
	rep, err := s.Balances(ctx, 0)
	var qe *QueryError
	if !errors.As(err, &qe) || !errors.Is(err, ErrUnanswered) || !reflect.DeepEqual(qe.Networks, []string{"base"}) {
		t.Fatalf("dead RPC: %v", err)
	}
	for _, b := range rep.Chains {
		if b.Status != "failed" || b.Amount != "" {
			t.Errorf("dead chain reported %+v", b)
		}
	}
}

func TestWalletPolicyApply(t *testing.T) {
	base := Policy{Limits: map[string]Limit{"USDC": {PerDay: "5"}}, Allow: []string{"0xA"}, ApproveMessages: true}
	tests := []struct {
		name    string
		edit    PolicyEdit
		want    Policy
		changed bool
		err     error
	}{
		{"nothing", PolicyEdit{}, base, false, nil},
		{"limit", PolicyEdit{Asset: "usdc", PerTx: "2"}, Policy{Limits: map[string]Limit{"USDC": {PerTx: "2", PerDay: "5"}}, Allow: []string{"0xA"}, ApproveMessages: true}, true, nil},
		{"remove a limit", PolicyEdit{Asset: "USDC", PerDay: "none"}, Policy{Limits: map[string]Limit{"USDC": {}}, Allow: []string{"0xA"}, ApproveMessages: true}, true, nil},
		{"stop approving messages", PolicyEdit{NoApproveMessages: true}, Policy{Limits: base.Limits, Allow: []string{"0xA"}}, true, nil},
		{"approve messages again", PolicyEdit{ApproveMessages: true}, base, true, nil},
		{"both", PolicyEdit{ApproveMessages: true, NoApproveMessages: true}, Policy{}, false, ErrInvalidEdit},
		{"limit without asset", PolicyEdit{PerDay: "1"}, Policy{}, false, ErrEditNeedsAsset},
		{"bad amount", PolicyEdit{Asset: "ETH", PerTx: "lots"}, Policy{}, false, ErrInvalidEdit},
		{"disallow", PolicyEdit{Disallow: []string{"0xa"}}, Policy{Limits: base.Limits, ApproveMessages: true}, true, nil},
		{"reset", PolicyEdit{Reset: true}, Policy{}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, err := base.Apply(tt.edit)
			if !errors.Is(err, tt.err) || tt.err != nil && err == nil {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if tt.err == nil && (!reflect.DeepEqual(got, tt.want) || changed != tt.changed) {
				t.Fatalf("got %+v changed=%v, want %+v changed=%v", got, changed, tt.want, tt.changed)
			}
		})
	}
}
