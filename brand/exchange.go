package brand

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
	// Sessions, with Sign, are the payer's prepaid sessions: Ask uses one
	// with answers left before paying per answer. nil: per answer only.
	Sessions *SessionBook
	Sign     SessionSigner
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
	if x.Sessions != nil && x.Sign != nil && !x.MCP {
		e, ok, err := x.Sessions.Open(ann)
		if err != nil {
			return ann, Result{}, nil, err
		}
		if ok {
			res, err := AskInSession(ctx, call, e.Receipt.SessionReceipt, x.Sign)
			var refused *RefusedError
			if errors.As(err, &refused) && refused.Status == http.StatusPaymentRequired {
				e.Left = 0 // the brand says it is spent: pay per answer below
				if perr := x.Sessions.Put(e); perr != nil {
					return ann, res, nil, perr
				}
			} else {
				if err != nil {
					return ann, res, nil, err
				}
				if res.Answer.Remaining != nil && res.Verified {
					e.Left = min(e.Left-1, *res.Answer.Remaining)
				} else {
					e.Left--
				}
				if perr := x.Sessions.Put(e); perr != nil {
					return ann, res, nil, perr
				}
				return x.record(ctx, ann, res, nil)
			}
		}
	}
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
	return x.record(ctx, ann, res, err)
}

// record writes the exchange to the ledger and returns it with err.
func (x Exchange) record(ctx context.Context, ann Announcement, res Result, err error) (Announcement, Result, *ledger.Entry, error) {
	e, rerr := Record(ctx, x.Ledger, x.Signer, x.Principal, ann, res)
	if rerr != nil {
		return ann, res, nil, errors.Join(err, &RecordError{Err: rerr})
	}
	return ann, res, &e, err
}

// OpenSession buys n answers from the trusted brand name with one payment
// through x.Pay, records it in the ledger, and keeps the receipt in
// x.Sessions when it verifies. The entry is nil when nothing was paid.
func (x Exchange) OpenSession(ctx context.Context, name string, n int) (Announcement, SessionResult, *ledger.Entry, error) {
	if n < 2 || n > MaxSessionAnswers {
		return Announcement{}, SessionResult{}, nil, fmt.Errorf("%w: %d", ErrSessionSize, n)
	}
	ann, err := x.Directory.Find(name)
	if err != nil {
		return ann, SessionResult{}, nil, err
	}
	key, err := ParseKey(ann.Key)
	if err != nil {
		return ann, SessionResult{}, nil, err
	}
	res, err := OpenSession(ctx, Call{Endpoint: ann.Endpoint, Key: key, Pay: x.Pay, Check: x.Check}, n)
	var lost *PaidNoAnswerError
	if err != nil && !errors.As(err, &lost) {
		return ann, res, nil, err
	}
	if lost != nil {
		res.Problem = lost.Error()
	}
	fields := map[string]any{"tool": "brand.session", "brand": ann.Name, "npub": ann.Npub, "brand_key": ann.Key, "endpoint": ann.Endpoint,
		"verified": res.Verified, "transaction": res.Settlement.Transaction, "network": res.Settlement.Network,
		"amount": res.Payment.Amount, "payment_key": res.Payment.Key, "session": res.Receipt.Session, "answers": res.Receipt.Answers}
	if res.Problem != "" {
		fields["problem"] = res.Problem
	}
	subjects := map[string]string{}
	if c, cerr := res.Receipt.SessionReceipt.Canonical(); cerr == nil && res.Receipt.Session != "" {
		subjects["receipt"] = ledger.SHA256(c)
	}
	e, rerr := x.Ledger.Append(ctx, ledger.Record{Kind: ledger.KindTool, Principal: x.Principal, Subjects: subjects, Fields: fields}, x.Signer)
	if rerr != nil {
		err = errors.Join(err, &RecordError{Err: rerr})
	}
	if res.Verified && x.Sessions != nil {
		if perr := x.Sessions.Put(BookEntry{Brand: ann.Name, Npub: ann.Npub, Key: ann.Key, Endpoint: ann.Endpoint, Receipt: res.Receipt, Left: res.Receipt.Answers}); perr != nil {
			err = errors.Join(err, fmt.Errorf("the session was bought but not kept (its receipt is in the ledger entry's transaction): %w", perr))
		}
	}
	if rerr != nil {
		return ann, res, nil, err
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
