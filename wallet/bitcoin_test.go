package wallet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/sovos/sov/internal/testtool"
)

// startBtcdRegtest runs a real btcd in regtest mode with the indexes sov
// needs, mining to miningAddr. It returns the network entry for it.
func startBtcdRegtest(t *testing.T, miningAddr string) (Network, *rpcclient.Client) {
	t.Helper()
	url, c := testtool.Btcd(t, miningAddr)
	n := Network{Name: "regtest", CAIP2: "bip122:0f9188f13cb7b2c71f2a335e3a4fc328", Family: FamilyBitcoin, Native: "BTC", NativeDecimals: 8, BitcoinNet: "regtest",
		RPC: []string{url}}
	return n, c
}

func TestWalletBitcoinRegtestPSBTSendConfirms(t *testing.T) {
	seed, _ := SeedFromMnemonic(abandonMnemonic, "")
	keys := NewKeys(seed)
	acct, err := keys.Accounts(0)
	if err != nil {
		t.Fatal(err)
	}
	net, miner := startBtcdRegtest(t, acct.BitcoinRegtest)
	// btcd activates segwit on regtest by BIP9 signalling: three 144-block
	// windows; its coinbases (to us) give the funds.
	if _, err := miner.Generate(432); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := testWallet(t)
	rep := w.Balances(ctx, []Network{net}, acct)
	if len(rep.Chains) != 1 || rep.Chains[0].Status != "ok" || rep.Chains[0].Amount == "0" {
		t.Fatalf("balance %+v", rep)
	}
	other, _ := otherKeys(t).Accounts(0) // a stranger: index 7 of this seed would be within the account's gap-limit scan
	if _, err := w.Store().Create(abandonMnemonic, "", []byte("pw"), false); err != nil {
		t.Fatal(err)
	}
	// the one send path through the session API: Plan → Execute → Follow
	sess := w.NewSession(SessionConfig{Caller: "test", Unlock: w.Store().Unlocker(func() ([]byte, error) { return []byte("pw"), nil }), Networks: []Network{net}})
	plan, err := sess.Plan(ctx, Transfer{Amount: "1.5", Asset: "BTC", To: other.BitcoinRegtest})
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	if summary := plan.Summary(); !strings.Contains(summary, "Send 1.5 BTC to "+other.BitcoinRegtest) {
		t.Fatalf("summary %q", summary)
	}
	entry, err := sess.Execute(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := miner.Generate(1); err != nil {
		t.Fatal(err)
	}
	if entry, err = sess.Follow(ctx, entry); err != nil || entry.Status != "confirmed" {
		t.Fatalf("%+v %v", entry, err)
	}
	if ledger, _ := w.Ledger(); len(ledger) != 1 || ledger[0].Status != "confirmed" || ledger[0].Caller != "test" {
		t.Fatalf("ledger %+v", ledger)
	}
	got := w.Balances(ctx, []Network{net}, other)
	if got.Chains[0].Amount != "1.5" {
		t.Fatalf("payee balance %+v", got)
	}
	// too much, fees included: refused before signing
	if _, err := w.Plan(ctx, Transfer{Amount: "100000", Asset: "BTC", To: other.BitcoinRegtest}, sess.Networks(), acct); err == nil || !strings.Contains(err.Error(), "insufficient funds") {
		t.Fatalf("overspend: %v", err)
	}
	// wrong network family/net
	if _, err := w.Plan(ctx, Transfer{Amount: "0.00001", Asset: "BTC", To: acct.Bitcoin, Network: net.Name}, sess.Networks(), acct); !errors.Is(err, ErrInvalidTransfer) {
		t.Fatalf("mainnet address on regtest: %v", err)
	}
	// a node on another chain is refused
	lying := net
	lying.BitcoinNet = "testnet"
	if _, err := DialBitcoin(ctx, lying); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("genesis check: %v", err)
	}
}

// TestWalletPSBTSignsReceiveAndChangeInputs builds a PSBT spending one
// receive and one change output and runs every input through btcd's script
// engine.
func TestWalletPSBTSignsReceiveAndChangeInputs(t *testing.T) {
	seed, _ := SeedFromMnemonic(abandonMnemonic, "")
	keys := NewKeys(seed)
	acct, _ := keys.Accounts(0)
	params := &chaincfg.RegressionNetParams
	recv, _ := ParseBitcoinAddress(acct.BitcoinRegtest, BitcoinRegtest)
	change, _ := ParseBitcoinAddress(acct.BitcoinRegtestChange, BitcoinRegtest)
	rs, _ := txscript.PayToAddrScript(recv)
	cs, _ := txscript.PayToAddrScript(change)
	utxos := []UTXO{
		{OutPoint: wire.OutPoint{Hash: chainhash.Hash{1}, Index: 0}, Value: 60_000, PkScript: rs},
		{OutPoint: wire.OutPoint{Hash: chainhash.Hash{2}, Index: 1}, Value: 50_000, PkScript: cs, Change: 1},
	}
	other, _ := keys.Accounts(1)
	dest, _ := ParseBitcoinAddress(other.BitcoinRegtest, BitcoinRegtest)
	plan, err := PlanBitcoin(utxos, dest, 100_000, 5, change, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Packet.UnsignedTx.TxIn) != 2 || plan.Change != 110_000-100_000-vbytes(2, 2)*5 {
		t.Fatalf("plan %+v", plan)
	}
	rk, _ := keys.BitcoinKey(BitcoinRegtest, 0, 0, 0)
	ck, _ := keys.BitcoinKey(BitcoinRegtest, 0, 1, 0)
	tx, err := signPSBT(plan, map[string]*btcec.PrivateKey{fmt.Sprintf("%x", rs): rk, fmt.Sprintf("%x", cs): ck})
	if err != nil {
		t.Fatal(err)
	}
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	for _, u := range utxos {
		fetcher.AddPrevOut(u.OutPoint, wire.NewTxOut(u.Value, u.PkScript))
	}
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, in := range tx.TxIn {
		prev := fetcher.FetchPrevOutput(in.PreviousOutPoint)
		vm, err := txscript.NewEngine(prev.PkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, prev.Value, fetcher)
		if err != nil {
			t.Fatal(err)
		}
		if err := vm.Execute(); err != nil {
			t.Fatalf("input %d does not verify: %v", i, err)
		}
	}
	// the replacement's size bound holds and is tight
	if got, bound := (blockchain.GetTransactionWeight(btcutil.NewTx(tx))+3)/4, p2wpkhVsize(len(tx.TxIn), tx.TxOut); got > bound || bound-got > 2 {
		t.Fatalf("vsize %d, bound %d", got, bound)
	}
	var out int64
	for _, o := range tx.TxOut {
		out += o.Value
	}
	if 110_000-out != plan.Fee {
		t.Fatalf("fee %d, outputs %d", plan.Fee, out)
	}
	if _, err := PlanBitcoin(utxos, dest, 109_000, 5, change, params); err == nil || !strings.Contains(err.Error(), "insufficient funds") {
		t.Fatalf("fees not counted: %v", err)
	}
}
