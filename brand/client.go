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
	send := func(pay string) (*http.Response, []byte, error) {
		h := map[string]string{}
		if pay != "" {
			h[HeaderSignature] = pay
		}
		return c.post(ctx, url, body, h)
	}
	resp, b, err := send("")
	if err != nil {
		return res, fmt.Errorf("ask the brand: %w", err)
	}
	if resp.StatusCode != http.StatusPaymentRequired {
		return res, fmt.Errorf("%w (HTTP %d: %s)", ErrNotPaymentRequired, resp.StatusCode, detail(b))
	}
	required := []byte(resp.Header.Get(HeaderRequired))
	if len(required) == 0 {
		required = b
	}
	if res.Payment, err = c.Pay(ctx, required); err != nil {
		return res, err
	}
	resp, b, err = send(res.Payment.Header)
	settled := false
	if resp != nil {
		if h := resp.Header.Get(HeaderResponse); h != "" {
			if st, perr := wallet.ParsePaymentResponse(h); perr == nil {
				res.Settlement, settled = st, st.Success
			}
		}
	}
	if err != nil {
		if settled {
			return res, &PaidNoAnswerError{Settlement: res.Settlement, Detail: err.Error()}
		}
		return res, fmt.Errorf("ask the brand with the payment: %w", err)
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &res.Answer) != nil || res.Answer.Answer == "" {
		if settled {
			return res, &PaidNoAnswerError{Settlement: res.Settlement, Status: resp.StatusCode, Detail: detail(b)}
		}
		return res, &RefusedError{Status: resp.StatusCode, Reason: detail(b)}
	}
	res.Verified, res.Problem = verdict(res, c.Key, settled)
	c.checkChain(ctx, &res)
	return res, nil
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
