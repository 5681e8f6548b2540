package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/txscript"
)

// editCache rewrites one field of wallet's address cache as an attacker
// with write access to the directory (but no passphrase) would.
func editCache(t *testing.T, dir, field, value string) {
	t.Helper()
	path := filepath.Join(dir, accountsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if field == "mac" {
		raw["mac"], _ = json.Marshal(value)
	} else {
		var acc map[string]any
		json.Unmarshal(raw["accounts"], &acc)
		acc[field] = value
		raw["accounts"], _ = json.Marshal(acc)
	}
	b, _ = json.Marshal(raw)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// regtestWallet is a btcd regtest node whose first 432 coinbases (segwit
// activation) pay minedTo, and a wallet for the abandon mnemonic.
func regtestWallet(t *testing.T, minedTo string) (*Wallet, *Session, Network, *rpcclient.Client) {
	t.Helper()
	net, miner := startBtcdRegtest(t, minedTo)
	if _, err := miner.Generate(432); err != nil {
		t.Fatal(err)
	}
	w := testWallet(t)
	if _, err := w.Store().Create(abandonMnemonic, "", []byte("pw"), false); err != nil {
		t.Fatal(err)
	}
	sess := w.NewSession(SessionConfig{Caller: "test", Unlock: w.Store().Unlocker(func() ([]byte, error) { return []byte("pw"), nil }), Networks: []Network{net}})
	return w, sess, net, miner
}

func abandonKeys(t *testing.T) *Keys {
	seed, err := SeedFromMnemonic(abandonMnemonic, "")
	if err != nil {
		t.Fatal(err)
	}
	return NewKeys(seed)
}

// otherKeys are a stranger's (the attacker's) keys.
func otherKeys(t *testing.T) *Keys {
	seed, err := SeedFromMnemonic("legal winner thank year wave sausage worth useful legal winner thank yellow", "")
	if err != nil {
		t.Fatal(err)
	}
	return NewKeys(seed)
}

func mempool(t *testing.T, c *rpcclient.Client) []*chainhash.Hash {
	t.Helper()
	hs, err := c.GetRawMempool()
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// TestWalletEditedChangeAddressIsNotPaid: the change address in the cache
// is edited without the passphrase. The send's summary names the change
// address the seed derives, the unlock detects the edit and stops before
// signing, and the next send pays change to the seed's address, never the
// attacker's. A plan whose change output is not the seed's is refused at
// signing.
func TestWalletEditedChangeAddressIsNotPaid(t *testing.T) {
	keys := abandonKeys(t)
	acct, _ := keys.Accounts(0)
	attacker, _ := otherKeys(t).Accounts(0)
	payee, _ := otherKeys(t).Accounts(1)
	w, sess, _, miner := regtestWallet(t, acct.BitcoinRegtest)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	editCache(t, w.Dir(), "bitcoin_regtest_change", attacker.BitcoinRegtest)
	shown, err := sess.Accounts(0)
	if err != nil || !shown.Cached || shown.BitcoinRegtestChange != attacker.BitcoinRegtest {
		t.Fatalf("cache read back: %+v %v", shown, err)
	}
	plan, err := sess.Plan(ctx, Transfer{Amount: "1", Asset: "BTC", To: payee.BitcoinRegtest})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("change %s BTC back to your address %s", FormatAtomic(bigInt(plan.btcPlan.Change), 8), acct.BitcoinRegtestChange)
	if !strings.Contains(plan.Summary(), want) || strings.Contains(plan.Summary(), attacker.BitcoinRegtest) {
		t.Fatalf("summary %q, want it to name %q", plan.Summary(), want)
	}
	if _, err := sess.Execute(ctx, plan); !errors.Is(err, ErrAddressCacheAltered) {
		t.Fatalf("execute with an altered cache: %v", err)
	}
	plan.Close()
	if hs := mempool(t, miner); len(hs) != 0 {
		t.Fatalf("broadcast despite the altered cache: %v", hs)
	}
	if fixed, ok := w.Store().CachedAccounts(); !ok || fixed.BitcoinRegtestChange != acct.BitcoinRegtestChange {
		t.Fatalf("cache not repaired: %+v", fixed)
	}

	// A plan whose change output is not the seed's (however it came to be)
	// is refused when the keys are unlocked.
	plan, err = sess.Plan(ctx, Transfer{Amount: "1", Asset: "BTC", To: payee.BitcoinRegtest})
	if err != nil {
		t.Fatal(err)
	}
	evil, _ := ParseBitcoinAddress(attacker.BitcoinRegtest, BitcoinRegtest)
	evilScript, _ := txscript.PayToAddrScript(evil)
	good := plan.btcPlan.Packet.UnsignedTx.TxOut[1].PkScript
	plan.btcPlan.Packet.UnsignedTx.TxOut[1].PkScript = evilScript
	if _, err := sess.Execute(ctx, plan); !errors.Is(err, ErrNotDerived) {
		t.Fatalf("foreign change output: %v", err)
	}
	if hs := mempool(t, miner); len(hs) != 0 {
		t.Fatalf("broadcast with a foreign change output: %v", hs)
	}
	plan.btcPlan.Packet.UnsignedTx.TxOut[1].PkScript = good

	entry, err := sess.Execute(ctx, plan)
	plan.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := miner.Generate(1); err != nil {
		t.Fatal(err)
	}
	h, _ := chainhash.NewHashFromStr(entry.Hash)
	tx, err := miner.GetRawTransactionVerbose(h)
	if err != nil || tx.Confirmations < 1 {
		t.Fatalf("not confirmed: %v", err)
	}
	change := false
	for _, o := range tx.Vout {
		if o.ScriptPubKey.Address == attacker.BitcoinRegtest {
			t.Fatalf("paid the attacker: %+v", tx.Vout)
		}
		change = change || o.ScriptPubKey.Address == acct.BitcoinRegtestChange
	}
	if !change {
		t.Fatalf("no change to %s: %+v", acct.BitcoinRegtestChange, tx.Vout)
	}
}

// TestWalletAddressesShowsCachedUnlessAuthenticated: addresses read without
// the passphrase are marked cached (text and JSON); every unlock checks the
// cache's MAC and addresses against the seed, repairs an altered cache and
// fails with an *AddressCacheError naming what was changed.
func TestWalletAddressesShowsCachedUnlessAuthenticated(t *testing.T) {
	st := OpenStore(t.TempDir(), WithKDF(func() (KDFParams, error) { return testKDF(), nil }))
	derived, err := st.Create(abandonMnemonic, "", []byte("pw"), false)
	if err != nil {
		t.Fatal(err)
	}
	if derived.Cached || strings.Contains(derived.String(), "cached") {
		t.Fatalf("derived addresses marked cached: %+v", derived)
	}
	cached, ok := st.CachedAccounts()
	if !ok || !cached.Cached || !strings.Contains(cached.String(), "cached") {
		t.Fatalf("cached addresses not marked: %v %s", ok, cached)
	}
	if b, _ := json.Marshal(cached); !strings.Contains(string(b), `"cached":true`) {
		t.Fatalf("json %s", b)
	}
	k, err := st.Unlock([]byte("pw"))
	if err != nil {
		t.Fatalf("intact cache: %v", err)
	}
	k.Wipe()
	attacker, _ := otherKeys(t).Accounts(0)
	tests := []struct {
		field, value string
		want         []string
	}{
		{"bitcoin", attacker.Bitcoin, []string{"bitcoin"}},
		{"evm", attacker.EVM, []string{"evm"}},
		{"bitcoin_regtest_xpub", attacker.BitcoinRegtestXpub, []string{"bitcoin_regtest_xpub"}},
		{"mac", strings.Repeat("00", 32), []string{"mac"}},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			editCache(t, st.Dir(), tt.field, tt.value)
			_, err := st.Unlock([]byte("pw"))
			var ce *AddressCacheError
			if !errors.As(err, &ce) || !errors.Is(err, ErrAddressCacheAltered) || strings.Join(ce.Fields, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %v", err)
			}
			if got, _ := st.CachedAccounts(); got.Bitcoin != derived.Bitcoin || got.EVM != derived.EVM {
				t.Fatalf("not repaired: %+v", got)
			}
			if k, err := st.Unlock([]byte("pw")); err != nil {
				t.Fatalf("after repair: %v", err)
			} else {
				k.Wipe()
			}
		})
	}
	// A cache from before MACs and account keys: not shown (so the
	// addresses are derived again) and upgraded by the next unlock.
	old := derived
	old.BitcoinXpub, old.BitcoinTestnetXpub, old.BitcoinRegtestXpub = "", "", ""
	b, _ := json.Marshal(old)
	os.WriteFile(filepath.Join(st.Dir(), accountsFile), b, 0o600)
	if _, ok := st.CachedAccounts(); ok {
		t.Fatal("stale cache shown")
	}
	if k, err := st.Unlock([]byte("pw")); err != nil {
		t.Fatalf("old cache upgrade: %v", err)
	} else {
		k.Wipe()
	}
	if got, ok := st.CachedAccounts(); !ok || got.BitcoinXpub != derived.BitcoinXpub {
		t.Fatalf("not upgraded: %+v", got)
	}
}

// TestWalletBitcoinGapLimitScan: funds on receive index 5 and change index
// 3 of the account (as another BIP84 app leaves them) count in the balance
// and can be spent.
func TestWalletBitcoinGapLimitScan(t *testing.T) {
	keys := abandonKeys(t)
	acct, _ := keys.Accounts(0)
	addr := func(chain, index uint32) string {
		k, err := keys.BitcoinKey(BitcoinRegtest, 0, chain, index)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := BitcoinAddress(k.PubKey(), BitcoinRegtest)
		return a
	}
	recv5, change3 := addr(0, 5), addr(1, 3)
	w, sess, net, miner := regtestWallet(t, recv5)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// move 2 BTC to change index 3 (paid like any outside address)
	plan, err := sess.Plan(ctx, Transfer{Amount: "2", Asset: "BTC", To: change3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Execute(ctx, plan); err != nil {
		t.Fatal(err)
	}
	plan.Close()
	if _, err := miner.Generate(1); err != nil {
		t.Fatal(err)
	}
	b, err := DialBitcoin(ctx, net)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var want int64
	for _, s := range []string{recv5, change3, addr(1, 0)} { // the first send's change went to change index 0
		a, _ := ParseBitcoinAddress(s, BitcoinRegtest)
		us, err := b.UTXOs(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			want += u.Value
		}
	}
	a3, _ := ParseBitcoinAddress(change3, BitcoinRegtest)
	if us, _ := b.UTXOs(ctx, a3); len(us) != 1 || us[0].Value != 2e8 {
		t.Fatalf("change index 3 holds %+v", us)
	}
	rep := w.Balances(ctx, []Network{net}, acct)
	if len(rep.Chains) != 1 || rep.Chains[0].Atomic != fmt.Sprint(want) {
		t.Fatalf("balance %+v, want %d sat", rep.Chains, want)
	}
	// and it is spendable: a send larger than the coinbases alone
	sc, err := b.scanAccount(ctx, acct.BitcoinRegtestXpub)
	if err != nil {
		t.Fatal(err)
	}
	var onChange3 bool
	for _, u := range sc.utxos {
		onChange3 = onChange3 || (u.Change == 1 && u.Index == 3)
	}
	if !onChange3 || sc.next != [2]uint32{6, 4} {
		t.Fatalf("scan: next %v, change index 3 found %v", sc.next, onChange3)
	}
}

// TestWalletBitcoinFeeBump: a send stuck in the mempool is re-sent at a
// higher fee through the speed-up path (BIP125); the node replaces the
// original, the replacement confirms, the payee is paid once, and the
// original is recorded as replaced. A cancel returns the funds.
func TestWalletBitcoinFeeBump(t *testing.T) {
	keys := abandonKeys(t)
	acct, _ := keys.Accounts(0)
	payee, _ := otherKeys(t).Accounts(0)
	w, sess, net, miner := regtestWallet(t, acct.BitcoinRegtest)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	plan, err := sess.Plan(ctx, Transfer{Amount: "1.5", Asset: "BTC", To: payee.BitcoinRegtest})
	if err != nil {
		t.Fatal(err)
	}
	first, err := sess.Execute(ctx, plan)
	plan.Close()
	if err != nil {
		t.Fatal(err)
	}
	oldFee := plan.btcPlan.Fee

	bump, err := sess.PlanReplace(ctx, first.Hash, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s := bump.Summary(); !strings.Contains(s, "Speed up "+first.Hash) || !strings.Contains(s, "BIP125") || !strings.Contains(s, "back to your address") {
		t.Fatalf("summary %q", s)
	}
	if bump.btcPlan.Fee <= oldFee {
		t.Fatalf("fee %d not above %d", bump.btcPlan.Fee, oldFee)
	}
	second, err := sess.Execute(ctx, bump)
	bump.Close()
	if err != nil {
		t.Fatal(err)
	}
	if hs := mempool(t, miner); len(hs) != 1 || hs[0].String() != second.Hash {
		t.Fatalf("mempool %v, want only the replacement %s", hs, second.Hash)
	}
	if _, err := miner.Generate(1); err != nil {
		t.Fatal(err)
	}
	if e, err := sess.Follow(ctx, second); err != nil || e.Status != "confirmed" {
		t.Fatalf("replacement: %+v %v", e, err)
	}
	if errs := w.Refresh(ctx, sess.Networks()); len(errs) != 0 {
		t.Fatal(errs)
	}
	l, _ := w.Ledger()
	status := map[string]string{}
	for _, e := range l {
		status[e.Hash] = e.Status
	}
	if status[first.Hash] != "replaced" || status[second.Hash] != "confirmed" {
		t.Fatalf("ledger %v", status)
	}
	got := w.Balances(ctx, []Network{net}, payee)
	if got.Chains[0].Amount != "1.5" {
		t.Fatalf("payee balance %+v", got.Chains)
	}
	if _, err := sess.PlanReplace(ctx, second.Hash, false, 0); err == nil {
		t.Fatal("a confirmed transaction was replaced")
	}

	// cancel: the replacement pays the account's own change address only
	plan, err = sess.Plan(ctx, Transfer{Amount: "1", Asset: "BTC", To: payee.BitcoinRegtest})
	if err != nil {
		t.Fatal(err)
	}
	third, err := sess.Execute(ctx, plan)
	plan.Close()
	if err != nil {
		t.Fatal(err)
	}
	undo, err := sess.PlanReplace(ctx, third.Hash, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	fourth, err := sess.Execute(ctx, undo)
	undo.Close()
	if err != nil {
		t.Fatal(err)
	}
	miner.Generate(1)
	h, _ := chainhash.NewHashFromStr(fourth.Hash)
	tx, err := miner.GetRawTransactionVerbose(h)
	if err != nil || tx.Confirmations < 1 || len(tx.Vout) != 1 {
		t.Fatalf("cancel: %+v %v", tx, err)
	}
	if got := w.Balances(ctx, []Network{net}, payee); got.Chains[0].Amount != "1.5" {
		t.Fatalf("payee got the cancelled payment: %+v", got.Chains)
	}
}
