package wallet_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/sovos/sov/agents/dao/governor/governortest"
	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/wallet"
	"github.com/sovos/sov/wallet/wallettest"
)

// x402Fixture: anvil with the EIP-3009 token (wallettest.DeployEIP3009) (the network's USDC, all of
// it held by the wallet's account 0), the plain test ERC-20 (no EIP-3009),
// a facilitator settling from account 1's key, on its own clock.
type x402Fixture struct {
	aw     *wallettest.AnvilWallet
	chain  *governortest.Chain
	usdc   string
	nets   []wallet.Network
	payee  string
	fac    *wallet.Facilitator
	facW   *wallet.Wallet // the facilitator's verifying wallet, on its own clock
	facNow time.Time
}

func newX402Fixture(t testing.TB) *x402Fixture {
	t.Helper()
	aw := wallettest.NewAnvilWallet(t)
	f := &x402Fixture{aw: aw, chain: governortest.On(t, aw, nil), payee: "0x00000000000000000000000000000000000000F2"}
	f.usdc = aw.Anvil.DeployEIP3009(t, aw.Keys)
	var cfg wallet.Config
	if err := cfg.AddRPC(context.Background(), wallet.NetworkConfig{Name: "anvil", RPC: []string{aw.Anvil.URL}, USDC: f.usdc}); err != nil {
		t.Fatal(err)
	}
	all, _ := cfg.All()
	n, ok := wallet.FindNetwork(all, "anvil")
	if !ok {
		t.Fatal("no anvil network")
	}
	f.nets = []wallet.Network{n}
	f.facNow = time.Now()
	f.facW = wallet.New(t.TempDir(), wallet.WithClock(func() time.Time { return f.facNow }))
	f.fac = wallet.NewFacilitator(f.facW, f.nets, &governortest.KeySender{Chain: f.chain, Key: f.chain.Key(1)})
	return f
}

// walletFacilitator settles from the wallet's account 1 through the
// wallet (contract calls under the policy), headless; allow adds the
// policy rule that lets it call transferWithAuthorization on the token.
func (f *x402Fixture) walletFacilitator(t testing.TB, allow bool) *wallet.Facilitator {
	t.Helper()
	f.chain.Key(1) // funds account 1 with gas
	if allow {
		rule := "anvil:" + f.usdc + ":" + wallet.X402TransferSelector
		if _, err := f.session(true).EditPolicy(context.Background(), wallet.PolicyEdit{AllowCall: []string{rule}}); err != nil {
			t.Fatal(err)
		}
	}
	snd, err := f.session(false).X402Sender(1)
	if err != nil {
		t.Fatal(err)
	}
	return wallet.NewFacilitator(f.facW, f.nets, snd)
}

func (f *x402Fixture) session(approve bool) *wallet.Session {
	cfg := wallet.SessionConfig{Caller: "test", Unlock: f.aw.Unlock(), Networks: f.nets}
	if approve {
		cfg.Interactive = true
		cfg.Approver = func(context.Context, string, string) ([]byte, error) { return []byte(wallettest.Pass), nil }
	}
	return f.aw.Wallet.NewSession(cfg)
}

// required is a one-option x402 v2 payment request.
func (f *x402Fixture) required(network, asset, amount, payTo string) wallet.PaymentRequired {
	return wallet.PaymentRequired{X402Version: 2, Resource: &wallet.PaymentResource{URL: "http://127.0.0.1/item"}, Accepts: []wallet.PaymentRequirements{{
		Scheme: "exact", Network: network, Amount: amount, Asset: asset, PayTo: payTo, MaxTimeoutSeconds: 120,
		Extra: map[string]any{"name": "USD Coin", "version": "2"}}}}
}

func raw(pr wallet.PaymentRequired) []byte {
	b, _ := json.Marshal(pr)
	return b
}

// TestX402PaySettleOnce: sov signs an exact payment for a request (through
// the policy, amount and payee decoded from the authorization), the
// facilitator verifies and settles it on anvil, the tokens move once; the
// same payload settled again, and the same request paid again, are
// refused; paying it again on purpose works.
func TestX402PaySettleOnce(t *testing.T) {
	f := newX402Fixture(t)
	ctx := context.Background()
	s := f.session(false)
	pr := f.required(f.nets[0].CAIP2, f.usdc, "10000", f.payee)
	p, err := s.PayX402(ctx, raw(pr), wallet.X402Options{Max: "0.01"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Amount != "0.01 USDC" || p.Payload.Payload.Authorization.To != common.HexToAddress(f.payee).Hex() || len(p.Payload.Payload.Authorization.Nonce) != 66 {
		t.Fatalf("payment %+v", p)
	}
	back, err := wallet.ParsePaymentSignature(p.Header)
	if err != nil || back.Payload != p.Payload.Payload {
		t.Fatalf("header round trip: %v %+v", err, back)
	}
	if v := f.fac.Verify(ctx, back, pr.Accepts[0]); !v.IsValid || !strings.EqualFold(v.Payer, f.aw.Me.EVM) {
		t.Fatalf("verify: %+v", v)
	}
	// a facilitator settling through a wallet whose policy does not allow
	// the call, headless: refused before signing, nothing moves
	if st := f.walletFacilitator(t, false).Settle(ctx, back, pr.Accepts[0]); st.Success || st.ErrorReason != wallet.X402TransactionFailed || !strings.Contains(st.ErrorMessage, "refused by wallet policy") {
		t.Fatalf("settled without the policy's leave: %+v", st)
	}
	if got := f.aw.Anvil.TokenBalance(t, f.usdc, f.payee); got.Sign() != 0 {
		t.Fatalf("payee holds %s", got)
	}
	st := f.fac.Settle(ctx, back, pr.Accepts[0])
	if !st.Success || !f.aw.Anvil.Succeeded(t, st.Transaction) {
		t.Fatalf("settle: %+v", st)
	}
	if got := f.aw.Anvil.TokenBalance(t, f.usdc, f.payee); got.Int64() != 10000 {
		t.Fatalf("payee holds %s, want 10000", got)
	}
	// the same payload again: refused, nothing moves
	if st2 := f.fac.Settle(ctx, back, pr.Accepts[0]); st2.Success || st2.ErrorReason != wallet.X402NonceUsed {
		t.Fatalf("replay settled: %+v", st2)
	}
	// the same request again: refused before signing
	var refused *wallet.RefusedError
	if _, err := s.PayX402(ctx, raw(pr), wallet.X402Options{}); !errors.As(err, &refused) || refused.Rule != wallet.RulePaid || !strings.Contains(err.Error(), "paid already by a signed x402 authorization") {
		t.Fatalf("paid twice: %v", err)
	}
	again, err := s.PayX402(ctx, raw(pr), wallet.X402Options{Again: true})
	if err != nil || again.Payload.Payload.Authorization.Nonce == p.Payload.Payload.Authorization.Nonce {
		t.Fatalf("again: %v (nonce reused?)", err)
	}
	if st := f.fac.Settle(ctx, again.Payload, pr.Accepts[0]); !st.Success {
		t.Fatalf("settle again: %+v", st)
	}
	if got := f.aw.Anvil.TokenBalance(t, f.usdc, f.payee); got.Int64() != 20000 {
		t.Fatalf("payee holds %s, want 20000", got)
	}
}

// TestX402BadInput: each bad payment or request is refused with its reason
// and moves nothing.
func TestX402BadInput(t *testing.T) {
	f := newX402Fixture(t)
	ctx := context.Background()
	s := f.session(false)
	caip := f.nets[0].CAIP2
	pr := f.required(caip, f.usdc, "10000", f.payee)
	p, err := s.PayX402(ctx, raw(pr), wallet.X402Options{})
	if err != nil {
		t.Fatal(err)
	}
	other := "0x00000000000000000000000000000000000000F3"
	tampered := p.Payload
	tampered.Payload.Authorization.Value = "20000"
	cases := []struct {
		name   string
		p      wallet.X402Payload
		req    wallet.PaymentRequirements
		later  time.Duration
		reason string
	}{
		{"amount below price", p.Payload, f.required(caip, f.usdc, "10001", f.payee).Accepts[0], 0, wallet.X402ValueTooLow},
		{"wrong payTo", p.Payload, f.required(caip, f.usdc, "10000", other).Accepts[0], 0, wallet.X402RecipientMismatch},
		{"value changed after signing", tampered, pr.Accepts[0], 0, wallet.X402InvalidSignature},
		{"expired validBefore", p.Payload, pr.Accepts[0], 10 * time.Minute, wallet.X402ValidBeforeExpired},
		{"other network", p.Payload, f.required("eip155:1", f.usdc, "10000", f.payee).Accepts[0], 0, wallet.X402NetworkMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.facNow = time.Now().Add(c.later)
			defer func() { f.facNow = time.Now() }()
			if v := f.fac.Verify(ctx, c.p, c.req); v.IsValid || v.InvalidReason != c.reason {
				t.Fatalf("verify: %+v, want %s", v, c.reason)
			}
			if st := f.fac.Settle(ctx, c.p, c.req); st.Success || st.ErrorReason != c.reason {
				t.Fatalf("settle: %+v, want %s", st, c.reason)
			}
		})
	}
	if got := f.aw.Anvil.TokenBalance(t, f.usdc, f.payee); got.Sign() != 0 || f.aw.Anvil.TokenBalance(t, f.usdc, other).Sign() != 0 {
		t.Fatal("a refused payment moved tokens")
	}
	t.Run("token without EIP-3009", func(t *testing.T) {
		plain := f.required(caip, f.aw.Token, "10000", f.payee)
		// an unknown token needs a person: this one approves
		p, err := f.session(true).PayX402(ctx, raw(plain), wallet.X402Options{})
		if err != nil {
			t.Fatal(err)
		}
		if v := f.fac.Verify(ctx, p.Payload, plain.Accepts[0]); v.IsValid || v.InvalidReason != wallet.X402NotEIP3009 {
			t.Fatalf("verify: %+v", v)
		}
	})
	t.Run("unknown network", func(t *testing.T) {
		_, err := s.PayX402(ctx, raw(f.required("eip155:999999", f.usdc, "10000", f.payee)), wallet.X402Options{})
		if !errors.Is(err, wallet.ErrNoX402Option) || !strings.Contains(err.Error(), "unknown network") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("price above max", func(t *testing.T) {
		pr := f.required(caip, f.usdc, "20000", f.payee)
		_, err := s.PayX402(ctx, raw(pr), wallet.X402Options{Max: "0.01"})
		if !errors.Is(err, wallet.ErrAboveMax) {
			t.Fatalf("err %v", err)
		}
		// nothing was reserved: the request is still payable
		if _, err := s.PayX402(ctx, raw(pr), wallet.X402Options{Max: "0.02"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("expired request", func(t *testing.T) {
		pr := f.required(caip, f.usdc, "10000", f.payee)
		pr.Accepts[0].Extra["deadline"] = time.Now().Add(-time.Minute).Unix()
		if _, err := s.PayX402(ctx, raw(pr), wallet.X402Options{}); !errors.Is(err, wallet.ErrPaymentExpired) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("not loopback", func(t *testing.T) {
		for _, c := range []struct {
			remote, host string
			code         int
		}{
			{"127.0.0.1:1234", "127.0.0.1:8402", http.StatusOK},
			{"[::1]:1234", "localhost:8402", http.StatusOK},
			{"192.0.2.1:1234", "127.0.0.1:8402", http.StatusForbidden},
			{"127.0.0.1:1234", "rebound.example:8402", http.StatusForbidden}, // DNS rebinding
		} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/supported", nil)
			req.RemoteAddr, req.Host = c.remote, c.host
			f.fac.Handler().ServeHTTP(rec, req)
			if rec.Code != c.code {
				t.Errorf("%s via %s: code %d, want %d", c.remote, c.host, rec.Code, c.code)
			}
		}
	})
	t.Run("validBefore at the request's own deadline", func(t *testing.T) {
		pr := f.required(caip, f.usdc, "10000", f.payee)
		pr.Resource.URL += "/deadline"
		deadline := time.Now().Add(30 * time.Second).Unix()
		pr.Accepts[0].Extra["deadline"] = deadline
		p, err := s.PayX402(ctx, raw(pr), wallet.X402Options{})
		if err != nil || p.Payload.Payload.Authorization.ValidBefore != fmt.Sprint(deadline) {
			t.Fatalf("validBefore %+v, want %d (%v)", p.Payload.Payload.Authorization, deadline, err)
		}
	})
	t.Run("out of range", func(t *testing.T) {
		big := p.Payload
		big.Payload.Authorization.Value = "1" + strings.Repeat("0", 80)
		if v := f.fac.Verify(ctx, big, pr.Accepts[0]); v.IsValid || v.InvalidReason != wallet.X402InvalidPayload {
			t.Fatalf("verify: %+v", v)
		}
	})
}

// startNode runs an ES module script with node (imports resolved from the
// node clients), returns the first line it prints, and stops it when the
// test ends; its stderr is logged.
func startNode(t *testing.T, script string, env []string, args ...string) (string, *bufio.Scanner) {
	t.Helper()
	dir := testtool.NodeClients(t)
	fh, err := os.CreateTemp(dir, "test-*.mjs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(fh.Name()) })
	fh.WriteString(script)
	fh.Close()
	cmd := exec.Command("node", append([]string{fh.Name()}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("node stderr:\n%s", stderr.String())
		}
	})
	sc := bufio.NewScanner(out)
	line := make(chan string, 1)
	go func() {
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
	}()
	select {
	case l, ok := <-line:
		if !ok {
			time.Sleep(200 * time.Millisecond)
			t.Fatalf("node printed nothing: %s", stderr.String())
		}
		return l, sc
	case <-time.After(60 * time.Second):
		t.Fatalf("node did not start: %s", stderr.String())
	}
	return "", nil
}

const expressServer = `
import express from "express";
import { paymentMiddleware, x402ResourceServer } from "@x402/express";
import { ExactEvmScheme } from "@x402/evm/exact/server";
import { HTTPFacilitatorClient } from "@x402/core/server";
const [facilitator, network, asset, payTo] = process.argv.slice(2);
const server = new x402ResourceServer(new HTTPFacilitatorClient({ url: facilitator })).register(network, new ExactEvmScheme());
const app = express();
app.use(paymentMiddleware({
  "GET /answer": {
    accepts: { scheme: "exact", network, payTo, maxTimeoutSeconds: 120,
      price: { amount: "10000", asset, extra: { name: "USD Coin", version: "2" } } },
    description: "one answer",
  },
}, server));
app.get("/answer", (req, res) => res.json({ answer: 42 }));
const l = app.listen(0, "127.0.0.1", () => console.log(l.address().port));
`

// TestX402InteropExpressServer: sov's client pays an @x402/express server
// whose facilitator is sov's, on loopback, settling on anvil through the
// wallet (a contract call the policy allows).
func TestX402InteropExpressServer(t *testing.T) {
	f := newX402Fixture(t)
	ctx := context.Background()
	fac := httptest.NewServer(f.walletFacilitator(t, true).Handler())
	defer fac.Close()
	port, _ := startNode(t, expressServer, nil, fac.URL, f.nets[0].CAIP2, f.usdc, f.payee)
	url := "http://127.0.0.1:" + port + "/answer"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	required := resp.Header.Get("PAYMENT-REQUIRED")
	if resp.StatusCode != http.StatusPaymentRequired || required == "" {
		t.Fatalf("status %d, PAYMENT-REQUIRED %q", resp.StatusCode, required)
	}
	s := f.session(false)
	start := time.Now()
	p, err := s.PayX402(ctx, []byte(required), wallet.X402Options{Max: "0.01"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("PAYMENT-SIGNATURE", p.Header)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Answer int }
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 200 || body.Answer != 42 {
		t.Fatalf("paid request: status %d, body %+v, headers %v", resp.StatusCode, body, resp.Header)
	}
	t.Logf("signed, verified, answered and settled through the wallet in %v", time.Since(start))
	st, err := wallet.ParsePaymentResponse(resp.Header.Get("PAYMENT-RESPONSE"))
	if err != nil || !st.Success || !f.aw.Anvil.Succeeded(t, st.Transaction) {
		t.Fatalf("PAYMENT-RESPONSE %+v, %v", st, err)
	}
	if got := f.aw.Anvil.TokenBalance(t, f.usdc, f.payee); got.Int64() != 10000 {
		t.Fatalf("payee holds %s", got)
	}
	// the payload replayed to the server: not paid, not answered
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Fatal("a replayed payment was answered")
	}
	if got := f.aw.Anvil.TokenBalance(t, f.usdc, f.payee); got.Int64() != 10000 {
		t.Fatalf("payee holds %s after the replay", got)
	}
}

const fetchClient = `
import { wrapFetchWithPaymentFromConfig, decodePaymentResponseHeader } from "@x402/fetch";
import { ExactEvmScheme } from "@x402/evm/exact/client";
import { privateKeyToAccount } from "viem/accounts";
const [url, network, asset] = process.argv.slice(2);
const account = privateKeyToAccount(process.env.X402_KEY);
const pay = wrapFetchWithPaymentFromConfig(fetch, {
  schemes: [{ network, client: new ExactEvmScheme(account) }],
  // the test token is no default asset: allowed here, capped at the price
  spendControls: { allowedAssets: [{ network, asset, maxAmountPerPayment: "10000" }] },
});
const res = await pay(url);
const h = res.headers.get("PAYMENT-RESPONSE");
console.log(JSON.stringify({ status: res.status, body: await res.text(), receipt: h ? decodePaymentResponseHeader(h) : null }));
`

// TestX402InteropFetchClient: an @x402/fetch client's payment verifies and
// settles through sov's facilitator (behind a small x402 server here).
func TestX402InteropFetchClient(t *testing.T) {
	f := newX402Fixture(t)
	key := f.chain.Key(2)
	payer := crypto.PubkeyToAddress(key.PublicKey)
	f.aw.Anvil.TransferToken(t, f.aw.Keys, f.usdc, payer.Hex(), big.NewInt(1_000_000))
	pr := f.required(f.nets[0].CAIP2, f.usdc, "10000", f.payee)
	var settled []wallet.X402Settlement
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sig := r.Header.Get("PAYMENT-SIGNATURE")
		if sig == "" {
			w.Header().Set("PAYMENT-REQUIRED", base64.StdEncoding.EncodeToString(raw(pr)))
			w.WriteHeader(http.StatusPaymentRequired)
			w.Write(raw(pr))
			return
		}
		p, err := wallet.ParsePaymentSignature(sig)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if v := f.fac.Verify(r.Context(), p, pr.Accepts[0]); !v.IsValid {
			http.Error(w, v.InvalidMessage, http.StatusPaymentRequired)
			return
		}
		st := f.fac.Settle(r.Context(), p, pr.Accepts[0])
		settled = append(settled, st)
		b, _ := json.Marshal(st)
		w.Header().Set("PAYMENT-RESPONSE", base64.StdEncoding.EncodeToString(b))
		w.Write([]byte(`{"answer":42}`))
	}))
	defer srv.Close()
	out := testtool.RunNode(t, fetchClient, time.Minute, []string{"X402_KEY=0x" + hex.EncodeToString(crypto.FromECDSA(key))}, srv.URL, f.nets[0].CAIP2, f.usdc)
	var got struct {
		Status  int
		Body    string
		Receipt *wallet.X402Settlement
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Status != 200 || got.Receipt == nil || !got.Receipt.Success || len(settled) != 1 || !f.aw.Anvil.Succeeded(t, got.Receipt.Transaction) {
		t.Fatalf("fetch client: %+v (settled %+v)", got, settled)
	}
	if b := f.aw.Anvil.TokenBalance(t, f.usdc, f.payee); b.Int64() != 10000 {
		t.Fatalf("payee holds %s", b)
	}
}

// TestX402ConcurrentSettle: payments settled at once through the wallet
// (one facilitator account, its nonces managed by the wallet) all land,
// and one payload sent twice at once is settled once.
func TestX402ConcurrentSettle(t *testing.T) {
	f := newX402Fixture(t)
	ctx := context.Background()
	fac := f.walletFacilitator(t, true)
	s := f.session(false)
	const n = 8
	var pays []wallet.X402Payment
	var reqs []wallet.PaymentRequirements
	for i := range n {
		pr := f.required(f.nets[0].CAIP2, f.usdc, "1000", f.payee)
		pr.Resource.URL += fmt.Sprint("/", i)
		p, err := s.PayX402(ctx, raw(pr), wallet.X402Options{})
		if err != nil {
			t.Fatal(err)
		}
		pays, reqs = append(pays, p, p), append(reqs, pr.Accepts[0], pr.Accepts[0])
	}
	results := make([]wallet.X402Settlement, len(pays))
	var wg sync.WaitGroup
	for i := range pays {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = fac.Settle(ctx, pays[i].Payload, reqs[i])
		}()
	}
	wg.Wait()
	ok := 0
	for i := 0; i < len(results); i += 2 {
		a, b := results[i], results[i+1]
		if a.Success == b.Success {
			t.Errorf("payment %d settled %v and %v (%+v / %+v)", i/2, a.Success, b.Success, a, b)
		}
		if a.Success || b.Success {
			ok++
		}
	}
	if got := f.aw.Anvil.TokenBalance(t, f.usdc, f.payee); ok != n || got.Int64() != 1000*n {
		t.Fatalf("%d settled, payee holds %s, want %d", ok, got, 1000*n)
	}
}

// BenchmarkX402: signing a payment through the policy, verifying it and
// settling it on anvil (automine) with a key, each per payment.
func BenchmarkX402(b *testing.B) {
	f := newX402Fixture(b)
	ctx := context.Background()
	s := f.session(false)
	var sign, verify, settle time.Duration
	for i := 0; b.Loop(); i++ {
		pr := f.required(f.nets[0].CAIP2, f.usdc, "1", f.payee)
		pr.Resource.URL += fmt.Sprint("/", i)
		t0 := time.Now()
		p, err := s.PayX402(ctx, raw(pr), wallet.X402Options{})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if v := f.fac.Verify(ctx, p.Payload, pr.Accepts[0]); !v.IsValid {
			b.Fatal(v)
		}
		t2 := time.Now()
		if st := f.fac.Settle(ctx, p.Payload, pr.Accepts[0]); !st.Success {
			b.Fatal(st)
		}
		sign, verify, settle = sign+t1.Sub(t0), verify+time.Since(t1)-time.Since(t2), settle+time.Since(t2)
	}
	n := float64(b.N)
	b.ReportMetric(float64(sign.Microseconds())/n/1000, "sign-ms/op")
	b.ReportMetric(float64(verify.Microseconds())/n/1000, "verify-ms/op")
	b.ReportMetric(float64(settle.Microseconds())/n/1000, "settle-ms/op")
}

// TestX402UnderGrant: an agent's grant pays within its limits and payees
// (read from the authorization, not from the request's text), is refused
// above its per-payment limit or to another payee, and can never pay the
// same request again, even asking to.
func TestX402UnderGrant(t *testing.T) {
	f := newX402Fixture(t)
	ctx := context.Background()
	g, err := f.session(false).Grant("agent:shop", wallet.Limits{PerTx: map[string]string{"USDC": "0.02"}, Payees: []string{f.payee}})
	if err != nil {
		t.Fatal(err)
	}
	caip := f.nets[0].CAIP2
	pr := f.required(caip, f.usdc, "10000", f.payee)
	p, err := g.PayX402(ctx, raw(pr), wallet.X402Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st := f.fac.Settle(ctx, p.Payload, pr.Accepts[0]); !st.Success {
		t.Fatalf("settle: %+v", st)
	}
	var refused *wallet.RefusedError
	for name, c := range map[string]struct {
		pr   wallet.PaymentRequired
		rule string
	}{
		"paid already":  {pr, wallet.RulePaid},
		"above per-tx":  {f.required(caip, f.usdc, "30000", f.payee), ""},
		"another payee": {f.required(caip, f.usdc, "10000", "0x00000000000000000000000000000000000000F3"), ""},
	} {
		_, err := g.PayX402(ctx, raw(c.pr), wallet.X402Options{Again: true})
		t.Logf("%s: %v", name, err)
		if !errors.As(err, &refused) || c.rule != "" && refused.Rule != c.rule {
			t.Errorf("%s: %v, want refused (%s)", name, err, c.rule)
		}
	}
	if got := f.aw.Anvil.TokenBalance(t, f.usdc, f.payee); got.Int64() != 10000 {
		t.Fatalf("payee holds %s", got)
	}
}
