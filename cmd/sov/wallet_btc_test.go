package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/wallet"
)

// TestWalletBtcdRegtestPSBTSend: a real btcd in regtest mines to the
// wallet; `sov wallet send … BTC` builds, signs and broadcasts a PSBT that
// confirms in the next block.
func TestWalletBtcdRegtestPSBTSend(t *testing.T) {
	seed, _ := wallet.SeedFromMnemonic(walletTestAbandon, "")
	keys := wallet.NewKeys(seed)
	acct, _ := keys.Accounts(0)
	other, _ := keys.Accounts(3)
	keys.Wipe()
	url, c := testtool.Btcd(t, acct.BitcoinRegtest)
	if _, err := c.Generate(432); err != nil { // segwit activates after three BIP9 windows
		t.Fatal(err)
	}
	home := t.TempDir()
	if r := runSov(t, home, walletTestEnv, walletTestAbandon+"\n", "wallet", "import"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	if r := runSov(t, home, nil, "", "wallet", "networks", "add", "regtest", "--family", "bitcoin", "--bitcoin-net", "regtest", "--rpc", url); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	r := runSov(t, home, nil, "", "wallet", "balance", "--json")
	var rep wallet.BalanceReport
	json.Unmarshal([]byte(r.Stdout), &rep)
	if r.Code != 0 || len(rep.Chains) != 1 || rep.Chains[0].Asset != "BTC" || rep.Chains[0].Status != "ok" {
		t.Fatalf("balance: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	r = runSov(t, home, walletTestEnv, "", "wallet", "send", "1.25", "BTC", "to", other.BitcoinRegtest, "--yes", "--no-wait", "--json")
	if r.Code != 0 {
		t.Fatalf("send: %d %s", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "sat/vB") {
		t.Fatalf("summary: %s", r.Stderr)
	}
	var entry wallet.LedgerEntry
	json.Unmarshal([]byte(r.Stdout), &entry)
	if _, err := c.Generate(1); err != nil {
		t.Fatal(err)
	}
	h, err := chainhash.NewHashFromStr(entry.Hash)
	if err != nil {
		t.Fatalf("hash %q: %v", entry.Hash, err)
	}
	tx, err := c.GetRawTransactionVerbose(h)
	if err != nil || tx.Confirmations < 1 {
		t.Fatalf("not confirmed: %v", err)
	}
	paid, change := false, false
	for _, o := range tx.Vout {
		if o.Value == 1.25 && o.ScriptPubKey.Address == other.BitcoinRegtest {
			paid = true
		}
		if o.ScriptPubKey.Address == acct.BitcoinRegtestChange {
			change = true
		}
	}
	if !paid || !change {
		t.Fatalf("want 1.25 BTC to %s and change to %s, got %+v", other.BitcoinRegtest, acct.BitcoinRegtestChange, tx.Vout)
	}
	// a second send may spend the change output: keys for both chains sign
	r = runSov(t, home, walletTestEnv, "", "wallet", "send", "0.5", "BTC", "to", other.BitcoinRegtest, "--yes", "--no-wait")
	if r.Code != 0 {
		t.Fatalf("second send: %s", r.Stderr)
	}
	r = runSov(t, home, walletTestEnv, "", "wallet", "send", "1", "BTC", "to", acct.Bitcoin, "--yes")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--chain") {
		t.Fatalf("mainnet address: %d %s", r.Code, r.Stderr)
	}
}

// TestWalletBtcdSpeedupReplacesStuckSend: `sov wallet speedup TXID` bumps
// a stuck Bitcoin send by BIP125 replacement; only the replacement is
// mined. `addresses` without the passphrase says its addresses are cached.
func TestWalletBtcdSpeedupReplacesStuckSend(t *testing.T) {
	seed, _ := wallet.SeedFromMnemonic(walletTestAbandon, "")
	keys := wallet.NewKeys(seed)
	acct, _ := keys.Accounts(0)
	keys.Wipe()
	url, c := testtool.Btcd(t, acct.BitcoinRegtest)
	if _, err := c.Generate(432); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	if r := runSov(t, home, walletTestEnv, walletTestAbandon+"\n", "wallet", "import"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	if r := runSov(t, home, nil, "", "wallet", "addresses"); r.Code != 0 || !strings.Contains(r.Stdout, "cached") {
		t.Fatalf("addresses: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if r := runSov(t, home, nil, "", "wallet", "networks", "add", "regtest", "--family", "bitcoin", "--bitcoin-net", "regtest", "--rpc", url); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	const payee = "bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk" // not this wallet's
	r := runSov(t, home, walletTestEnv, "", "wallet", "send", "1", "BTC", "to", payee, "--yes", "--no-wait", "--json")
	if r.Code != 0 {
		t.Fatalf("send: %d %s", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "back to your address "+acct.BitcoinRegtestChange) {
		t.Fatalf("summary does not name the change: %s", r.Stderr)
	}
	var stuck, fast wallet.LedgerEntry
	json.Unmarshal([]byte(r.Stdout), &stuck)
	r = runSov(t, home, walletTestEnv, "", "wallet", "speedup", stuck.Hash, "--yes", "--no-wait", "--json")
	if r.Code != 0 || !strings.Contains(r.Stderr, "BIP125") {
		t.Fatalf("speedup: %d %s", r.Code, r.Stderr)
	}
	json.Unmarshal([]byte(r.Stdout), &fast)
	pool, err := c.GetRawMempool()
	if err != nil || len(pool) != 1 || pool[0].String() != fast.Hash || fast.Hash == stuck.Hash {
		t.Fatalf("mempool %v %v, want only %s", pool, err, fast.Hash)
	}
}
