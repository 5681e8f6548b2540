package wallet

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/sovos/sov/wallet/internal/evm"
)

// Transfer is what a caller asks for: an amount of an asset to an address.
// Everything else (chain, fees, the summary the user approves) is resolved
// by Plan.
type Transfer struct {
	Amount  string // decimal units of Asset, e.g. "0.01"
	Asset   string // ETH, POL, USDC, BTC, SOL, NEAR or a known token contract
	To      string // address or NEAR account
	Network string // network name or CAIP-2 id; empty picks the one that fits
	Account uint32 // account index
	// MinFeeRate is the Bitcoin fee rate floor in sat/vB, used when the node
	// has no estimate (default 2).
	MinFeeRate int64
}

// ErrInvalidTransfer wraps every reason a transfer cannot be planned that
// lies in the request itself (amount, asset, address, network).
var ErrInvalidTransfer = errors.New("invalid transfer")

// NetworkChoiceError means the network could not be chosen: none of the
// family has an RPC, or several fit and the caller must name one.
type NetworkChoiceError struct {
	Family     string
	Address    string
	Configured []string // networks of the family with an RPC
	Candidates []string // those of them the address fits
}

// Unwrap is ErrNoNetworks when no network of the family has an RPC.
func (e *NetworkChoiceError) Unwrap() error {
	if len(e.Configured) == 0 {
		return ErrNoNetworks
	}
	return nil
}

func (e *NetworkChoiceError) Error() string {
	switch {
	case len(e.Configured) == 0:
		return fmt.Sprintf("no %s network has an RPC configured", e.Family)
	case len(e.Candidates) == 0:
		return fmt.Sprintf("%s fits none of the configured %s networks (%s)", e.Address, e.Family, strings.Join(e.Configured, ", "))
	}
	return fmt.Sprintf("several %s networks fit %s (%s): name one", e.Family, e.Address, strings.Join(e.Candidates, ", "))
}

// UnknownNetworkError means a named network is not in the network table.
type UnknownNetworkError struct{ Name string }

func (e *UnknownNetworkError) Error() string { return fmt.Sprintf("unknown network %q", e.Name) }

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidTransfer, fmt.Sprintf(format, a...))
}

// Plan is a transfer resolved and checked before any signing: the network,
// the asset and its atomic amount, the fee bound, and the one-line summary
// the user approves. Its fields are unexported on purpose: the summary is
// always the one derived here, and what is executed is exactly what was
// summarised.
type Plan struct {
	kind     string
	net      Network
	asset    string
	decimals int
	amount   *big.Int
	from, to string
	maxFee   *big.Int // in the native asset's atomic units
	summary  string
	acct     Accounts

	evm     *EVM
	evmPlan *EVMPlan
	btc     *BitcoinNode
	btcPlan *BitcoinPlan
	near    struct {
		nonce uint64
		block []byte
	}
	solFrom  ed25519.PublicKey
	replace  *replacement // a speed-up or cancel: no new amount
	call     *callInfo    // a contract call's selector and calldata digest
	warnings []string     // see warn
	route    *Route       // the payment route it was chosen from, closed with it
	// a payment request's: its PaymentKey, whether the user pays it again,
	// and the deadline (zero: none) and what set it
	payKey     string
	again      bool
	deadline   time.Time
	deadlineBy string
}

// Summary is the line shown for approval.
func (p *Plan) Summary() string { return p.summary }

// Network is the chosen network.
func (p *Plan) Network() Network { return p.net }

// Kind is send, pay, speedup, cancel or call.
func (p *Plan) Kind() string { return p.kind }

// Close releases the plan's connections.
func (p *Plan) Close() {
	if p.evm != nil {
		p.evm.Close()
	}
	if p.btc != nil {
		p.btc.Close()
	}
	if p.route != nil {
		p.route.Close()
	}
}

// amountText is the amount in decimal units; a replacement shows the
// original's (or 0 for a cancel).
func (p *Plan) amountText() string {
	if p.replace != nil {
		return p.replace.shown
	}
	return FormatAtomic(p.amount, p.decimals)
}

// planView is the JSON form of a plan.
type planView struct {
	Kind    string `json:"kind"`
	Network string `json:"network"`
	Chain   string `json:"chain"`
	Asset   string `json:"asset"`
	Amount  string `json:"amount"`
	From    string `json:"from"`
	To      string `json:"to"`
	MaxFee  string `json:"max_fee"`
	Summary string `json:"summary"`
}

// MarshalJSON shows the plan (read-only).
func (p *Plan) MarshalJSON() ([]byte, error) {
	return json.Marshal(planView{p.kind, p.net.Name, p.net.CAIP2, p.asset, p.amountText(), p.from, p.to,
		FormatAtomic(p.maxFee, p.net.NativeDecimals) + " " + p.net.Native, p.summary})
}

var familyNames = map[string]string{FamilyEVM: "EVM", FamilyBitcoin: "Bitcoin", FamilySolana: "Solana", FamilyNEAR: "NEAR"}

// familyOf is the chain family an asset symbol is sent on.
func familyOf(asset string) string {
	switch strings.ToUpper(asset) {
	case "BTC":
		return FamilyBitcoin
	case "SOL":
		return FamilySolana
	case "NEAR":
		return FamilyNEAR
	}
	return FamilyEVM
}

// pickNetwork chooses the network for family: the named one, or the only
// configured network of that family that fits.
func pickNetwork(nets []Network, family, name, addr string, fits func(Network) bool) (Network, error) {
	if name != "" {
		n, ok := FindNetwork(nets, name)
		if !ok {
			return n, &UnknownNetworkError{Name: name}
		}
		if n.Family != family {
			return n, invalidf("network %s is %s, but %s is sent on %s networks", n.Name, n.Family, addr, family)
		}
		if fits != nil && !fits(n) {
			return n, invalidf("%s is not an address of network %s", addr, n.Name)
		}
		return n, nil
	}
	var cands []Network
	e := &NetworkChoiceError{Family: family, Address: addr}
	for _, n := range nets {
		if n.Family == family && len(n.RPC) > 0 {
			e.Configured = append(e.Configured, n.Name)
			if fits == nil || fits(n) {
				cands = append(cands, n)
				e.Candidates = append(e.Candidates, n.Name)
			}
		}
	}
	if len(cands) == 1 {
		return cands[0], nil
	}
	return Network{}, e
}

// Plan resolves t on the networks nets for the accounts acct: it picks the
// network, checks the address and amount, queries balances and fees and
// simulates where the chain allows, all before anything is signed.
func (w *Wallet) Plan(ctx context.Context, t Transfer, nets []Network, acct Accounts) (*Plan, error) {
	if _, err := ParseAmount(t.Amount); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidTransfer, err)
	}
	kind, err := ClassifyAddress(t.To)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidTransfer, err)
	}
	family := familyOf(t.Asset)
	if !kind.Is(family) {
		if kind.Is(FamilyBitcoin) && family == FamilyEVM {
			return nil, invalidf("%s is a Bitcoin address: only BTC can be sent to it", t.To)
		}
		names := make([]string, len(kind.Families))
		for i, f := range kind.Families {
			names[i] = familyNames[f]
		}
		return nil, invalidf("%s is a %s address, so %s (sent on %s networks) cannot be sent to it", t.To, strings.Join(names, " or "), strings.ToUpper(t.Asset), familyNames[family])
	}
	var fits func(Network) bool
	if family == FamilyBitcoin {
		fits = func(n Network) bool { _, err := ParseBitcoinAddress(t.To, BitcoinNet(n.BitcoinNet)); return err == nil }
	}
	net, err := pickNetwork(nets, family, t.Network, t.To, fits)
	if err != nil {
		return nil, err
	}
	if err := w.checkIdentity(ctx, net); err != nil {
		return nil, err
	}
	p := &Plan{kind: "send", net: net, to: t.To, acct: acct}
	switch family {
	case FamilyEVM:
		err = w.planEVM(ctx, p, t)
	case FamilyBitcoin:
		err = planBitcoin(ctx, p, t)
	case FamilySolana:
		err = planSolana(ctx, p, t)
	case FamilyNEAR:
		err = planNEAR(ctx, p, t)
	}
	if err != nil {
		p.Close()
		return nil, err
	}
	w.warn(p)
	return p, nil
}

func (w *Wallet) planEVM(ctx context.Context, p *Plan, t Transfer) error {
	to, err := ParseEVMAddress(t.To)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidTransfer, err)
	}
	e, err := w.dial(ctx, p.net)
	if err != nil {
		return err
	}
	p.evm = e
	tok, dec, sym, err := e.ResolveAsset(ctx, t.Asset)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidTransfer, err)
	}
	amt, err := ToAtomic(t.Amount, dec)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidTransfer, err)
	}
	ep, err := e.Plan(ctx, EVMTransfer{From: evm.HexToAddress(p.acct.EVM), To: to, Asset: sym, Token: tok, Amount: amt, Decimals: dec})
	if err != nil {
		return err
	}
	p.fromEVMPlan(ep)
	return nil
}

// fromEVMPlan fills p from a simulated EVM transaction.
func (p *Plan) fromEVMPlan(ep *EVMPlan) {
	p.evmPlan, p.net = ep, ep.Net
	p.asset, p.decimals, p.amount = ep.Asset, ep.Decimals, ep.Amount
	p.from, p.to, p.maxFee, p.summary = ep.From.Hex(), ep.To.Hex(), ep.MaxFee, ep.Summary
}

// nativeAmount parses a native-asset amount for the ed25519 chains.
func nativeAmount(p *Plan, t Transfer) error {
	atomic, err := ToAtomic(t.Amount, p.net.NativeDecimals)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidTransfer, err)
	}
	if atomic.Sign() <= 0 || (p.net.Family == FamilySolana && !atomic.IsUint64()) {
		return invalidf("amount %s %s is out of range", t.Amount, p.net.Native)
	}
	p.asset, p.decimals, p.amount = p.net.Native, p.net.NativeDecimals, atomic
	return nil
}

// solanaFee is the base fee of a one-signature transaction, in lamports.
const solanaFee = 5000

func planSolana(ctx context.Context, p *Plan, t Transfer) error {
	if err := nativeAmount(p, t); err != nil {
		return err
	}
	to, err := ParseSolanaAddress(t.To)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidTransfer, err)
	}
	from, err := ParseSolanaAddress(p.acct.Solana)
	if err != nil {
		return fmt.Errorf("account %d has no Solana address: %w", p.acct.Index, err)
	}
	p.solFrom, p.from, p.to = from, p.acct.Solana, SolanaAddress(to)
	bal, err := NewSolanaRPC(p.net).Balance(ctx, p.from)
	if err != nil {
		return err
	}
	lamports := p.amount.Uint64()
	if bal < lamports+solanaFee {
		return &InsufficientFundsError{Network: p.net.Name, Asset: "SOL", Need: FormatAtomic(new(big.Int).SetUint64(lamports+solanaFee), 9), Have: FormatAtomic(new(big.Int).SetUint64(bal), 9)}
	}
	p.maxFee = big.NewInt(solanaFee)
	p.summary = fmt.Sprintf("Send %s SOL to %s on %s (%s); network fee %s SOL", FormatAtomic(p.amount, 9), p.to, p.net.Name, p.net.CAIP2, FormatAtomic(p.maxFee, 9))
	return nil
}

// nearGasBound is what a transfer's gas can cost at most: 0.45 Tgas at the
// 1e-4 NEAR/Tgas protocol ceiling price, rounded up (in yoctoNEAR).
var nearGasBound, _ = new(big.Int).SetString("100000000000000000000", 10)

func planNEAR(ctx context.Context, p *Plan, t Transfer) error {
	if err := nativeAmount(p, t); err != nil {
		return err
	}
	if err := ValidateNEARAccount(t.To); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidTransfer, err)
	}
	p.from = p.acct.NEARAccount
	rpc := NewNEARRPC(p.net)
	bal, err := rpc.Balance(ctx, p.from)
	if err != nil {
		return err
	}
	need := new(big.Int).Add(p.amount, nearGasBound)
	if bal.Cmp(need) < 0 {
		return &InsufficientFundsError{Network: p.net.Name, Asset: "NEAR", Need: FormatAtomic(need, 24), Have: FormatAtomic(bal, 24)}
	}
	nonce, bh, err := rpc.AccessKey(ctx, p.from, p.acct.NEARPublicKey)
	if err != nil {
		return err
	}
	p.near.nonce, p.near.block = nonce, bh
	p.maxFee = nearGasBound
	p.summary = fmt.Sprintf("Send %s NEAR to %s on %s (%s); gas at most %s NEAR", FormatAtomic(p.amount, 24), p.to, p.net.Name, p.net.CAIP2, FormatAtomic(p.maxFee, 24))
	return nil
}

// InsufficientFundsError means the account cannot cover amount plus fees.
type InsufficientFundsError struct {
	Network, Asset string
	Need, Have     string
}

func (e *InsufficientFundsError) Error() string {
	return fmt.Sprintf("insufficient funds: %s %s needed on %s including fees, %s available (nothing was signed)", e.Need, e.Asset, e.Network, e.Have)
}

// ErrStaleAccounts means the cached public addresses predate a field sov
// now needs; deriving them again (which needs the passphrase) fixes it.
var ErrStaleAccounts = errors.New("the cached account addresses are out of date")
