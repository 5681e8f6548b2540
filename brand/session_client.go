package brand

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/sovos/sov/wallet"
)

// SessionResult is a session opened: the brand's signed receipt and the
// payment that bought it. Verified is false, with Problem saying why,
// when the receipt's signature, its terms or its settlement do not hold.
type SessionResult struct {
	Receipt    SignedSession
	Verified   bool
	Problem    string
	Payment    wallet.X402Payment
	Settlement wallet.X402Settlement
}

// OpenSession buys n answers of brand.ask from the brand at c.Endpoint
// with one x402 payment (c.Pay is given the price of n answers), and
// checks the receipt against c.Key, the payment and, with c.Check, the
// chain.
func OpenSession(ctx context.Context, c Call, n int) (SessionResult, error) {
	var res SessionResult
	body, _ := json.Marshal(map[string]int{"answers": n})
	url := strings.TrimSuffix(c.Endpoint, "/") + "/session"
	pr, err := c.payAndPost(ctx, url, body, "open a session")
	res.Payment, res.Settlement = pr.payment, pr.settlement
	if err != nil {
		return res, err
	}
	settled := pr.settled
	if pr.resp.StatusCode != http.StatusOK || json.Unmarshal(pr.body, &res.Receipt) != nil || res.Receipt.Session == "" {
		return res, pr.failed()
	}
	r := res.Receipt
	auth := res.Payment.Payload.Payload.Authorization
	switch {
	case r.Verify(c.Key) != nil:
		res.Problem = "the session receipt's signature does not verify under the brand's announced key"
	case !settled || !strings.EqualFold(r.Transaction, res.Settlement.Transaction):
		res.Problem = "the receipt names another settlement than the one reported"
	case r.Answers != n || !strings.EqualFold(r.Payer, auth.From):
		res.Problem = fmt.Sprintf("the receipt is for %d answers to %s, not the %d bought by %s", r.Answers, r.Payer, n, auth.From)
	default:
		res.Verified = true
	}
	if res.Verified && c.Check != nil {
		if err := c.Check(ctx, res.Payment.Payload, r.Transaction); err != nil {
			res.Verified, res.Problem = false, "the settlement was not confirmed on chain: "+err.Error()
		}
	}
	return res, nil
}

// SessionSigner signs a session question with the payer's EVM key
// (EIP-191): Session.SignPersonal with the paying account.
type SessionSigner func(ctx context.Context, msg []byte) ([]byte, error)

// AskInSession asks brand.ask in the prepaid session s, signing the
// question with sign; the answer must be signed by c.Key for this
// request, in this session, over its deposit. An exhausted session is a
// *RefusedError with HTTP 402 (nothing is paid here).
func AskInSession(ctx context.Context, c Call, s SessionReceipt, sign SessionSigner) (Result, error) {
	res := Result{Request: RequestHash(ToolAsk, c.Args),
		Settlement: wallet.X402Settlement{Success: true, Transaction: s.Transaction, Network: s.Network, Payer: s.Payer}}
	var n [16]byte
	rand.Read(n[:])
	nonce := hex.EncodeToString(n[:])
	sig, err := sign(ctx, SessionMessage(s.Session, res.Request, nonce))
	if err != nil {
		return res, err
	}
	body, err := json.Marshal(c.Args)
	if err != nil {
		return res, err
	}
	resp, b, err := c.post(ctx, strings.TrimSuffix(c.Endpoint, "/")+"/tools/"+ToolAsk, body, map[string]string{
		HeaderSession: s.Session, HeaderSessionNonce: nonce, HeaderSessionSignature: "0x" + hex.EncodeToString(sig)})
	if err != nil {
		return res, fmt.Errorf("ask the brand: %w", err)
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &res.Answer) != nil || res.Answer.Answer == "" {
		return res, &RefusedError{Status: resp.StatusCode, Reason: detail(b)}
	}
	a := res.Answer
	switch {
	case a.Verify(c.Key, res.Request) != nil:
		res.Problem = a.Verify(c.Key, res.Request).Error()
	case a.Session != s.Session || !strings.EqualFold(a.Transaction, s.Transaction) || a.Remaining == nil:
		res.Problem = "the answer is signed for another session or deposit"
	default:
		res.Verified = true
	}
	return res, nil
}

// post sends body to url with headers and reads the reply.
func (c Call) post(ctx context.Context, url string, body []byte, headers map[string]string) (*http.Response, []byte, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, b, err
}
