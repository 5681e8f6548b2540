package wallet

import (
	"context"
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
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, err
	}
	var out []UTXO
	seen := map[wire.OutPoint]bool{}
	for skip := 0; ; skip += 100 {
		txs, err := withTimeout(ctx, b.Net.RPCTimeout(), func() ([]*btcjson.SearchRawTransactionsResult, error) {
			return b.c.SearchRawTransactionsVerbose(addr, skip, 100, false, false, nil)
		})
		if err != nil {
			if strings.Contains(err.Error(), "No information available about address") || strings.Contains(err.Error(), "No Txns available") {
				break
			}
			return nil, fmt.Errorf("searchrawtransactions (the node must keep its transaction and address indexes): %w", err)
		}
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
	return out, nil
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

// bitcoinKeys are our BIP84 receive/change keys at index.
type bitcoinKeys struct {
	recv, change *btcec.PrivateKey
}

// BitcoinPlan is a signed-to-be PSBT and its summary.
type BitcoinPlan struct {
	Packet  *psbt.Packet
	To      string
	Amount  int64
	Fee     int64
	FeeRate int64
	Change  int64
	Summary string
	inputs  []UTXO
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
	ins := make([]*wire.OutPoint, len(sel))
	seqs := make([]uint32, len(sel))
	for i, u := range sel {
		op := u.OutPoint
		ins[i] = &op
		seqs[i] = wire.MaxTxInSequenceNum - 2 // opt-in RBF, so a stuck send can be bumped
	}
	pkt, err := psbt.New(ins, outs, 2, 0, seqs)
	if err != nil {
		return nil, fmt.Errorf("build PSBT: %w", err)
	}
	up, err := psbt.NewUpdater(pkt)
	if err != nil {
		return nil, err
	}
	for i, u := range sel {
		if err := up.AddInWitnessUtxo(wire.NewTxOut(u.Value, u.PkScript), i); err != nil {
			return nil, err
		}
		if err := up.AddInSighashType(txscript.SigHashAll, i); err != nil {
			return nil, err
		}
	}
	return &BitcoinPlan{Packet: pkt, To: to.EncodeAddress(), Amount: amount, Fee: fee, FeeRate: feeRate, Change: changeAmt, inputs: sel,
		Summary: fmt.Sprintf("Send %s BTC to %s on %s; network fee %s BTC (%d sat/vB)", FormatAtomic(bigInt(amount), 8), to.EncodeAddress(), params.Name, FormatAtomic(bigInt(fee), 8), feeRate)}, nil
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

// broadcastBitcoin signs p's PSBT with the receive and change keys of the
// plan's account, commits it and broadcasts it.
func (w *Wallet) broadcastBitcoin(ctx context.Context, p *Plan, keys *Keys, commit commitFunc) (LedgerEntry, error) {
	bnet := BitcoinNet(p.net.BitcoinNet)
	signers := map[string]*btcec.PrivateKey{}
	for chain, addr := range p.btcAddr {
		k, err := keys.BitcoinKey(bnet, uint32(chain), p.acct.Index)
		if err != nil {
			return LedgerEntry{}, err
		}
		script, _ := txscript.PayToAddrScript(addr)
		signers[fmt.Sprintf("%x", script)] = k
	}
	tx, err := signPSBT(p.btcPlan, signers)
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
	recv, change := acct.BitcoinAddresses(BitcoinNet(n.BitcoinNet))
	for _, s := range []string{recv, change} {
		if s == "" {
			continue
		}
		addr, err := ParseBitcoinAddress(s, BitcoinNet(n.BitcoinNet))
		if err != nil {
			return nil, err
		}
		utxos, err := b.UTXOs(ctx, addr)
		if err != nil {
			return nil, err
		}
		for _, u := range utxos {
			sum += u.Value
		}
	}
	return []Balance{{Network: n.Name, CAIP2: n.CAIP2, Asset: n.Native, Amount: FormatAtomic(bigInt(sum), 8), Atomic: fmt.Sprint(sum), Status: "ok"}}, nil
}

func bigInt(v int64) *big.Int { return big.NewInt(v) }
