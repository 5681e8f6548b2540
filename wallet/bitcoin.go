package wallet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// BitcoinNode is a btcd (or compatible) RPC connection whose genesis block
// matches the network table. UTXOs are found with searchrawtransactions,
// so the node must run with --txindex --addrindex.
type BitcoinNode struct {
	Net    Network
	Params *chaincfg.Params
	c      *rpcclient.Client
}

// Close ends the connection.
func (b *BitcoinNode) Close() { b.c.Shutdown() }

// DialBitcoin connects to the first RPC of n ("http://user:pass@host:port")
// whose genesis hash is n's.
func DialBitcoin(ctx context.Context, n Network) (*BitcoinNode, error) {
	params, err := BitcoinNet(n.BitcoinNet).Params()
	if err != nil {
		return nil, err
	}
	if len(n.RPC) == 0 {
		return nil, &NoRPCError{Network: n.Name, Family: FamilyBitcoin}
	}
	var errs []string
	for _, raw := range n.RPC {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			errs = append(errs, fmt.Sprintf("%s: not a URL", raw))
			continue
		}
		pass, _ := u.User.Password()
		c, err := rpcclient.New(&rpcclient.ConnConfig{Host: u.Host, User: u.User.Username(), Pass: pass, HTTPPostMode: true, DisableTLS: u.Scheme != "https"}, nil)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", u.Host, err))
			continue
		}
		h, err := withTimeout(ctx, n.RPCTimeout(), func() (*chainhash.Hash, error) { return c.GetBlockHash(0) })
		if err != nil {
			c.Shutdown()
			errs = append(errs, fmt.Sprintf("%s: %v", u.Host, err))
			continue
		}
		if !h.IsEqual(params.GenesisHash) {
			c.Shutdown()
			errs = append(errs, fmt.Sprintf("%s: node is on another chain (genesis %s), not %s: refusing it", u.Host, h, n.BitcoinNet))
			continue
		}
		return &BitcoinNode{Net: n, Params: params, c: c}, nil
	}
	return nil, fmt.Errorf("%s: every RPC failed (%s)", n.Name, strings.Join(errs, "; "))
}

// withTimeout runs a blocking rpcclient call under ctx and timeout.
func withTimeout[T any](ctx context.Context, timeout time.Duration, f func() (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type res struct {
		v   T
		err error
	}
	ch := make(chan res, 1)
	go func() { v, err := f(); ch <- res{v, err} }()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("bitcoin RPC: %w", ctx.Err())
	}
}

// UTXO is one spendable output of ours.
type UTXO struct {
	OutPoint wire.OutPoint
	Value    int64
	PkScript []byte
	Change   uint32 // 0 receive, 1 change
	Index    uint32
	Confs    int64
}

// UTXOs lists unspent outputs paying addr.
func (b *BitcoinNode) UTXOs(ctx context.Context, addr btcutil.Address) ([]UTXO, error) {
	us, _, err := b.addrUTXOs(ctx, addr)
	return us, err
}

// addrUTXOs lists unspent outputs paying addr, and whether any transaction
// (mempool included) ever touched it.
func (b *BitcoinNode) addrUTXOs(ctx context.Context, addr btcutil.Address) ([]UTXO, bool, error) {
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, false, err
	}
	var out []UTXO
	used := false
	seen := map[wire.OutPoint]bool{}
	for skip := 0; ; skip += 100 {
		txs, err := withTimeout(ctx, b.Net.RPCTimeout(), func() ([]*btcjson.SearchRawTransactionsResult, error) {
			return b.c.SearchRawTransactionsVerbose(addr, skip, 100, false, false, nil)
		})
		if err != nil {
			if strings.Contains(err.Error(), "No information available about address") || strings.Contains(err.Error(), "No Txns available") {
				break
			}
			return nil, false, fmt.Errorf("searchrawtransactions (the node must keep its transaction and address indexes): %w", err)
		}
		used = used || len(txs) > 0
		for _, tx := range txs {
			h, err := chainhash.NewHashFromStr(tx.Txid)
			if err != nil {
				continue
			}
			for _, vout := range tx.Vout {
				if vout.ScriptPubKey.Hex != fmt.Sprintf("%x", script) {
					continue
				}
				op := wire.OutPoint{Hash: *h, Index: vout.N}
				if seen[op] {
					continue
				}
				seen[op] = true
				res, err := withTimeout(ctx, b.Net.RPCTimeout(), func() (*btcjson.GetTxOutResult, error) { return b.c.GetTxOut(h, vout.N, true) })
				if err != nil || res == nil {
					continue // spent
				}
				if res.Coinbase && res.Confirmations < int64(b.Params.CoinbaseMaturity) {
					continue // immature
				}
				amt, err := btcutil.NewAmount(res.Value)
				if err != nil {
					continue
				}
				out = append(out, UTXO{OutPoint: op, Value: int64(amt), PkScript: script, Confs: res.Confirmations})
			}
		}
		if len(txs) < 100 {
			break
		}
	}
	return out, used, nil
}

// GapLimit is how many unused addresses in a row end the scan of a BIP84
// chain (BIP44's gap limit), as other wallets use it.
const GapLimit = 20

// bitcoinScan is what a gap-limit scan of one BIP84 account found.
type bitcoinScan struct {
	account *hdkeychain.ExtendedKey
	params  *chaincfg.Params
	utxos   []UTXO
	next    [2]uint32            // first unused index after the last used one, per chain
	owned   map[string][2]uint32 // hex script -> (chain, index) of each address looked at
}

// address is the P2WPKH address at (chain, index) of the scanned account.
func (sc *bitcoinScan) address(chain, index uint32) (btcutil.Address, []byte, error) {
	k, err := sc.account.Derive(chain)
	if err == nil {
		k, err = k.Derive(index)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("bip32 derive: %w", err)
	}
	pub, err := k.ECPubKey()
	if err != nil {
		return nil, nil, err
	}
	a, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), sc.params)
	if err != nil {
		return nil, nil, err
	}
	script, err := txscript.PayToAddrScript(a)
	return a, script, err
}

// scanAccount walks the receive and change chains of the account whose
// extended public key is xpub until GapLimit addresses in a row were never
// used, collecting the spendable outputs: a wallet imported from another
// BIP84 app shows all of its balance, not only its first addresses'.
func (b *BitcoinNode) scanAccount(ctx context.Context, xpub string) (*bitcoinScan, error) {
	acct, err := hdkeychain.NewKeyFromString(xpub)
	if err != nil || acct.IsPrivate() {
		return nil, fmt.Errorf("%w: the cached Bitcoin account key is not an extended public key", ErrStaleAccounts)
	}
	if !acct.IsForNet(b.Params) {
		return nil, fmt.Errorf("%w: the cached Bitcoin account key is not for %s", ErrStaleAccounts, b.Params.Name)
	}
	sc := &bitcoinScan{account: acct, params: b.Params, owned: map[string][2]uint32{}}
	for chain := uint32(0); chain < 2; chain++ {
		for i, gap := uint32(0), 0; gap < GapLimit; i++ {
			a, script, err := sc.address(chain, i)
			if err != nil {
				return nil, err
			}
			sc.owned[fmt.Sprintf("%x", script)] = [2]uint32{chain, i}
			us, used, err := b.addrUTXOs(ctx, a)
			if err != nil {
				return nil, err
			}
			if !used {
				gap++
				continue
			}
			gap, sc.next[chain] = 0, i+1
			for _, u := range us {
				u.Change, u.Index = chain, i
				sc.utxos = append(sc.utxos, u)
			}
		}
	}
	return sc, nil
}

// FeeRate returns sat/vB from estimatefee, or the floor when the node has
// no estimate yet (a quiet regtest or a fresh node).
func (b *BitcoinNode) FeeRate(ctx context.Context, floor int64) int64 {
	if v, err := withTimeout(ctx, b.Net.RPCTimeout(), func() (float64, error) { return b.c.EstimateFee(6) }); err == nil && v > 0 {
		// BTC per kB -> sat per vB
		if r := int64(math.Ceil(v * 1e8 / 1000)); r > floor {
			return r
		}
	}
	return floor
}

// BitcoinPlan is a signed-to-be PSBT and its summary.
type BitcoinPlan struct {
	Packet  *psbt.Packet
	To      string
	Amount  int64
	Fee     int64
	FeeRate int64
	Change  int64
	// ChangeAddress is where Change goes (empty when the remainder was
	// dust and went to the fee).
	ChangeAddress string
	Summary       string
	inputs        []UTXO
	changeOut     int    // index of the change output; -1: none
	changeIndex   uint32 // its index on the account's change chain
}

// p2wpkhVsize is the virtual size of a transaction spending ins P2WPKH
// inputs to outs, whatever their script types: the stripped size is exact,
// each witness at most 108 bytes (a 72-byte signature and a key).
func p2wpkhVsize(ins int, outs []*wire.TxOut) int64 {
	tx := wire.NewMsgTx(2)
	for range ins {
		tx.AddTxIn(&wire.TxIn{})
	}
	for _, o := range outs {
		tx.AddTxOut(o)
	}
	weight := int64(tx.SerializeSizeStripped())*4 + 2 + int64(ins)*108
	return (weight + 3) / 4
}

// vbytes estimates a P2WPKH transaction's virtual size.
func vbytes(ins, outs int) int64 { return int64(11 + 68*ins + 31*outs) }

const dustP2WPKH = 294

// PlanBitcoin selects UTXOs (largest first) and builds an unsigned PSBT
// with change back to our change address; it checks funds including fees.
func PlanBitcoin(utxos []UTXO, to btcutil.Address, amount, feeRate int64, change btcutil.Address, params *chaincfg.Params) (*BitcoinPlan, error) {
	if amount <= dustP2WPKH {
		return nil, fmt.Errorf("amount %d sat is below the dust limit", amount)
	}
	sort.Slice(utxos, func(i, j int) bool { return utxos[i].Value > utxos[j].Value })
	var sel []UTXO
	var total int64
	fee := vbytes(1, 2) * feeRate
	for _, u := range utxos {
		sel = append(sel, u)
		total += u.Value
		fee = vbytes(len(sel), 2) * feeRate
		if total >= amount+fee {
			break
		}
	}
	if total < amount+fee {
		return nil, fmt.Errorf("insufficient funds: %s BTC plus about %s BTC in fees needed, %s BTC spendable (nothing was signed)",
			FormatAtomic(bigInt(amount), 8), FormatAtomic(bigInt(fee), 8), FormatAtomic(bigInt(total), 8))
	}
	toScript, err := txscript.PayToAddrScript(to)
	if err != nil {
		return nil, err
	}
	outs := []*wire.TxOut{wire.NewTxOut(amount, toScript)}
	changeAmt := total - amount - fee
	if changeAmt > dustP2WPKH {
		cs, err := txscript.PayToAddrScript(change)
		if err != nil {
			return nil, err
		}
		outs = append(outs, wire.NewTxOut(changeAmt, cs))
	} else {
		fee += changeAmt // dust change goes to the miner
		changeAmt = 0
	}
	pkt, err := buildPSBT(sel, outs)
	if err != nil {
		return nil, err
	}
	bp := &BitcoinPlan{Packet: pkt, To: to.EncodeAddress(), Amount: amount, Fee: fee, FeeRate: feeRate, Change: changeAmt, inputs: sel, changeOut: -1}
	if changeAmt > 0 {
		bp.ChangeAddress, bp.changeOut = change.EncodeAddress(), 1
	}
	bp.Summary = fmt.Sprintf("Send %s BTC to %s on %s; network fee %s BTC (%d sat/vB); %s", FormatAtomic(bigInt(amount), 8), to.EncodeAddress(), params.Name, FormatAtomic(bigInt(fee), 8), feeRate, bp.changeText())
	return bp, nil
}

// changeText names where the change goes, so the approved summary shows
// every output.
func (p *BitcoinPlan) changeText() string {
	if p.changeOut < 0 {
		return "no change (the remainder is dust and goes to the fee)"
	}
	return fmt.Sprintf("change %s BTC back to your address %s", FormatAtomic(bigInt(p.Change), 8), p.ChangeAddress)
}

// buildPSBT is an unsigned version-2 PSBT spending ins (each signalling
// BIP125 replaceability, so a stuck send can be bumped) to outs.
func buildPSBT(ins []UTXO, outs []*wire.TxOut) (*psbt.Packet, error) {
	ops := make([]*wire.OutPoint, len(ins))
	seqs := make([]uint32, len(ins))
	for i, u := range ins {
		op := u.OutPoint
		ops[i] = &op
		seqs[i] = wire.MaxTxInSequenceNum - 2
	}
	pkt, err := psbt.New(ops, outs, 2, 0, seqs)
	if err != nil {
		return nil, fmt.Errorf("build PSBT: %w", err)
	}
	up, err := psbt.NewUpdater(pkt)
	if err != nil {
		return nil, err
	}
	for i, u := range ins {
		if err := up.AddInWitnessUtxo(wire.NewTxOut(u.Value, u.PkScript), i); err != nil {
			return nil, err
		}
		if err := up.AddInSighashType(txscript.SigHashAll, i); err != nil {
			return nil, err
		}
	}
	return pkt, nil
}

// signPSBT signs every input with the key that owns its script and
// finalises the packet.
func signPSBT(p *BitcoinPlan, keys map[string]*btcec.PrivateKey) (*wire.MsgTx, error) {
	pkt := p.Packet
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	for i, in := range pkt.UnsignedTx.TxIn {
		fetcher.AddPrevOut(in.PreviousOutPoint, pkt.Inputs[i].WitnessUtxo)
	}
	hashes := txscript.NewTxSigHashes(pkt.UnsignedTx, fetcher)
	up, err := psbt.NewUpdater(pkt)
	if err != nil {
		return nil, err
	}
	for i := range pkt.Inputs {
		wu := pkt.Inputs[i].WitnessUtxo
		key, ok := keys[fmt.Sprintf("%x", wu.PkScript)]
		if !ok {
			return nil, fmt.Errorf("PSBT input %d is not ours", i)
		}
		sig, err := txscript.RawTxInWitnessSignature(pkt.UnsignedTx, hashes, i, wu.Value, wu.PkScript, txscript.SigHashAll, key)
		if err != nil {
			return nil, fmt.Errorf("sign input %d: %w", i, err)
		}
		if outcome, err := up.Sign(i, sig, key.PubKey().SerializeCompressed(), nil, nil); err != nil || outcome != psbt.SignSuccesful {
			return nil, fmt.Errorf("PSBT sign input %d: %v", i, err)
		}
	}
	if err := psbt.MaybeFinalizeAll(pkt); err != nil {
		return nil, fmt.Errorf("finalise PSBT: %w", err)
	}
	return psbt.Extract(pkt)
}

// ErrNotDerived means an address a Bitcoin plan spends from or sends
// change to is not the one the unlocked seed derives at its place: the
// cached account key was altered. Nothing is signed.
var ErrNotDerived = errors.New("address not derived from this wallet's seed")

// broadcastBitcoin signs p's PSBT, commits it and broadcasts it. Every key
// and the change output are derived again from the unlocked seed first:
// an input whose script is not the seed's at its (chain, index), or a
// change output not paying the seed's change address, stops the send.
func (w *Wallet) broadcastBitcoin(ctx context.Context, p *Plan, keys *Keys, commit commitFunc) (LedgerEntry, error) {
	bnet := BitcoinNet(p.net.BitcoinNet)
	bp := p.btcPlan
	derive := func(chain, index uint32) (*btcec.PrivateKey, []byte, error) {
		k, err := keys.BitcoinKey(bnet, bitcoinAccount, chain, index)
		if err != nil {
			return nil, nil, err
		}
		a, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(k.PubKey().SerializeCompressed()), p.btc.Params)
		if err != nil {
			return nil, nil, err
		}
		script, err := txscript.PayToAddrScript(a)
		return k, script, err
	}
	signers := map[string]*btcec.PrivateKey{}
	for _, u := range bp.inputs {
		k, script, err := derive(u.Change, u.Index)
		if err != nil {
			return LedgerEntry{}, err
		}
		if !bytes.Equal(script, u.PkScript) {
			return LedgerEntry{}, fmt.Errorf("input %s (chain %d, index %d): %w; nothing was signed", u.OutPoint, u.Change, u.Index, ErrNotDerived)
		}
		signers[fmt.Sprintf("%x", script)] = k
	}
	if bp.changeOut >= 0 {
		_, script, err := derive(1, bp.changeIndex)
		if err != nil {
			return LedgerEntry{}, err
		}
		if !bytes.Equal(script, bp.Packet.UnsignedTx.TxOut[bp.changeOut].PkScript) {
			return LedgerEntry{}, fmt.Errorf("change address %s (change index %d): %w; nothing was signed", bp.ChangeAddress, bp.changeIndex, ErrNotDerived)
		}
	}
	tx, err := signPSBT(bp, signers)
	if err != nil {
		return LedgerEntry{}, err
	}
	if err := commit(tx.TxHash().String(), 0); err != nil {
		return LedgerEntry{}, err
	}
	b := p.btc
	h, err := withTimeout(ctx, b.Net.RPCTimeout(), func() (*chainhash.Hash, error) { return b.c.SendRawTransaction(tx, false) })
	if err != nil {
		return LedgerEntry{}, fmt.Errorf("broadcast on %s: %w", b.Net.Name, err)
	}
	return LedgerEntry{Hash: h.String(), Status: "pending"}, nil
}

// WaitBitcoin follows a transaction until it has a confirmation.
func (w *Wallet) WaitBitcoin(ctx context.Context, b *BitcoinNode, entry LedgerEntry) (LedgerEntry, error) {
	h, err := chainhash.NewHashFromStr(entry.Hash)
	if err != nil {
		return entry, err
	}
	for {
		res, err := withTimeout(ctx, b.Net.RPCTimeout(), func() (*btcjson.TxRawResult, error) { return b.c.GetRawTransactionVerbose(h) })
		if err == nil && res.Confirmations > 0 {
			entry.Status = "confirmed"
			return entry, w.updateLedger(entry.Chain, entry.Hash, func(l *LedgerEntry) { l.Status = "confirmed" })
		}
		// A fee bump's original leaves the node once its replacement is in.
		if err != nil && entry.ReplacedBy != "" && strings.Contains(err.Error(), "No information available about transaction") {
			entry.Status = "replaced"
			return entry, w.updateLedger(entry.Chain, entry.Hash, func(l *LedgerEntry) { l.Status = "replaced" })
		}
		select {
		case <-ctx.Done():
			return entry, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func bitcoinBalances(ctx context.Context, n Network, acct Accounts) ([]Balance, error) {
	b, err := DialBitcoin(ctx, n)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	var sum int64
	xpub := acct.BitcoinXpubFor(BitcoinNet(n.BitcoinNet))
	if xpub == "" {
		return nil, fmt.Errorf("%w: no Bitcoin account key for account %d", ErrStaleAccounts, acct.Index)
	}
	sc, err := b.scanAccount(ctx, xpub)
	if err != nil {
		return nil, err
	}
	for _, u := range sc.utxos {
		sum += u.Value
	}
	return []Balance{{Network: n.Name, CAIP2: n.CAIP2, Asset: n.Native, Amount: FormatAtomic(bigInt(sum), 8), Atomic: fmt.Sprint(sum), Status: "ok"}}, nil
}

func bigInt(v int64) *big.Int { return big.NewInt(v) }

// planBitcoin finds the account's spendable outputs by a gap-limit scan
// from its cached extended public key and plans the send, change to the
// first unused change address. Nothing here is trusted with money: the
// keys, inputs and change address are derived again from the seed before
// signing (see broadcastBitcoin).
func planBitcoin(ctx context.Context, p *Plan, t Transfer) error {
	sats, err := ToAtomic(t.Amount, 8)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidTransfer, err)
	}
	if sats.Sign() <= 0 || !sats.IsInt64() || sats.Int64() > 21_000_000*100_000_000 {
		return invalidf("amount %s BTC is out of range", t.Amount)
	}
	bnet := BitcoinNet(p.net.BitcoinNet)
	dest, err := ParseBitcoinAddress(t.To, bnet)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidTransfer, err)
	}
	xpub := p.acct.BitcoinXpubFor(bnet)
	if xpub == "" {
		return fmt.Errorf("%w: no %s account key cached for account %d", ErrStaleAccounts, bnet, p.acct.Index)
	}
	b, err := DialBitcoin(ctx, p.net)
	if err != nil {
		return err
	}
	p.btc = b
	sc, err := b.scanAccount(ctx, xpub)
	if err != nil {
		return err
	}
	change, _, err := sc.address(1, sc.next[1])
	if err != nil {
		return err
	}
	bp, err := PlanBitcoin(sc.utxos, dest, sats.Int64(), b.FeeRate(ctx, feeFloor(t.MinFeeRate)), change, b.Params)
	if err != nil {
		return err
	}
	bp.changeIndex = sc.next[1]
	recv, _ := p.acct.BitcoinAddresses(bnet)
	p.btcPlan = bp
	p.asset, p.decimals, p.amount, p.from = "BTC", 8, sats, recv
	p.maxFee, p.summary = big.NewInt(bp.Fee), bp.Summary
	return nil
}

// feeFloor is the lowest fee rate used when the node has no estimate.
func feeFloor(min int64) int64 {
	if min <= 0 {
		return 2
	}
	return min
}

// planReplaceBitcoin plans a BIP125 replacement of our pending transaction
// old: the same inputs, paying at least the original's fee plus the relay
// fee of the new one, at a higher rate. A speed-up keeps every output and
// takes the extra fee from the change; a cancel sends everything back to
// the account's change address.
func (s *Session) planReplaceBitcoin(ctx context.Context, old LedgerEntry, net Network, cancel bool, index uint32) (*Plan, error) {
	acct, err := s.Accounts(index)
	if err != nil {
		return nil, err
	}
	bnet := BitcoinNet(net.BitcoinNet)
	xpub := acct.BitcoinXpubFor(bnet)
	if xpub == "" {
		return nil, fmt.Errorf("%w: no %s account key cached for account %d", ErrStaleAccounts, bnet, index)
	}
	h, err := chainhash.NewHashFromStr(old.Hash)
	if err != nil {
		return nil, fmt.Errorf("transaction id %q: %w", old.Hash, err)
	}
	b, err := DialBitcoin(ctx, net)
	if err != nil {
		return nil, err
	}
	p := &Plan{kind: "speedup", net: net, btc: b, asset: "BTC", decimals: 8, from: old.From, to: old.To, acct: acct}
	fail := func(err error) (*Plan, error) { p.Close(); return nil, err }
	raw, err := withTimeout(ctx, net.RPCTimeout(), func() (*btcjson.TxRawResult, error) { return b.c.GetRawTransactionVerbose(h) })
	if err != nil {
		return fail(fmt.Errorf("transaction %s is unknown to the node (dropped?): %w", old.Hash, err))
	}
	if raw.Confirmations > 0 {
		s.w.updateLedger(old.Chain, old.Hash, func(l *LedgerEntry) { l.Status = "confirmed" })
		return fail(fmt.Errorf("transaction %s is already confirmed: too late to replace", old.Hash))
	}
	txr, err := withTimeout(ctx, net.RPCTimeout(), func() (*btcutil.Tx, error) { return b.c.GetRawTransaction(h) })
	if err != nil {
		return fail(err)
	}
	tx := txr.MsgTx()
	// What is re-signed comes from the node: it must be the very
	// transaction we signed (and its inputs the outputs they claim to be).
	if tx.TxHash() != *h {
		return fail(fmt.Errorf("the node returned another transaction for %s: refusing to replace it", old.Hash))
	}
	sc, err := b.scanAccount(ctx, xpub)
	if err != nil {
		return fail(err)
	}
	var ins []UTXO
	var inSum, outSum int64
	for _, in := range tx.TxIn {
		prevHash := in.PreviousOutPoint.Hash
		prev, err := withTimeout(ctx, net.RPCTimeout(), func() (*btcutil.Tx, error) { return b.c.GetRawTransaction(&prevHash) })
		if err != nil {
			return fail(fmt.Errorf("input %s: %w", in.PreviousOutPoint, err))
		}
		if prev.MsgTx().TxHash() != prevHash || int(in.PreviousOutPoint.Index) >= len(prev.MsgTx().TxOut) {
			return fail(fmt.Errorf("input %s: no such output", in.PreviousOutPoint))
		}
		out := prev.MsgTx().TxOut[in.PreviousOutPoint.Index]
		at, ok := sc.owned[fmt.Sprintf("%x", out.PkScript)]
		if !ok {
			return fail(fmt.Errorf("transaction %s spends %s, which is not this wallet's: only its own sends can be replaced", old.Hash, in.PreviousOutPoint))
		}
		ins = append(ins, UTXO{OutPoint: in.PreviousOutPoint, Value: out.Value, PkScript: out.PkScript, Change: at[0], Index: at[1]})
		inSum += out.Value
	}
	changeOut, changeIndex := -1, sc.next[1]
	for i, o := range tx.TxOut {
		outSum += o.Value
		if at, ok := sc.owned[fmt.Sprintf("%x", o.PkScript)]; ok && at[0] == 1 {
			changeOut, changeIndex = i, at[1]
		}
	}
	oldFee := inSum - outSum
	oldRate := (oldFee + int64(raw.Vsize) - 1) / max(int64(raw.Vsize), 1)
	rate := max(b.FeeRate(ctx, feeFloor(0)), oldRate+max(1, oldRate/4))
	changeAddr, changeScript, err := sc.address(1, changeIndex)
	if err != nil {
		return fail(err)
	}
	var outs []*wire.TxOut
	var fee int64
	if cancel {
		outs, changeOut = []*wire.TxOut{wire.NewTxOut(0, changeScript)}, 0
	} else {
		if changeOut < 0 {
			return fail(fmt.Errorf("transaction %s has no change output to pay a higher fee from: it cannot be sped up, only cancelled", old.Hash))
		}
		for _, o := range tx.TxOut {
			outs = append(outs, wire.NewTxOut(o.Value, o.PkScript))
		}
	}
	// BIP125: a higher rate, and at least the replaced fee plus the relay
	// fee (1 sat/vB) of the replacement's own size.
	vs := p2wpkhVsize(len(ins), outs)
	fee = max(rate*vs, oldFee+vs)
	if cancel {
		outs[0].Value = inSum - fee
	} else {
		outs[changeOut].Value -= fee - oldFee
	}
	if outs[changeOut].Value <= dustP2WPKH {
		what := "its change"
		if cancel {
			what = "what it spends"
		}
		return fail(fmt.Errorf("transaction %s: %s cannot pay a network fee of %s BTC", old.Hash, what, FormatAtomic(bigInt(fee), 8)))
	}
	pkt, err := buildPSBT(ins, outs)
	if err != nil {
		return fail(err)
	}
	bp := &BitcoinPlan{Packet: pkt, To: old.To, Fee: fee, FeeRate: (fee + vs - 1) / vs, Change: outs[changeOut].Value, ChangeAddress: changeAddr.EncodeAddress(),
		inputs: ins, changeOut: changeOut, changeIndex: changeIndex}
	p.btcPlan, p.maxFee = bp, big.NewInt(fee)
	p.replace = &replacement{old: old, index: index, shown: old.Amount}
	verb := "Speed up"
	if cancel {
		p.kind, p.to, p.replace.shown, verb = "cancel", bp.ChangeAddress, "0", "Cancel"
	}
	p.summary = fmt.Sprintf("%s %s (%s BTC to %s on %s) by replacing it (BIP125); network fee %s BTC (%d sat/vB), was %s BTC; %s", verb, old.Hash, old.Amount, old.To, net.Name,
		FormatAtomic(bigInt(fee), 8), bp.FeeRate, FormatAtomic(bigInt(oldFee), 8), bp.changeText())
	return p, nil
}
