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
