package tools

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sovos/sov/model"
)

// WalletQuote is wallet.quote: the plan of a payment (network, fee at
// most, the summary a person would approve) through the run's grant,
// without signing or sending anything.
type WalletQuote struct{}

func (WalletQuote) Spec() model.Tool { return spec("wallet.quote", transferSchema) }

// Read: a quote moves nothing. It still needs the grant, so a run without
// one cannot probe the wallet.
func (WalletQuote) Level() Level { return Read }

func (WalletQuote) Run(ctx context.Context, env *Env, args json.RawMessage) (Result, error) {
	_, p, err := planTransfer(ctx, env, "wallet.quote", args)
	if err != nil {
		return Result{}, err
	}
	defer p.Close()
	b, err := json.Marshal(p)
	if err != nil {
		return Result{}, fmt.Errorf("wallet.quote: %w", err)
	}
	return Result{Text: string(b), Source: "wallet"}, nil
}
