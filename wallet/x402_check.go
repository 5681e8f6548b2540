package wallet

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/sovos/sov/wallet/internal/evm"
)

// ErrNotSettled is an x402 payment whose reported settlement the chain
// does not show: the transaction is missing or failed, or the payer's
// authorization is still unused.
var ErrNotSettled = errors.New("the chain does not show this payment settled")

// CheckX402Settled asks the payment's network whether the payer's x402
// payment p was settled by transaction tx: the transaction was mined and
// succeeded, and the token records p's authorization as used. The
// authorization fixes payee and amount (the payer signed them), so a used
// one is the payment made, for the right amount to the right payee.
func (s *Session) CheckX402Settled(ctx context.Context, p X402Payload, tx string) error {
	nets := s.cfg.Networks
	if len(nets) == 0 {
		nets = Builtin()
	}
	n, ok := FindNetwork(nets, p.Accepted.Network)
	if !ok || n.Family != FamilyEVM || len(n.RPC) == 0 {
		return fmt.Errorf("network %q is not one this wallet can read", p.Accepted.Network)
	}
	token, err := ParseEVMAddress(p.Accepted.Asset)
	if err != nil {
		return fmt.Errorf("asset: %w", err)
	}
	from, err := ParseEVMAddress(p.Payload.Authorization.From)
	if err != nil {
		return fmt.Errorf("authorization: %w", err)
	}
	nonce := evm.FromHex(p.Payload.Authorization.Nonce)
	if len(nonce) != 32 {
		return fmt.Errorf("authorization: the nonce is not 32 bytes")
	}
	e, err := s.w.dial(ctx, n)
	if err != nil {
		return err
	}
	defer e.Close()
	r, err := e.Backend.TransactionReceipt(ctx, evm.HexToHash(tx))
	if errors.Is(err, ErrTxNotFound) {
		return fmt.Errorf("%w: transaction %s is not on %s", ErrNotSettled, tx, n.Name)
	}
	if err != nil {
		return err
	}
	if r.Status != 1 {
		return fmt.Errorf("%w: transaction %s failed on %s", ErrNotSettled, tx, n.Name)
	}
	state, err := e.Backend.CallContract(ctx, EVMCallMsg{To: &token, Data: concat(selAuthorizationState, evm.LeftPad32(from[:]), nonce)}, nil)
	if err != nil || len(state) != 32 {
		return fmt.Errorf("token %s does not answer authorizationState (EIP-3009)", token.Hex())
	}
	if new(big.Int).SetBytes(state).Sign() == 0 {
		return fmt.Errorf("%w: the authorization (nonce %s) is still unused", ErrNotSettled, p.Payload.Authorization.Nonce)
	}
	return nil
}

// SettlementCheck is Session.CheckX402Settled for a grant's holder (it
// only reads the chain). A function rather than a method taking the
// transaction: a grant's methods take no strings (see the grant tests).
func (g *Grant) SettlementCheck() func(ctx context.Context, p X402Payload, tx string) error {
	return g.s.CheckX402Settled
}
