package wallet

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/wallet/internal/evm"
)

// EVM is a connection to one EVM network whose chain id was verified.
type EVM struct {
	Net     Network
	Backend EVMBackend
	URL     string
	close   func()
}

// Close releases the connection.
func (e *EVM) Close() {
	if e.close != nil {
		e.close()
	}
}

// defaultRPCTimeout bounds each RPC call so a slow endpoint fails over.
const defaultRPCTimeout = 15 * time.Second

// DialEVM connects to the first RPC of net that answers and reports the
// chain id the network table expects; a node claiming another chain is
// refused, never used.
func DialEVM(ctx context.Context, net Network) (*EVM, error) {
	if net.Family != FamilyEVM {
		return nil, fmt.Errorf("%s is not an EVM network", net.Name)
	}
	if len(net.RPC) == 0 {
		return nil, &NoRPCError{Network: net.Name, Family: FamilyEVM}
	}
	var errs []string
	for _, url := range net.RPC {
		cl, err := newEthClient(url, net.RPCTimeout())
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		e, err := NewEVM(ctx, net, cl)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", url, err))
			continue
		}
		e.URL = url
		return e, nil
	}
	return nil, fmt.Errorf("%s: every RPC failed (%s)", net.Name, strings.Join(errs, "; "))
}

// NewEVM wraps a backend after checking its chain id against net.
func NewEVM(ctx context.Context, net Network, b EVMBackend) (*EVM, error) {
	cctx, cancel := context.WithTimeout(ctx, net.RPCTimeout())
	defer cancel()
	id, err := b.ChainID(cctx)
	if err != nil {
		return nil, fmt.Errorf("chain id: %w", err)
	}
	if id.Int64() != net.ChainID || !id.IsInt64() {
		return nil, fmt.Errorf("RPC reports chain id %s but %s is chain %d: refusing it (check the RPC URL)", id, net.Name, net.ChainID)
	}
	return &EVM{Net: net, Backend: b}, nil
}

// ERC-20 function selectors.
var (
	selTransfer  = []byte{0xa9, 0x05, 0x9c, 0xbb}
	selBalanceOf = []byte{0x70, 0xa0, 0x82, 0x31}
)

// erc20Transfer is the calldata of transfer(to, amount); amount must fit
// 256 bits (Plan checks).
func erc20Transfer(to EVMAddress, amount *big.Int) []byte {
	out := append([]byte(nil), selTransfer...)
	out = append(out, evm.LeftPad32(to[:])...)
	return append(out, evm.LeftPad32(amount.Bytes())...)
}

// TokenBalance reads an ERC-20 balanceOf.
func (e *EVM) TokenBalance(ctx context.Context, token, owner EVMAddress) (*big.Int, error) {
	data := append(append([]byte(nil), selBalanceOf...), evm.LeftPad32(owner[:])...)
	out, err := e.Backend.CallContract(ctx, EVMCallMsg{To: &token, Data: data}, nil)
	if err != nil {
		return nil, fmt.Errorf("balanceOf: %w", err)
	}
	if len(out) != 32 {
		return nil, fmt.Errorf("balanceOf: %s returned %d bytes; is it an ERC-20 contract?", token.Hex(), len(out))
	}
	return new(big.Int).SetBytes(out), nil
}

// Fees are EIP-1559 fee caps in wei.
type Fees struct {
	Tip, Cap, BaseFee *big.Int
	// Note says which quote was not believed and why; the plan's summary
	// carries it.
	Note string
}

// tipCeilingFloor is the least a node's priority fee suggestion may
// always reach, however quiet its recent blocks: 2 gwei.
var tipCeilingFloor = big.NewInt(2_000_000_000)

// SuggestFees derives fees from eth_feeHistory: the median priority fee of
// recent blocks and a cap of twice the next base fee plus the tip, which
// survives several full blocks. The node's own tip suggestion is taken
// when higher, but not past twice the 90th percentile its recent blocks
// paid: an RPC that quotes far above its own history is not believed
// (the fee is capped, and Note says so). When the network has a second
// RPC, its quote checks this one's: a cap more than twice the other's is
// replaced by the other's (again with a Note). The policy's fee cap and
// limits stay the last word either way.
func (e *EVM) SuggestFees(ctx context.Context) (Fees, error) {
	f, err := quoteFees(ctx, e.Backend)
	if err != nil {
		return f, err
	}
	if o, ok := e.peerFees(ctx); ok && f.Cap.Cmp(new(big.Int).Mul(o.Cap, big.NewInt(2))) > 0 {
		note := fmt.Sprintf("the RPC's fee quote (at most %s gwei per gas) is more than twice another configured RPC's (%s gwei): using the lower one", gwei(f.Cap), gwei(o.Cap))
		o.Note = strings.TrimPrefix(f.Note+"; "+note, "; ")
		f = o
	}
	return f, nil
}

// quoteFees is one node's fee quote, checked against its own history.
func quoteFees(ctx context.Context, b EVMBackend) (Fees, error) {
	fh, err := b.FeeHistory(ctx, 5, nil, []float64{50, 90})
	if err != nil {
		return Fees{}, fmt.Errorf("fee history: %w", err)
	}
	if len(fh.BaseFee) == 0 {
		return Fees{}, errors.New("fee history: node returned no base fee (is it pre-London?)")
	}
	base := fh.BaseFee[len(fh.BaseFee)-1]
	var tips []*big.Int
	ceiling := new(big.Int)
	for _, r := range fh.Reward {
		if len(r) > 0 && r[0] != nil {
			tips = append(tips, r[0])
		}
		if len(r) > 1 && r[1] != nil && r[1].Cmp(ceiling) > 0 {
			ceiling.Set(r[1])
		}
	}
	ceiling.Mul(ceiling, big.NewInt(2))
	if ceiling.Cmp(tipCeilingFloor) < 0 {
		ceiling.Set(tipCeilingFloor)
	}
	tip := big.NewInt(0)
	if len(tips) > 0 {
		sort.Slice(tips, func(i, j int) bool { return tips[i].Cmp(tips[j]) < 0 })
		tip = new(big.Int).Set(tips[len(tips)/2])
	}
	if tip.Cmp(ceiling) > 0 {
		tip = new(big.Int).Set(ceiling)
	}
	var note string
	if s, err := b.SuggestGasTipCap(ctx); err == nil && s.Cmp(tip) > 0 {
		if s.Cmp(ceiling) <= 0 {
			tip = s
		} else {
			note = fmt.Sprintf("the RPC suggested a priority fee of %s gwei, far above what its recent blocks paid: using %s gwei", gwei(s), gwei(tip))
		}
	}
	if tip.Sign() == 0 {
		tip = big.NewInt(1)
	}
	capFee := new(big.Int).Add(new(big.Int).Mul(base, big.NewInt(2)), tip)
	return Fees{Tip: tip, Cap: capFee, BaseFee: base, Note: note}, nil
}

// peerFees is the fee quote of another of the network's RPCs (the first
// that answers and serves the same chain), to check this one's against.
// A backup RPC that is down delays a send by peerTimeout at most.
func (e *EVM) peerFees(ctx context.Context) (Fees, bool) {
	if e.URL == "" {
		return Fees{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, peerTimeout)
	defer cancel()
	for _, url := range e.Net.RPC {
		if url == e.URL {
			continue
		}
		cl, err := newEthClient(url, e.Net.RPCTimeout())
		if err != nil {
			continue
		}
		o, err := NewEVM(ctx, e.Net, cl)
		if err != nil {
			continue
		}
		if f, err := quoteFees(ctx, o.Backend); err == nil {
			return f, true
		}
	}
	return Fees{}, false
}

// peerTimeout bounds the second RPC's fee quote.
const peerTimeout = 3 * time.Second

// gwei formats wei as gwei.
func gwei(v *big.Int) string { return FormatAtomic(v, 9) }

// EVMTransfer is what the user asked to send.
type EVMTransfer struct {
	From     EVMAddress
	To       EVMAddress
	Asset    string      // symbol shown to the user
	Token    *EVMAddress // nil for the native asset
	Amount   *big.Int    // base units
	Decimals int
}

// EVMPlan is a simulated, fee-estimated transaction ready for approval.
type EVMPlan struct {
	EVMTransfer
	Net      Network
	TxTo     EVMAddress
	Value    *big.Int
	Data     []byte
	Gas      uint64
	Fees     Fees
	MaxFee   *big.Int // Gas * Fees.Cap, in wei
	Balance  *big.Int // native balance at planning time
	Summary  string
	PolicyID string
}

// ResolveAsset maps a symbol or token address to (token, decimals).
func (e *EVM) ResolveAsset(ctx context.Context, asset string) (*EVMAddress, int, string, error) {
	switch {
	case strings.EqualFold(asset, e.Net.Native):
		return nil, e.Net.NativeDecimals, e.Net.Native, nil
	case strings.EqualFold(asset, "USDC"):
		if e.Net.USDC == "" {
			return nil, 0, "", fmt.Errorf("no USDC contract known on %s: set usdc for it in config", e.Net.Name)
		}
		a := evm.HexToAddress(e.Net.USDC)
		return &a, e.Net.USDCDecimals, "USDC", nil
	case strings.HasPrefix(asset, "0x"):
		a, err := ParseEVMAddress(asset)
		if err != nil {
			return nil, 0, "", err
		}
		if e.Net.USDC != "" && strings.EqualFold(a.Hex(), e.Net.USDC) {
			return &a, e.Net.USDCDecimals, "USDC", nil
		}
		return nil, 0, "", fmt.Errorf("token %s on %s is not in the network table: only %s and USDC can be sent", a.Hex(), e.Net.Name, e.Net.Native)
	}
	return nil, 0, "", fmt.Errorf("unknown asset %q on %s: use %s or USDC", asset, e.Net.Name, e.Net.Native)
}

// Plan estimates gas and fees, simulates the call with eth_call and checks
// the balance covers amount plus the maximum fee — all before any signing.
func (e *EVM) Plan(ctx context.Context, t EVMTransfer) (*EVMPlan, error) {
	if t.Amount == nil || t.Amount.Sign() <= 0 {
		return nil, errors.New("amount must be greater than zero")
	}
	if t.Amount.BitLen() > 256 {
		return nil, errors.New("amount is larger than any EVM balance can be")
	}
	p := &EVMPlan{EVMTransfer: t, Net: e.Net, TxTo: t.To, Value: t.Amount}
	if t.Token != nil {
		p.TxTo, p.Value, p.Data = *t.Token, big.NewInt(0), erc20Transfer(t.To, t.Amount)
	}
	fees, err := e.SuggestFees(ctx)
	if err != nil {
		return nil, err
	}
	p.Fees = fees
	// No fee caps here: the fee part of the balance check is ours, with a clear message.
	msg := EVMCallMsg{From: t.From, To: &p.TxTo, Value: p.Value, Data: p.Data}
	bal, err := e.Backend.BalanceAt(ctx, t.From, nil)
	if err != nil {
		return nil, fmt.Errorf("balance: %w", err)
	}
	p.Balance = bal
	if t.Token != nil {
		tb, err := e.TokenBalance(ctx, *t.Token, t.From)
		if err != nil {
			return nil, err
		}
		if tb.Cmp(t.Amount) < 0 {
			return nil, fmt.Errorf("insufficient funds: %s %s needed on %s, %s available (nothing was signed)", FormatAtomic(t.Amount, t.Decimals), t.Asset, e.Net.Name, FormatAtomic(tb, t.Decimals))
		}
	} else if bal.Cmp(t.Amount) < 0 {
		return nil, fmt.Errorf("insufficient funds: %s %s needed on %s plus fees, %s available (nothing was signed)", FormatAtomic(t.Amount, t.Decimals), t.Asset, e.Net.Name, FormatAtomic(bal, t.Decimals))
	}
	// eth_call first: a revert here would burn gas on chain.
	out, err := e.Backend.CallContract(ctx, msg, nil)
	if err != nil {
		return nil, fmt.Errorf("simulation failed, nothing was signed: %w", err)
	}
	if t.Token != nil && len(out) == 32 && new(big.Int).SetBytes(out).Sign() == 0 {
		return nil, errors.New("simulation: the token's transfer returned false, nothing was signed")
	}
	gas, err := e.Backend.EstimateGas(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("gas estimate failed, nothing was signed: %w", err)
	}
	if len(p.Data) > 0 {
		gas = gas * 12 / 10 // state can shift between estimate and inclusion
	}
	p.Gas = gas
	p.MaxFee = new(big.Int).Mul(new(big.Int).SetUint64(gas), fees.Cap)
	need := new(big.Int).Set(p.MaxFee)
	if t.Token == nil {
		need.Add(need, t.Amount)
	}
	if bal.Cmp(need) < 0 {
		return nil, fmt.Errorf("insufficient funds: %s %s needed on %s including up to %s %s in fees, %s available (nothing was signed)",
			FormatAtomic(need, e.Net.NativeDecimals), e.Net.Native, e.Net.Name, FormatAtomic(p.MaxFee, e.Net.NativeDecimals), e.Net.Native, FormatAtomic(bal, e.Net.NativeDecimals))
	}
	p.Summary = fmt.Sprintf("Send %s %s to %s on %s (%s); network fee at most %s %s",
		FormatAtomic(t.Amount, t.Decimals), t.Asset, t.To.Hex(), e.Net.Name, e.Net.CAIP2, FormatAtomic(p.MaxFee, e.Net.NativeDecimals), e.Net.Native)
	if t.Token == nil {
		p.Summary += fmt.Sprintf("; total at most %s %s", FormatAtomic(need, e.Net.NativeDecimals), e.Net.Native)
	}
	if fees.Note != "" {
		p.Summary += "; note: " + fees.Note
	}
	return p, nil
}

// LedgerEntry is one transaction sov broadcast, followed to confirmation.
type LedgerEntry struct {
	Chain      string `json:"chain"`
	Network    string `json:"network"`
	Hash       string `json:"hash"`
	Kind       string `json:"kind"` // send, pay, speedup, cancel
	From       string `json:"from"`
	To         string `json:"to"`
	Asset      string `json:"asset"`
	Amount     string `json:"amount"`
	Nonce      uint64 `json:"nonce"`
	Status     string `json:"status"` // pending, confirmed, failed, replaced
	Time       string `json:"time"`
	TxTo       string `json:"tx_to,omitempty"`
	Value      string `json:"value,omitempty"`
	Data       string `json:"data,omitempty"`
	Gas        uint64 `json:"gas,omitempty"`
	TipCap     string `json:"tip_cap,omitempty"`
	FeeCap     string `json:"fee_cap,omitempty"`
	ReplacedBy string `json:"replaced_by,omitempty"`
	Caller     string `json:"caller,omitempty"` // who asked: cli, tui, agent:<name>
	Grant      string `json:"grant,omitempty"`  // the grant it was paid under
	Policy     string `json:"policy,omitempty"` // the policy reservation id
	Block      uint64 `json:"block,omitempty"`
	ValidUntil uint64 `json:"valid_until,omitempty"` // Solana: the last block height its blockhash can land at
	Fee        string `json:"fee,omitempty"`         // the network fee it paid, in decimal units of the native asset, once mined
	Request    string `json:"request,omitempty"`     // the sha256 of the payment request it paid (see PaymentKey)
}

func ledgerKey(chain, hash string) []byte { return []byte(chain + "|" + strings.ToLower(hash)) }

func putLedger(tx *bolt.Tx, e LedgerEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketLedger).Put(ledgerKey(e.Chain, e.Hash), b)
}

// Ledger is transactions sov sent, newest first.
type Ledger []LedgerEntry

// Ledger lists every recorded transaction, newest first.
func (w *Wallet) Ledger() (Ledger, error) {
	var out Ledger
	err := withDB(w.dir, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLedger).ForEach(func(_, v []byte) error {
			var e LedgerEntry
			if json.Unmarshal(v, &e) == nil {
				out = append(out, e)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Time > out[j].Time })
	return out, err
}

// FindLedger finds a transaction by hash (any chain).
func (w *Wallet) FindLedger(hash string) (LedgerEntry, bool, error) {
	all, err := w.Ledger()
	for _, e := range all {
		if strings.EqualFold(e.Hash, hash) {
			return e, true, err
		}
	}
	return LedgerEntry{}, false, err
}

func (w *Wallet) updateLedger(chain, hash string, f func(*LedgerEntry)) error {
	return withDB(w.dir, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketLedger).Get(ledgerKey(chain, hash))
		if v == nil {
			return fmt.Errorf("transaction %s not in the ledger", hash)
		}
		var e LedgerEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		f(&e)
		return putLedger(tx, e)
	})
}

// allocNonce returns max(pending nonce, local next nonce) and records the
// next one, inside the wallet.db lock, so concurrent sends — even from two
// processes — never share a nonce. The local queue is trusted only while
// the ledger still has a pending transaction at or above the node's pending
// nonce; otherwise (a node restart dropped them) it would leave a gap that
// strands every later send.
func (w *Wallet) allocNonce(chainID int64, caip2 string, from EVMAddress, pending uint64) (uint64, error) {
	var n uint64
	key := []byte(fmt.Sprintf("%d|%s", chainID, strings.ToLower(from.Hex())))
	err := withDB(w.dir, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNonce)
		n = pending
		if v := b.Get(key); len(v) == 16 {
			local := binary.BigEndian.Uint64(v[:8])
			recent := w.now().Sub(time.Unix(int64(binary.BigEndian.Uint64(v[8:])), 0)) < nonceQueueTTL
			if local > n && (recent || hasPendingFrom(tx, caip2, from, pending)) {
				n = local
			}
		}
		return b.Put(key, nonceRecord(n+1, w.now()))
	})
	return n, err
}

func hasPendingFrom(tx *bolt.Tx, caip2 string, from EVMAddress, minNonce uint64) bool {
	found := false
	prefix := []byte(caip2 + "|")
	c := tx.Bucket(bucketLedger).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var e LedgerEntry
		if json.Unmarshal(v, &e) == nil && e.Status == "pending" && e.Nonce >= minNonce && strings.EqualFold(e.From, from.Hex()) {
			found = true
			break
		}
	}
	return found
}

// freeNonce gives back n when its transaction never reached the node, so
// no gap blocks later sends.
func (w *Wallet) freeNonce(chainID int64, from EVMAddress, n uint64) {
	key := []byte(fmt.Sprintf("%d|%s", chainID, strings.ToLower(from.Hex())))
	withDB(w.dir, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNonce)
		if v := b.Get(key); len(v) == 16 && binary.BigEndian.Uint64(v[:8]) == n+1 {
			return b.Put(key, nonceRecord(n, w.now()))
		}
		return nil
	})
}

// nonceQueueTTL is how long the local nonce queue is trusted without a
// pending ledger entry (covers sends between allocation and recording).
const nonceQueueTTL = time.Minute

func nonceRecord(next uint64, at time.Time) []byte {
	v := binary.BigEndian.AppendUint64(nil, next)
	return binary.BigEndian.AppendUint64(v, uint64(at.Unix()))
}

// Unlocker yields the keys only once the policy has allowed a request.
type Unlocker func() (*Keys, error)

// broadcastEVM signs p's transaction with a managed nonce, commits it and
// broadcasts it.
func (w *Wallet) broadcastEVM(ctx context.Context, p *Plan, keys *Keys, commit commitFunc) (LedgerEntry, error) {
	e, ep := p.evm, p.evmPlan
	key, err := keys.EVMKey(p.acct.Index)
	if err != nil {
		return LedgerEntry{}, err
	}
	w.reconcile(ctx, e, ep.From)
	pending, err := e.Backend.PendingNonceAt(ctx, ep.From)
	if err != nil {
		return LedgerEntry{}, fmt.Errorf("pending nonce: %w", err)
	}
	nonce, err := w.allocNonce(e.Net.ChainID, e.Net.CAIP2, ep.From, pending)
	if err != nil {
		return LedgerEntry{}, err
	}
	entry, err := w.signAndSend(ctx, e, key, nonce, ep.TxTo, ep.Value, ep.Data, ep.Gas, ep.Fees, commit)
	if err != nil {
		w.freeNonce(e.Net.ChainID, ep.From, nonce)
		return LedgerEntry{}, err
	}
	return entry, nil
}

func (w *Wallet) signAndSend(ctx context.Context, e *EVM, key *ecdsa.PrivateKey, nonce uint64, to EVMAddress, value *big.Int, data []byte, gas uint64, fees Fees, commit commitFunc) (LedgerEntry, error) {
	tx := &evm.Tx{
		Type: evm.DynamicFeeTxType, ChainID: big.NewInt(e.Net.ChainID), Nonce: nonce, GasTipCap: fees.Tip, GasFeeCap: fees.Cap, Gas: gas, To: &to, Value: value, Data: data,
	}
	signed, err := signEVMTx(key, tx)
	if err != nil {
		return LedgerEntry{}, err
	}
	if err := commit(signed.Hash.Hex(), nonce); err != nil {
		return LedgerEntry{}, err
	}
	if err := e.Backend.SendTransaction(ctx, signed.Raw); err != nil {
		return LedgerEntry{}, fmt.Errorf("broadcast on %s: %w", e.Net.Name, err)
	}
	var entry LedgerEntry
	entry.Chain, entry.Network, entry.Hash, entry.Nonce = e.Net.CAIP2, e.Net.Name, signed.Hash.Hex(), nonce
	entry.Status, entry.Time = "pending", w.now().UTC().Format(time.RFC3339Nano)
	entry.TxTo, entry.Value, entry.Data, entry.Gas = to.Hex(), value.String(), hex.EncodeToString(data), gas
	entry.TipCap, entry.FeeCap = fees.Tip.String(), fees.Cap.String()
	return entry, nil
}

// WaitEVM follows a ledger entry until it is mined or ctx ends, and
// records the outcome (confirmed, failed, or replaced by a sibling).
func (w *Wallet) WaitEVM(ctx context.Context, e *EVM, entry LedgerEntry) (LedgerEntry, error) {
	h := evm.HexToHash(entry.Hash)
	moved := 0 // polls in a row that saw the account's nonce past ours and no receipt
	for {
		r, err := e.Backend.TransactionReceipt(ctx, h)
		if err == nil && r != nil {
			status := "confirmed"
			if r.Status != 1 {
				status = "failed"
			}
			entry.Status, entry.Block, entry.Fee = status, r.BlockNumber.Uint64(), feeText(r, e.Net)
			if err := w.updateLedger(entry.Chain, entry.Hash, func(l *LedgerEntry) { l.Status, l.Block, l.Fee = status, entry.Block, entry.Fee }); err != nil {
				return entry, err
			}
			w.settle(ctx, entry, status)
			if status == "failed" {
				return entry, fmt.Errorf("transaction %s failed on chain (reverted)", entry.Hash)
			}
			return entry, nil
		}
		if err != nil && !errors.Is(err, ErrTxNotFound) {
			return entry, fmt.Errorf("receipt: %w", err)
		}
		// Replaced: the account's nonce moved past ours and our receipt
		// stays missing. A node can count a new block's nonces a moment
		// before it serves the block's receipts (a loaded anvil did), so
		// one sighting is not enough.
		if n, err := e.Backend.NonceAt(ctx, evm.HexToAddress(entry.From), nil); err == nil && n > entry.Nonce {
			if moved++; moved >= replacedAfter {
				entry.Status = "replaced"
				w.updateLedger(entry.Chain, entry.Hash, func(l *LedgerEntry) { l.Status = "replaced" })
				return entry, nil
			}
		} else {
			moved = 0
		}
		select {
		case <-ctx.Done():
			return entry, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// replacedAfter is how many polls in a row (250 ms apart) must see the
// nonce moved on without a receipt before a transaction counts as replaced.
const replacedAfter = 4

// ErrUnknownTransaction means a hash is not in the wallet's ledger: only
// transactions this wallet sent can be replaced.
var ErrUnknownTransaction = errors.New("not in the wallet's ledger")

// replacement is what a speed-up or cancel re-signs at the old nonce.
type replacement struct {
	old   LedgerEntry
	index uint32
	to    EVMAddress
	value *big.Int
	data  []byte
	gas   uint64
	fees  Fees
	shown string // the amount recorded in the ledger
}

// PlanReplace plans re-sending the pending transaction hash at its nonce
// with fees at least 20% higher (nodes require +10%): the same payment
// (speed-up) or a zero-value transfer to self (cancel). Execute runs it
// through the policy like any plan.
func (s *Session) PlanReplace(ctx context.Context, hash string, cancel bool, index uint32) (*Plan, error) {
	w := s.w
	old, ok, err := w.FindLedger(hash)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("transaction %s is %w", hash, ErrUnknownTransaction)
	}
	if old.Status != "pending" {
		return nil, fmt.Errorf("transaction %s is %s, not pending: nothing to replace", hash, old.Status)
	}
	net, ok := FindNetwork(s.cfg.Networks, old.Chain)
	if !ok {
		return nil, &UnknownNetworkError{Name: old.Chain}
	}
	if net.Family == FamilyBitcoin {
		return s.planReplaceBitcoin(ctx, old, net, cancel, index)
	}
	e, err := w.dial(ctx, net)
	if err != nil {
		return nil, err
	}
	p := &Plan{kind: "speedup", net: e.Net, evm: e, asset: old.Asset, from: old.From, to: old.To}
	if r, err := e.Backend.TransactionReceipt(ctx, evm.HexToHash(hash)); err == nil && r != nil {
		p.Close()
		w.updateLedger(old.Chain, old.Hash, func(l *LedgerEntry) { l.Status, l.Block = "confirmed", r.BlockNumber.Uint64() })
		return nil, fmt.Errorf("transaction %s is already mined in block %d: too late to replace", hash, r.BlockNumber)
	}
	cur, err := e.SuggestFees(ctx)
	if err != nil {
		p.Close()
		return nil, err
	}
	bump := func(s string, floor *big.Int) *big.Int {
		v, _ := new(big.Int).SetString(s, 10)
		v = new(big.Int).Div(new(big.Int).Mul(v, big.NewInt(12)), big.NewInt(10))
		v.Add(v, big.NewInt(1))
		if floor != nil && floor.Cmp(v) > 0 {
			return floor
		}
		return v
	}
	rp := &replacement{old: old, index: index, to: evm.HexToAddress(old.TxTo), value: new(big.Int), data: evm.FromHex(old.Data), gas: old.Gas,
		fees: Fees{Tip: bump(old.TipCap, cur.Tip), Cap: bump(old.FeeCap, cur.Cap)}, shown: old.Amount}
	rp.value.SetString(old.Value, 10)
	verb := "Speed up"
	if cancel {
		p.kind, p.to, verb = "cancel", old.From, "Cancel"
		rp.to, rp.value, rp.data, rp.gas, rp.shown = evm.HexToAddress(old.From), big.NewInt(0), nil, 21000, "0"
	}
	p.replace, p.maxFee = rp, new(big.Int).Mul(rp.fees.Cap, new(big.Int).SetUint64(rp.gas))
	p.summary = fmt.Sprintf("%s %s (nonce %d: %s %s to %s on %s); network fee at most %s %s", verb, hash, old.Nonce, old.Amount, old.Asset, old.To, e.Net.Name,
		FormatAtomic(p.maxFee, e.Net.NativeDecimals), e.Net.Native)
	return p, nil
}

// Replace plans and executes a speed-up or cancel as the user.
func (s *Session) Replace(ctx context.Context, hash string, cancel bool, index uint32) (LedgerEntry, error) {
	p, err := s.PlanReplace(ctx, hash, cancel, index)
	if err != nil {
		return LedgerEntry{}, err
	}
	defer p.Close()
	return s.Execute(ctx, p)
}

// broadcastReplacement signs the replacement at the old nonce with the key
// that sent the original.
func (w *Wallet) broadcastReplacement(ctx context.Context, p *Plan, keys *Keys, commit commitFunc) (LedgerEntry, error) {
	rp := p.replace
	key, err := keys.EVMKey(rp.index)
	if err != nil {
		return LedgerEntry{}, err
	}
	if !strings.EqualFold(evm.PubkeyToAddress(key.PublicKey).Hex(), rp.old.From) {
		return LedgerEntry{}, fmt.Errorf("transaction %s was sent from %s, not account index %d", rp.old.Hash, rp.old.From, rp.index)
	}
	return w.signAndSend(ctx, p.evm, key, rp.old.Nonce, rp.to, rp.value, rp.data, rp.gas, rp.fees, commit)
}

// reconcile updates this account's pending ledger entries on e's chain:
// mined ones become confirmed or failed, ones the node no longer knows
// (dropped from its pool) become dropped, so they stop holding nonces.
func (w *Wallet) reconcile(ctx context.Context, e *EVM, from EVMAddress) {
	all, err := w.Ledger()
	if err != nil {
		return
	}
	for _, l := range all {
		if l.Chain != e.Net.CAIP2 || l.Status != "pending" || !strings.EqualFold(l.From, from.Hex()) {
			continue
		}
		h := evm.HexToHash(l.Hash)
		if r, err := e.Backend.TransactionReceipt(ctx, h); err == nil && r != nil {
			status := "confirmed"
			if r.Status != 1 {
				status = "failed"
			}
			l.Fee = feeText(r, e.Net)
			w.updateLedger(l.Chain, l.Hash, func(x *LedgerEntry) { x.Status, x.Block, x.Fee = status, r.BlockNumber.Uint64(), l.Fee })
			w.settle(ctx, l, status)
			continue
		}
		if known, err := e.Backend.HasTransaction(ctx, h); err == nil && !known {
			status := "dropped"
			if l.ReplacedBy != "" {
				status = "replaced"
			}
			w.updateLedger(l.Chain, l.Hash, func(x *LedgerEntry) { x.Status = status })
			w.settle(ctx, l, status)
		}
	}
}

// Refresh follows every pending ledger entry on nets to its outcome
// (confirmed, failed, replaced or dropped); chains it cannot reach are
// returned as errors and their entries left pending.
func (w *Wallet) Refresh(ctx context.Context, nets []Network) []error {
	all, err := w.Ledger()
	if err != nil {
		return []error{err}
	}
	type key struct{ chain, from string }
	todo := map[key]bool{}
	for _, l := range all {
		if l.Status == "pending" {
			todo[key{l.Chain, l.From}] = true
		}
	}
	var errs []error
	for k := range todo {
		n, ok := FindNetwork(nets, k.chain)
		if !ok {
			errs = append(errs, fmt.Errorf("%s is no longer configured", k.chain))
			continue
		}
		switch n.Family {
		case FamilyEVM:
			e, err := w.dial(ctx, n)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			w.reconcile(ctx, e, evm.HexToAddress(k.from))
			e.Close()
		case FamilyBitcoin:
			b, err := DialBitcoin(ctx, n)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, l := range all {
				if l.Chain == k.chain && l.Status == "pending" {
					wctx, cancel := context.WithTimeout(ctx, n.RPCTimeout())
					w.WaitBitcoin(wctx, b, l)
					cancel()
				}
			}
			b.Close()
		case FamilySolana, FamilyNEAR:
			if err := w.refreshEd25519(ctx, n, k.from, all); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// settle returns to the daily budget what a mined or dropped transaction
// will never pay: a dropped one's own reservation, a reverted one's amount
// (its fee was charged), a mined one's fee above what the chain charged,
// and when a cancel is confirmed, the amount of the transactions it
// replaced (the original and any speed-ups of it). Replacements reserve
// nothing themselves: the original's reservation keeps the fee the
// replacement that was mined paid.
func (w *Wallet) settle(ctx context.Context, e LedgerEntry, status string) {
	ctx = context.WithoutCancel(ctx)
	var fee *big.Rat
	if e.Fee != "" {
		fee, _ = ParseAmount(e.Fee)
	}
	switch {
	case status == "dropped":
		w.release(ctx, e.Policy, "transaction "+status, e.Hash, nil)
	case status == "failed": // the chain still charged its fee
		w.settleSpend(ctx, e.Policy, "transaction failed", e.Hash, nil, false, true, fee)
	case status == "confirmed" && e.Kind != "cancel" && e.Kind != "speedup":
		if fee != nil {
			w.settleSpend(ctx, e.Policy, "fee paid", e.Hash, nil, true, true, fee)
		}
	case status == "confirmed":
		// a speed-up or cancel was mined in place of the transactions it
		// replaced: their reservation (the original's; replacements hold
		// none) keeps the fee it paid, and the payment unless cancelled
		all, err := w.Ledger()
		if err != nil {
			return
		}
		why := map[bool]string{true: "cancelled", false: "sped up"}[e.Kind == "cancel"]
		gone := map[string]bool{strings.ToLower(e.Hash): true}
		for more := true; more; {
			more = false
			for _, l := range all {
				if l.Chain == e.Chain && l.ReplacedBy != "" && gone[strings.ToLower(l.ReplacedBy)] && !gone[strings.ToLower(l.Hash)] {
					gone[strings.ToLower(l.Hash)], more = true, true
					w.settleSpend(ctx, l.Policy, why, l.Hash, nil, e.Kind != "cancel", true, fee)
				}
			}
		}
	}
}

// feeText is the fee r says was paid, in decimal units of n's native
// asset; empty when the node did not say.
func feeText(r *EVMReceipt, n Network) string {
	f := r.Fee()
	if f == nil {
		return ""
	}
	return FormatAtomic(f, n.NativeDecimals)
}
