package brand_test

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovos/sov/brand"
	"github.com/sovos/sov/wallet"
)

// TestBrandPrepaidSession: one payment of 3 × 0.01 test-USDC on anvil
// buys three answers; each question is signed by the payer's key and
// answered with the answers left, signed by the brand, with nothing more
// paid. The sessions survive the brand's restart. A question signed by
// another key, a replayed signed question and a fourth question are
// refused; an answer that fails keeps its credit.
func TestBrandPrepaidSession(t *testing.T) {
	f := newFixtureLimit(t, nil, 100, false)
	ctx := context.Background()
	kept := filepath.Join(t.TempDir(), "sessions.json")
	if err := f.srv.KeepSessions(kept); err != nil {
		t.Fatal(err)
	}
	call := func(q string) brand.Call {
		return brand.Call{Endpoint: f.http.URL, Args: map[string]any{"question": q}, Key: f.pub, Pay: f.payer("0.03")}
	}
	if _, err := brand.OpenSession(ctx, brand.Call{Endpoint: f.http.URL, Key: f.pub, Pay: f.payer("0.02")}, 3); !errors.Is(err, wallet.ErrAboveMax) || f.paid(t) != 0 {
		t.Fatalf("a session above the maximum: %v, paid %d", err, f.paid(t))
	}
	s, err := brand.OpenSession(ctx, call(""), 3)
	if err != nil || !s.Verified || s.Receipt.Answers != 3 || s.Receipt.Price != "10000" || f.paid(t) != 30000 || f.answers.Load() != 0 {
		t.Fatalf("open: %v %+v, paid %d", err, s, f.paid(t))
	}
	sess := f.aw.Wallet.NewSession(wallet.SessionConfig{Caller: "test", Unlock: f.aw.Unlock(), Networks: f.nets})
	signAs := func(index uint32) brand.SessionSigner {
		return func(ctx context.Context, msg []byte) ([]byte, error) { return sess.SignPersonal(ctx, msg, index) }
	}
	ask := func(q string, sign brand.SessionSigner) (brand.Result, error) {
		return brand.AskInSession(ctx, call(q), s.Receipt.SessionReceipt, sign)
	}
	r, err := ask("what anvils?", signAs(0))
	if err != nil || !r.Verified || *r.Answer.Remaining != 2 || r.Answer.Transaction != s.Receipt.Transaction {
		t.Fatalf("first: %v %+v", err, r)
	}
	// the brand restarts: the session is still there, with what is left
	srv, err := brand.NewServer(&f.profile, f.priv, f.answerer, f.fac)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.KeepSessions(kept); err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	f.handler.Store(&h)
	// another account's signature buys nothing
	var refused *brand.RefusedError
	if _, err := ask("free?", signAs(1)); !errors.As(err, &refused) || refused.Status != http.StatusForbidden || !strings.Contains(refused.Reason, brand.ReasonSessionSignature) {
		t.Fatalf("another key: %v", err)
	}
	// a signed question presented twice is answered once
	req := brand.RequestHash(brand.ToolAsk, map[string]any{"question": "twice"})
	nonce := strings.Repeat("ab", 16)
	sig, err := sess.SignPersonal(ctx, brand.SessionMessage(s.Receipt.Session, req, nonce), 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{http.StatusOK, http.StatusForbidden} {
		hr, _ := http.NewRequest(http.MethodPost, f.http.URL+"/ask", strings.NewReader(`{"question":"twice"}`))
		hr.Header.Set(brand.HeaderSession, s.Receipt.Session)
		hr.Header.Set(brand.HeaderSessionNonce, nonce)
		hr.Header.Set(brand.HeaderSessionSignature, "0x"+hex.EncodeToString(sig))
		resp, err := http.DefaultClient.Do(hr)
		if err != nil || resp.StatusCode != want {
			t.Fatalf("presentation %d: %v %v", i+1, err, resp.Status)
		}
		resp.Body.Close()
	}
	// no answer: the credit stays
	f.fail = errors.New("the model is down")
	if _, err := ask("down?", signAs(0)); !errors.As(err, &refused) || refused.Status != http.StatusInternalServerError {
		t.Fatalf("failed answer: %v", err)
	}
	f.fail = nil
	if r, err = ask("last one?", signAs(0)); err != nil || !r.Verified || *r.Answer.Remaining != 0 {
		t.Fatalf("third: %v %+v", err, r)
	}
	if _, err := ask("one more?", signAs(0)); !errors.As(err, &refused) || refused.Status != http.StatusPaymentRequired || !strings.Contains(refused.Reason, brand.ReasonSessionExhausted) {
		t.Fatalf("exhausted: %v", err)
	}
	if f.paid(t) != 30000 || f.answers.Load() != 3 {
		t.Fatalf("paid %d for %d answers", f.paid(t), f.answers.Load())
	}
	if _, err := brand.AskInSession(ctx, call("?"), brand.SessionReceipt{Session: "nope"}, signAs(0)); !errors.As(err, &refused) || refused.Status != http.StatusNotFound {
		t.Fatalf("unknown session: %v", err)
	}
}
