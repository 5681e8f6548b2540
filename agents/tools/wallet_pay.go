package tools

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
)

// WalletPay is wallet.pay: a payment through the run's grant. The grant's
// limits and the wallet's policy decide, and approval (when needed) goes
// to the person who minted the grant with the summary derived from the
// plan: nothing the model writes reaches the approval but the transfer.
type WalletPay struct{}

func (WalletPay) Spec() model.Tool { return spec("wallet.pay", transferSchema) }

func (WalletPay) Level() Level { return Money }

func (WalletPay) Run(ctx context.Context, env *Env, args json.RawMessage) (Result, error) {
	g, p, err := planTransfer(ctx, env, "wallet.pay", args)
	if err != nil {
		return Result{}, err
	}
	defer p.Close()
	entry, err := g.Execute(ctx, p)
	if err != nil {
		if entry.Hash != "" {
			return Result{}, fmt.Errorf("wallet.pay: transaction %s on %s: %w", entry.Hash, entry.Network, err)
		}
		return Result{}, fmt.Errorf("wallet.pay: %w", err)
	}
	out := struct {
		Summary string `json:"summary"`
		Network string `json:"network"`
		Hash    string `json:"hash"`
		Status  string `json:"status"`
		Asset   string `json:"asset"`
		Amount  string `json:"amount"`
		PayTo   string `json:"payTo"`
	}{p.Summary(), entry.Network, entry.Hash, entry.Status, entry.Asset, entry.Amount, entry.To}
	return Result{Text: jsonText(out), Source: "wallet"}, nil
}

// Plan is what a person approving the call is shown: the wallet's own
// summary of the transfer (network, amount, payee, fee at most), derived
// from the arguments through the grant; nothing is signed.
func (WalletPay) Plan(ctx context.Context, env *Env, args json.RawMessage) (string, error) {
	_, p, err := planTransfer(ctx, env, "wallet.pay", args)
	if err != nil {
		return "", err
	}
	defer p.Close()
	return termtext.Clean(p.Summary()), nil
}
