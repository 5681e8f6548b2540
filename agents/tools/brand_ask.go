package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"

	"github.com/sovos/sov/brand"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/wallet"
)

// BrandAsk is brand.ask: a paid question to a brand the user trusts,
// paid through the run's wallet grant with x402. It moves money, so it is
// Money (asked for, unless the user pre-approved it); its answer is a
// brand's word, outside content, so it taints the run: later payments and
// writes need a person.
type BrandAsk struct{}

const brandAskSchema = `{"type":"object","properties":{
"brand":{"type":"string","minLength":1,"maxLength":80},
"question":{"type":"string","minLength":1,"maxLength":2000},
"max_price":{"type":"string","minLength":1,"maxLength":40}},
"required":["brand","question","max_price"],"additionalProperties":false}`

func (BrandAsk) Spec() model.Tool { return spec("brand.ask", brandAskSchema) }

func (BrandAsk) Level() Level { return Money }

type brandAskArgs struct {
	Brand    string `json:"brand"`
	Question string `json:"question"`
	MaxPrice string `json:"max_price"`
}

// plan finds the brand among the trusted announcements and checks the
// arguments: what Run does and what a person approving it is shown.
func (BrandAsk) plan(ctx context.Context, env *Env, args json.RawMessage) (brandAskArgs, brand.Directory, brand.Announcement, error) {
	var a brandAskArgs
	if err := decodeArgs(args, &a); err != nil {
		return a, brand.Directory{}, brand.Announcement{}, err
	}
	a.Brand, a.Question, a.MaxPrice = strings.TrimSpace(a.Brand), strings.TrimSpace(a.Question), strings.TrimSpace(a.MaxPrice)
	if r, ok := new(big.Rat).SetString(a.MaxPrice); !ok || r.Sign() <= 0 {
		return a, brand.Directory{}, brand.Announcement{}, fmt.Errorf("%w: max_price must be a positive decimal amount (\"0.05\")", ErrBadArguments)
	}
	if a.Brand == "" || a.Question == "" {
		return a, brand.Directory{}, brand.Announcement{}, fmt.Errorf("%w: brand and question are required", ErrBadArguments)
	}
	if _, err := grantOf(env, "brand.ask"); err != nil {
		return a, brand.Directory{}, brand.Announcement{}, err
	}
	if env.Brands == nil {
		return a, brand.Directory{}, brand.Announcement{}, fmt.Errorf("brand.ask: %w", ErrUnavailable)
	}
	d, err := env.Brands(ctx)
	if err != nil {
		return a, d, brand.Announcement{}, fmt.Errorf("brand.ask: %w", err)
	}
	ann, err := d.Find(a.Brand)
	if err != nil {
		return a, d, ann, fmt.Errorf("brand.ask: %w", err)
	}
	return a, d, ann, nil
}

func (t BrandAsk) Run(ctx context.Context, env *Env, args json.RawMessage) (Result, error) {
	a, d, _, err := t.plan(ctx, env, args)
	if err != nil {
		return Result{}, err
	}
	g := env.Wallet
	pay := func(ctx context.Context, raw []byte) (wallet.X402Payment, error) {
		return g.PayX402(ctx, raw, wallet.X402Options{Max: a.MaxPrice})
	}
	x := brand.Exchange{Directory: d, Pay: pay, Check: g.SettlementCheck(), Ledger: env.Ledger, Signer: env.Signer, Principal: "agent:" + env.Agent}
	ann, res, _, err := x.Ask(ctx, a.Brand, a.Question)
	out := struct {
		Brand       string `json:"brand"`
		Answer      string `json:"answer,omitempty"`
		Verified    bool   `json:"verified"`
		Problem     string `json:"problem,omitempty"`
		Paid        string `json:"paid,omitempty"`
		Network     string `json:"network,omitempty"`
		Transaction string `json:"transaction,omitempty"`
	}{ann.Name, res.Answer.Answer, res.Verified, res.Problem, res.Payment.Amount, res.Settlement.Network, res.Settlement.Transaction}
	if err != nil && out.Transaction == "" {
		return Result{}, fmt.Errorf("brand.ask: %w", err)
	}
	// Paid: the answer (or its absence, with the transaction) goes back
	// even with an error, so that the model and the events show it.
	return Result{Text: jsonText(out), Source: "brand:" + ann.Name, Tainted: true}, nil
}

// Plan is what a person approving the call sees: the brand as its
// trusted announcement names it, its announced price and the most this
// call may pay. The question is the model's text, shown cleaned.
func (t BrandAsk) Plan(ctx context.Context, env *Env, args json.RawMessage) (string, error) {
	a, _, ann, err := t.plan(ctx, env, args)
	if err != nil {
		return "", err
	}
	price := ann.Prices[brand.ToolAsk]
	if price == "" {
		price = "not announced"
	}
	q := termtext.Clean(a.Question)
	if len(q) > 200 {
		q = q[:200] + "…"
	}
	return termtext.Clean(fmt.Sprintf("pay brand %s (%s, %s) at most %s for an answer (announced price %s): %q",
		ann.Name, ann.Npub, ann.Endpoint, a.MaxPrice, price, q)), nil
}
