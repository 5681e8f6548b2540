package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sovos/sov/wallet"
)

// transferSchema is the arguments of wallet.quote and wallet.pay. payTo is
// the name permission rules match (`wallet.pay(payTo=0x…)`).
const transferSchema = `{"type":"object","properties":{
"payTo":{"type":"string","minLength":1,"maxLength":128},
"amount":{"type":"string","minLength":1,"maxLength":40},
"asset":{"type":"string","minLength":1,"maxLength":64},
"network":{"type":"string","maxLength":64}},
"required":["payTo","amount","asset"],"additionalProperties":false}`

type transferArgs struct {
	PayTo   string `json:"payTo"`
	Amount  string `json:"amount"`
	Asset   string `json:"asset"`
	Network string `json:"network"`
}

// transfer checks a and makes it a transfer from the user's first
// account: the grant, not the model, decides whose money and how much.
func (a transferArgs) transfer() (wallet.Transfer, error) {
	a.PayTo, a.Amount, a.Asset, a.Network = strings.TrimSpace(a.PayTo), strings.TrimSpace(a.Amount), strings.TrimSpace(a.Asset), strings.TrimSpace(a.Network)
	switch {
	case a.PayTo == "" || len(a.PayTo) > 128:
		return wallet.Transfer{}, fmt.Errorf("%w: payTo must be the payee's address", ErrBadArguments)
	case a.Asset == "" || len(a.Asset) > 64:
		return wallet.Transfer{}, fmt.Errorf("%w: asset must be a symbol such as USDC or ETH", ErrBadArguments)
	case len(a.Network) > 64:
		return wallet.Transfer{}, fmt.Errorf("%w: network name too long", ErrBadArguments)
	}
	amt, err := wallet.ParseAmount(a.Amount)
	if err != nil {
		return wallet.Transfer{}, fmt.Errorf("%w: %v", ErrBadArguments, err)
	}
	if amt.Sign() == 0 {
		return wallet.Transfer{}, fmt.Errorf("%w: amount is zero", ErrBadArguments)
	}
	return wallet.Transfer{Amount: a.Amount, Asset: a.Asset, To: a.PayTo, Network: a.Network}, nil
}

func grantOf(env *Env, tool string) (*wallet.Grant, error) {
	if env == nil || env.Wallet == nil {
		return nil, fmt.Errorf("%s: the run has no wallet grant: %w", tool, ErrUnavailable)
	}
	return env.Wallet, nil
}

// planTransfer plans the transfer args describe through the run's grant,
// for tool: what wallet.pay executes, wallet.quote shows and a person
// approving wallet.pay sees. The caller closes the plan.
func planTransfer(ctx context.Context, env *Env, tool string, args json.RawMessage) (*wallet.Grant, *wallet.Plan, error) {
	var a transferArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, nil, err
	}
	t, err := a.transfer()
	if err != nil {
		return nil, nil, err
	}
	g, err := grantOf(env, tool)
	if err != nil {
		return nil, nil, err
	}
	p, err := g.Plan(ctx, t)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", tool, err)
	}
	return g, p, nil
}
