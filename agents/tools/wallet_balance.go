package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sovos/sov/model"
	"github.com/sovos/sov/wallet"
)

// WalletBalance is wallet.balance: the user's balances and the limits of
// the run's grant. Nothing is signed.
type WalletBalance struct{}

func (WalletBalance) Spec() model.Tool {
	return spec("wallet.balance", `{"type":"object","properties":{},"additionalProperties":false}`)
}

func (WalletBalance) Level() Level { return Read }

func (WalletBalance) Run(ctx context.Context, env *Env, args json.RawMessage) (Result, error) {
	var a struct{}
	if err := decodeArgs(args, &a); err != nil {
		return Result{}, err
	}
	g, err := grantOf(env, "wallet.balance")
	if err != nil {
		return Result{}, err
	}
	rep, err := g.Balances(ctx, 0)
	out := struct {
		Balances wallet.BalanceReport `json:"balances"`
		Grant    wallet.Limits        `json:"grant_limits"`
		Note     string               `json:"note,omitempty"`
	}{Balances: rep, Grant: g.Limits()}
	var qe *wallet.QueryError
	switch {
	case errors.As(err, &qe):
		// the chains that answered are still worth reporting
		out.Note = qe.Error()
	case err != nil:
		return Result{}, fmt.Errorf("wallet.balance: %w", err)
	}
	return Result{Text: jsonText(out), Source: "wallet"}, nil
}
