package wallet

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/sovos/sov/wallet/internal/evm"
)

// Balance is one asset on one chain. A chain whose RPC failed is reported
// with Status "failed" and the error — never as a zero balance.
type Balance struct {
	Network string `json:"network"`
	CAIP2   string `json:"caip2"`
	Asset   string `json:"asset"`
	Amount  string `json:"amount,omitempty"`
	Atomic  string `json:"atomic,omitempty"`
	Status  string `json:"status"` // ok, failed
	Error   string `json:"error,omitempty"`
}

// Total is one asset summed over the chains that answered.
type Total struct {
	Asset   string   `json:"asset"`
	Amount  string   `json:"amount"`
	Partial bool     `json:"partial,omitempty"` // some chain holding it failed
	Missing []string `json:"missing,omitempty"` // the chains that failed
}

// BalanceReport is the per-chain breakdown and the per-asset totals.
type BalanceReport struct {
	Chains []Balance `json:"chains"`
	Totals []Total   `json:"totals"`
}

// ErrNoNetworks means no network has an RPC configured: there is nothing
// to ask.
var ErrNoNetworks = errors.New("no network has an RPC configured")

// ErrUnanswered means some chains could not be queried; see QueryError.
var ErrUnanswered = errors.New("some chains could not be queried")

// QueryError lists the networks whose RPCs failed; the report shows them
// as failed and is complete for the others.
type QueryError struct{ Networks []string }

func (e *QueryError) Error() string {
	return fmt.Sprintf("%v: %s", ErrUnanswered, strings.Join(e.Networks, ", "))
}

func (e *QueryError) Unwrap() error { return ErrUnanswered }

// Balances queries every configured network for the accounts at index,
// concurrently. When some chains fail the report is still returned, with a
// *QueryError naming them.
func (s *Session) Balances(ctx context.Context, index uint32) (BalanceReport, error) {
	if !slices.ContainsFunc(s.cfg.Networks, func(n Network) bool { return len(n.RPC) > 0 }) {
		return BalanceReport{}, ErrNoNetworks
	}
	acct, err := s.Accounts(index)
	if err != nil {
		return BalanceReport{}, err
	}
	rep := s.w.Balances(ctx, s.cfg.Networks, acct)
	var failed []string
	for _, b := range rep.Chains {
		if b.Status != "ok" && !slices.Contains(failed, b.Network) {
			failed = append(failed, b.Network)
		}
	}
	if len(failed) > 0 {
		return rep, &QueryError{Networks: failed}
	}
	return rep, nil
}

// ChainBalancer queries one non-EVM family; registered per family so the
// Bitcoin, Solana and NEAR clients plug in beside the EVM one.
type ChainBalancer func(ctx context.Context, n Network, acct Accounts) ([]Balance, error)

// Balances queries every network that has an RPC configured, concurrently.
func (w *Wallet) Balances(ctx context.Context, nets []Network, acct Accounts) BalanceReport {
	var mu sync.Mutex
	var rep BalanceReport
	var wg sync.WaitGroup
	for _, n := range nets {
		if len(n.RPC) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			bs, err := balancesFor(ctx, n, acct)
			if err != nil {
				bs = []Balance{{Network: n.Name, CAIP2: n.CAIP2, Asset: n.Native, Status: "failed", Error: err.Error()}}
				if n.USDC != "" {
					bs = append(bs, Balance{Network: n.Name, CAIP2: n.CAIP2, Asset: "USDC", Status: "failed", Error: err.Error()})
				}
			}
			mu.Lock()
			rep.Chains = append(rep.Chains, bs...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(rep.Chains, func(i, j int) bool {
		if rep.Chains[i].Network != rep.Chains[j].Network {
			return rep.Chains[i].Network < rep.Chains[j].Network
		}
		return rep.Chains[i].Asset < rep.Chains[j].Asset
	})
	totals := map[string]*Total{}
	sums := map[string]*big.Rat{}
	var order []string
	for _, b := range rep.Chains {
		t, ok := totals[b.Asset]
		if !ok {
			t = &Total{Asset: b.Asset}
			totals[b.Asset], sums[b.Asset] = t, new(big.Rat)
			order = append(order, b.Asset)
		}
		if b.Status != "ok" {
			t.Partial, t.Missing = true, append(t.Missing, b.Network)
			continue
		}
		if r, err := ParseAmount(b.Amount); err == nil {
			sums[b.Asset].Add(sums[b.Asset], r)
		}
	}
	sort.Strings(order)
	for _, a := range order {
		totals[a].Amount = ratString(sums[a])
		if totals[a].Amount == "" {
			totals[a].Amount = "0"
		}
		rep.Totals = append(rep.Totals, *totals[a])
	}
	return rep
}

func balancesFor(ctx context.Context, n Network, acct Accounts) ([]Balance, error) {
	switch n.Family {
	case FamilyEVM:
		return evmBalances(ctx, n, acct)
	case FamilyBitcoin:
		return bitcoinBalances(ctx, n, acct)
	case FamilySolana:
		return solanaBalances(ctx, n, acct)
	case FamilyNEAR:
		return nearBalances(ctx, n, acct)
	}
	return nil, fmt.Errorf("unknown chain family %q", n.Family)
}

func evmBalances(ctx context.Context, n Network, acct Accounts) ([]Balance, error) {
	e, err := DialEVM(ctx, n)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	owner := evm.HexToAddress(acct.EVM)
	cctx, cancel := context.WithTimeout(ctx, n.RPCTimeout())
	defer cancel()
	native, err := e.Backend.BalanceAt(cctx, owner, nil)
	if err != nil {
		return nil, fmt.Errorf("%s balance: %w", n.Name, err)
	}
	out := []Balance{nativeBalance(n, native)}
	if n.USDC != "" {
		b := Balance{Network: n.Name, CAIP2: n.CAIP2, Asset: "USDC"}
		v, err := e.TokenBalance(cctx, evm.HexToAddress(n.USDC), owner)
		if err != nil {
			b.Status, b.Error = "failed", err.Error()
		} else {
			b.Status, b.Amount, b.Atomic = "ok", FormatAtomic(v, n.USDCDecimals), v.String()
		}
		out = append(out, b)
	}
	return out, nil
}
