package brand

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/sovos/sov/wallet"
)

// Payer signs an x402 payment for a payment request (the
// PAYMENT-REQUIRED value): Session.PayX402 or Grant.PayX402 with the
// caller's maximum.
type Payer func(ctx context.Context, required []byte) (wallet.X402Payment, error)

// Call is a question to a brand.
type Call struct {
	Endpoint string // the announced base URL
	Tool     string // ToolAsk when empty
	Args     map[string]any
	Key      ed25519.PublicKey // the announced signing key
	Pay      Payer
	HTTP     *http.Client // http.DefaultClient when nil
	// Check, when set, asks the chain whether the payment was settled by
	// the transaction the brand signed (Session.CheckX402Settled); an
	// answer whose settlement the chain does not show is unverified.
	Check func(ctx context.Context, p wallet.X402Payload, tx string) error
}

// Result is a paid answer. Verified is false, with Problem saying why,
// when the brand's signature does not hold: the answer is then shown as
// unverified, never dropped (it was paid for).
type Result struct {
	Request    string
	Answer     Answer
	Verified   bool
	Problem    string
	Payment    wallet.X402Payment
	Settlement wallet.X402Settlement
}

// PaidNoAnswerError is a brand that settled a payment and returned no
// answer: the settlement transaction is what the user can dispute with.
type PaidNoAnswerError struct {
	Settlement wallet.X402Settlement
	Status     int
	Detail     string
}

func (e *PaidNoAnswerError) Error() string {
	return fmt.Sprintf("the brand took the payment (transaction %s on %s) and returned no answer (HTTP %d: %s)",
		e.Settlement.Transaction, e.Settlement.Network, e.Status, e.Detail)
}

// RefusedError is a brand that refused the call or the payment; nothing
// was settled.
type RefusedError struct {
	Status int
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the brand refused (HTTP %d): %s", e.Status, e.Reason)
}

// ErrNotPaymentRequired is a brand that answered the unpaid call with
// something other than 402.
var ErrNotPaymentRequired = errors.New("the brand did not ask for payment")

// Ask calls the brand's plain HTTP endpoint: the unpaid call gets 402,
// c.Pay signs a payment for it, the call is sent again with it, and the
// answer's signature is checked against c.Key.
func Ask(ctx context.Context, c Call) (Result, error) {
	tool := c.Tool
	if tool == "" {
		tool = ToolAsk
	}
	url := strings.TrimSuffix(c.Endpoint, "/") + "/tools/" + tool
	body, err := json.Marshal(c.Args)
	if err != nil {
		return Result{}, err
	}
	res := Result{Request: RequestHash(tool, c.Args)}
	pr, err := c.payAndPost(ctx, url, body, "ask the brand")
	res.Payment, res.Settlement = pr.payment, pr.settlement
	if err != nil {
		return res, err
	}
	settled := pr.settled
	if pr.resp.StatusCode != http.StatusOK || json.Unmarshal(pr.body, &res.Answer) != nil || res.Answer.Answer == "" {
		return res, pr.failed()
	}
	res.Verified, res.Problem = verdict(res, c.Key, settled)
	c.checkChain(ctx, &res)
	return res, nil
}

// paidReply is the reply to a call sent with its payment.
type paidReply struct {
	resp       *http.Response
	body       []byte
	payment    wallet.X402Payment
	settlement wallet.X402Settlement
	settled    bool // the brand reported a successful settlement
}

// payAndPost sends body to url unpaid, pays the payment request the
// brand answers with (402) through c.Pay, and sends body again with the
// payment. An error before the payment was signed, or a failure to send
// it that left nothing settled, is an error; what the paid reply says is
// the caller's to read (failed gives its error).
func (c Call) payAndPost(ctx context.Context, url string, body []byte, what string) (paidReply, error) {
	var pr paidReply
	resp, b, err := c.post(ctx, url, body, map[string]string{})
	if err != nil {
		return pr, fmt.Errorf("%s: %w", what, err)
	}
	if resp.StatusCode != http.StatusPaymentRequired {
		return pr, fmt.Errorf("%w (HTTP %d: %s)", ErrNotPaymentRequired, resp.StatusCode, detail(b))
	}
	required := []byte(resp.Header.Get(HeaderRequired))
	if len(required) == 0 {
		required = b
	}
	if pr.payment, err = c.Pay(ctx, required); err != nil {
		return pr, err
	}
	pr.resp, pr.body, err = c.post(ctx, url, body, map[string]string{HeaderSignature: pr.payment.Header})
	if pr.resp != nil {
		if h := pr.resp.Header.Get(HeaderResponse); h != "" {
			if st, perr := wallet.ParsePaymentResponse(h); perr == nil {
				pr.settlement, pr.settled = st, st.Success
			}
		}
	}
	if err != nil {
		if pr.settled {
			return pr, &PaidNoAnswerError{Settlement: pr.settlement, Detail: err.Error()}
		}
		return pr, fmt.Errorf("%s with the payment: %w", what, err)
	}
	return pr, nil
}

// failed is the error of a paid reply that did not bring what was paid
// for: the settlement to dispute if the brand settled, else its refusal.
func (pr paidReply) failed() error {
	if pr.settled {
		return &PaidNoAnswerError{Settlement: pr.settlement, Status: pr.resp.StatusCode, Detail: detail(pr.body)}
	}
	return &RefusedError{Status: pr.resp.StatusCode, Reason: detail(pr.body)}
}

// checkChain runs c.Check on a verified answer's settlement.
func (c Call) checkChain(ctx context.Context, res *Result) {
	if !res.Verified || c.Check == nil {
		return
	}
	if err := c.Check(ctx, res.Payment.Payload, res.Answer.Transaction); err != nil {
		res.Verified, res.Problem = false, "the settlement was not confirmed on chain: "+err.Error()
	}
}

// detail is a short reason from an error body: its "error" or "error"
// field of a payment request, else the text.
func detail(b []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
