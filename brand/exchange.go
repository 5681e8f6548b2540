package brand

import (
	"context"
	"errors"
	"strings"

	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/wallet"
)

// Exchange is how one principal (the user at the CLI, an agent's run)
// asks brands: whom it trusts, how it pays and where the exchange is
// recorded. The CLI and the agents' brand.ask share it, so both check and
// record an answer the same way.
type Exchange struct {
	Directory Directory
	Pay       Payer
	// Check asks the chain whether the brand's signed settlement happened
	// (Session.CheckX402Settled or Grant.SettlementCheck).
	Check     func(ctx context.Context, p wallet.X402Payload, tx string) error
	Ledger    *ledger.Ledger
	Signer    *ledger.Signer
	Principal string // "cli", "agent:NAME"
	MCP       bool   // ask over the brand's MCP endpoint (x402's MCP transport)
}

// Ask finds the trusted brand name, asks it question (paying through
// x.Pay), checks its signature and settlement, and records the exchange
// in the ledger, also a payment that got no answer (with its settlement
// transaction, so the user can dispute it). The entry is nil when nothing
// was recorded: nothing was paid or answered.
func (x Exchange) Ask(ctx context.Context, name, question string) (Announcement, Result, *ledger.Entry, error) {
	ann, err := x.Directory.Find(name)
	if err != nil {
		return ann, Result{}, nil, err
	}
	key, err := ParseKey(ann.Key)
	if err != nil {
		return ann, Result{}, nil, err
	}
	call := Call{Endpoint: ann.Endpoint, Args: map[string]any{"question": question}, Key: key, Pay: x.Pay, Check: x.Check}
	ask := Ask
	if x.MCP {
		call.Endpoint, ask = strings.TrimSuffix(call.Endpoint, "/")+"/mcp", AskMCP
	}
	res, err := ask(ctx, call)
	var lost *PaidNoAnswerError
	if err != nil && !errors.As(err, &lost) {
		return ann, res, nil, err
	}
	if lost != nil {
		res.Problem = lost.Error()
	}
	e, rerr := Record(ctx, x.Ledger, x.Signer, x.Principal, ann, res)
	if rerr != nil {
		return ann, res, nil, errors.Join(err, &RecordError{Err: rerr})
	}
	return ann, res, &e, err
}

// RecordError is an exchange that happened but could not be written to
// the ledger.
type RecordError struct{ Err error }

func (e *RecordError) Error() string {
	return "the exchange was not recorded in the ledger: " + e.Err.Error()
}
func (e *RecordError) Unwrap() error { return e.Err }
