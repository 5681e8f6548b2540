package wallet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/sovos/sov/wallet/internal/evm"
)

// gwei500 is the priority fee a lying RPC quotes: 500 gwei.
const gwei500 = "0x746a528800"

// lyingFeeRPC is a hostile loopback JSON-RPC server: it forwards every
// call to the honest node at upstream and rewrites the results of the fee
// calls through lie (method, honest result → what it claims).
func lyingFeeRPC(t *testing.T, upstream string, lie func(method string, result json.RawMessage) json.RawMessage) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Method string `json:"method"`
		}
		json.Unmarshal(body, &req)
		resp, err := http.Post(upstream, "application/json", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var out map[string]json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if res, ok := out["result"]; ok {
			out["result"] = lie(req.Method, res)
		}
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// lieTip quotes 500 gwei from eth_maxPriorityFeePerGas only.
func lieTip(method string, res json.RawMessage) json.RawMessage {
	if method == "eth_maxPriorityFeePerGas" {
		return json.RawMessage(`"` + gwei500 + `"`)
	}
	return res
}

// lieHistory quotes 500 gwei from eth_maxPriorityFeePerGas and as every
// reward percentile of eth_feeHistory, so its own history backs the lie.
func lieHistory(method string, res json.RawMessage) json.RawMessage {
	if method != "eth_feeHistory" {
		return lieTip(method, res)
	}
	var fh map[string]any
	json.Unmarshal(res, &fh)
	base, _ := fh["baseFeePerGas"].([]any)
	reward := make([]any, max(len(base)-1, 1))
	for i := range reward {
		reward[i] = []any{gwei500, gwei500}
	}
	fh["reward"] = reward
	b, _ := json.Marshal(fh)
	return b
}

// TestWalletFeeQuoteCheckedAgainstHistory: a hostile RPC (lyingFeeRPC)
// quoting a 500 gwei priority fee far above what its own eth_feeHistory
// says recent blocks paid is not believed: the tip is capped to the
// history's, and the plan's summary carries a note saying so. When its
// history backs the lie, a second configured RPC's quote does not: the
// lower quote is used, again with a note. Capped with a note, not
// refused: a lower fee only makes the transaction slower, and the fee cap
// and limits still stand.
func TestWalletFeeQuoteCheckedAgainstHistory(t *testing.T) {
	c := newSimChain(t)
	ctx := context.Background()
	honest := serveRPC(t, c.sim)
	payee := evm.HexToAddress("0x00000000000000000000000000000000000000ab")
	amt, _ := ToAtomic("0.0005", 18)
	tooHigh, _ := new(big.Int).SetString(strings.TrimPrefix(gwei500, "0x"), 16)
	for _, tt := range []struct {
		name string
		rpc  []string
		note string
	}{
		{"tip above its own history", []string{lyingFeeRPC(t, honest, lieTip)}, "the RPC suggested a priority fee of 500 gwei, far above what its recent blocks paid"},
		{"history backs the lie, a second RPC does not", []string{lyingFeeRPC(t, honest, lieHistory), honest}, "more than twice another configured RPC's"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := c.evm.Net
			n.RPC = tt.rpc
			e, err := DialEVM(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			if e.URL != tt.rpc[0] {
				t.Fatalf("dialled %s, want the hostile RPC first", e.URL)
			}
			fees, err := e.SuggestFees(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if fees.Tip.Cmp(tipCeilingFloor) > 0 || fees.Tip.Cmp(tooHigh) >= 0 {
				t.Fatalf("tip %s wei: the lie was believed", fees.Tip)
			}
			if !strings.Contains(fees.Note, tt.note) {
				t.Fatalf("note %q, want %q", fees.Note, tt.note)
			}
			p, err := e.Plan(ctx, EVMTransfer{From: c.from, To: payee, Asset: "ETH", Amount: amt, Decimals: 18})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(p.Summary, "; note: ") || !strings.Contains(p.Summary, tt.note) {
				t.Fatalf("summary %q does not say the quote was capped", p.Summary)
			}
			// the capped fee is what is signed: far below the 0.0105 ETH the lie asked
			if lie := new(big.Int).Mul(big.NewInt(21000), tooHigh); p.MaxFee.Cmp(new(big.Int).Div(lie, big.NewInt(10))) > 0 {
				t.Fatalf("max fee %s wei", p.MaxFee)
			}
		})
	}
	// an honest RPC alone: no note, the node's own suggestion within its history
	n := c.evm.Net
	n.RPC = []string{honest}
	e, err := DialEVM(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if fees, err := e.SuggestFees(ctx); err != nil || fees.Note != "" {
		t.Fatalf("honest quote: %+v %v", fees, err)
	}
}

// TestWalletFeeCapRefusesAbsurdQuotes: a network fee above the
// per-transaction fee cap is refused before anything is signed: the
// default cap for the family (0.01 ETH on an ETH chain) when the policy
// sets none, the policy's own (--max-fee) when it does. The lying RPC
// here backs its quote with its own history and no second RPC is
// configured, so only the cap stands between it and the money.
// Bitcoin's fee (fee rate × vsize) counts toward BTC's limits alike.
func TestWalletFeeCapRefusesAbsurdQuotes(t *testing.T) {
	c := newSimChain(t)
	ctx := context.Background()
	n := c.evm.Net
	n.RPC = []string{lyingFeeRPC(t, serveRPC(t, c.sim), lieHistory)}
	w := testWallet(t)
	w.dial = DialEVM
	acct, _ := c.keys.Accounts(0)
	var shown []string
	s := w.NewSession(SessionConfig{Caller: "test", Unlock: c.unlock, Networks: []Network{n}, Approver: typing(testPassphrase, &shown), Interactive: true})
	send := func(amount string) error {
		t.Helper()
		p, err := w.Plan(ctx, Transfer{Amount: amount, Asset: "ETH", To: "0x00000000000000000000000000000000000000ac"}, []Network{n}, acct)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		_, err = s.Execute(ctx, p)
		return err
	}
	var refused *RefusedError
	// 21,000 gas × (2 × base + 500 gwei) > 0.0105 ETH: above the default cap
	if err := send("0.0005"); !errors.As(err, &refused) || refused.Rule != RuleMaxFee || !strings.Contains(refused.Reason, "per-transaction fee cap of 0.01 ETH") {
		t.Fatalf("absurd quote under the default cap: %v", err)
	}
	// the policy's cap, set like `sov wallet policy --asset ETH --max-fee 0.002`
	p, changed, err := Policy{}.Apply(PolicyEdit{Asset: "eth", MaxFee: "0.002"})
	if err != nil || !changed || p.Limits["ETH"].MaxFee != "0.002" || !strings.Contains(p.String(), "network fee at most 0.002 per transaction") {
		t.Fatalf("edit: %+v %v %v", p, changed, err)
	}
	if _, _, err := (Policy{}).Apply(PolicyEdit{MaxFee: "0.002"}); !errors.Is(err, ErrEditNeedsAsset) {
		t.Fatalf("a fee cap without its asset: %v", err)
	}
	sealed(t, w)
	if _, err := s.EditPolicy(ctx, PolicyEdit{Asset: "ETH", MaxFee: "0.002"}); err != nil {
		t.Fatal(err)
	}
	if err := send("0.0005"); !errors.As(err, &refused) || refused.Rule != RuleMaxFee || !strings.Contains(refused.Reason, "fee cap of 0.002 ETH") {
		t.Fatalf("absurd quote under the policy's cap: %v", err)
	}
	// nothing was signed, nothing reserved
	if txs, _ := w.Ledger(); len(txs) != 0 {
		t.Fatalf("sent %v", txs)
	}
	if fees, _ := w.FeesToday(); len(fees) != 0 {
		t.Fatalf("fees reserved: %v", fees)
	}
	for _, tt := range []struct{ family, native, want string }{
		{FamilyEVM, "ETH", "0.01"}, {FamilyEVM, "POL", "1"}, {FamilyBitcoin, "BTC", "0.0005"}, {FamilySolana, "SOL", "0.001"}, {FamilyNEAR, "NEAR", "0.01"},
	} {
		if got := defaultMaxFee(tt.family, tt.native); got != tt.want {
			t.Errorf("default fee cap on %s %s: %s, want %s", tt.family, tt.native, got, tt.want)
		}
	}

	// Bitcoin: the plan's fee is fee rate × vsize, and it counts toward BTC's limits
	_, bacct, _ := testKeys(t)
	bnet := Network{Name: "regtest", CAIP2: "bip122:regtest", Family: FamilyBitcoin, Native: "BTC", NativeDecimals: 8, BitcoinNet: string(BitcoinRegtest)}
	recv, change := bacct.BitcoinAddresses(BitcoinRegtest)
	from, _ := ParseBitcoinAddress(recv, BitcoinRegtest)
	chg, _ := ParseBitcoinAddress(change, BitcoinRegtest)
	rs, _ := txscript.PayToAddrScript(from)
	bp, err := PlanBitcoin([]UTXO{{OutPoint: wire.OutPoint{Hash: chainhash.Hash{1}}, Value: 1_000_000, PkScript: rs}}, from, 90_000, 100, chg, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	if bp.Fee < 100*100 {
		t.Fatalf("fee %d sat at 100 sat/vB", bp.Fee)
	}
	bw := testWallet(t)
	bw.setPolicy(Policy{Limits: map[string]Limit{"BTC": {PerDay: "0.001"}}}, "test")
	plan := &Plan{kind: "send", net: bnet, asset: "BTC", decimals: 8, amount: big.NewInt(90_000), maxFee: big.NewInt(bp.Fee), to: "bcrt1qpayee", summary: bp.Summary}
	_, err = bw.authorize(ctx, plan.request(actor{principal: "test"}), nil)
	want := fmt.Sprintf("(0.0009 BTC plus up to %s BTC in network fees", FormatAtomic(big.NewInt(bp.Fee), 8))
	if !errors.As(err, &refused) || refused.Rule != RulePerDay || !strings.Contains(refused.Reason, want) {
		t.Fatalf("BTC fee toward the daily limit: %v, want %q", err, want)
	}
	bw.setPolicy(Policy{Limits: map[string]Limit{"BTC": {PerDay: "0.0011"}}}, "test")
	if d, err := bw.authorize(ctx, plan.request(actor{principal: "test"}), nil); err != nil || !d.Allowed {
		t.Fatalf("BTC send within the limit: %+v %v", d, err)
	}
	if fees, _ := bw.FeesToday(); fees["BTC"] != FormatAtomic(big.NewInt(bp.Fee), 8) {
		t.Fatalf("BTC fees reserved %v", fees)
	}
}
