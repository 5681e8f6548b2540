package brand_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sovos/sov/agents/dao/governor/governortest"
	"github.com/sovos/sov/brand"
	"github.com/sovos/sov/feeds/nostr"
	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/wallet"
	"github.com/sovos/sov/wallet/wallettest"
)

const payee = "0x00000000000000000000000000000000000000F2"

// f0network is anvil's CAIP-2 network.
const f0network = "eip155:31337"

// fixture: anvil with the EIP-3009 token held by the user's account 0, a
// facilitator settling from account 1's key on its own clock, a brand
// served on loopback whose answerer the test controls.
type fixture struct {
	aw       *wallettest.AnvilWallet
	chain    *governortest.Chain
	usdc     string
	nets     []wallet.Network
	facNow   time.Time
	srv      *brand.Server
	http     *httptest.Server
	pub      ed25519.PublicKey
	answers  atomic.Int32
	profile  brand.Profile
	priv     ed25519.PrivateKey
	answerer brand.Answerer
	fac      brand.Facilitator
	handler  atomic.Pointer[http.Handler] // what the test server serves
	liar     bool
	fail     error
}

func newFixture(t *testing.T, wrap func(http.Handler) http.Handler) *fixture {
	return newFixtureLimit(t, wrap, 5, false)
}

// newFixturePay is a fixture whose brand is paid as pay says (given the
// fixture's EIP-3009 token and the plain ERC-20).
func newFixturePay(t *testing.T, pay func(eip3009, plain string) brand.Pay) *fixture {
	f := newFixtureLimit(t, nil, 5, false)
	p := f.profile
	p.Pay = []brand.Pay{pay(f.usdc, f.aw.Token)}
	srv, err := brand.NewServer(&p, f.priv, f.answerer, f.fac)
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	f.handler.Store(&h)
	return f
}

// newFixtureLimit: perMinute paid calls per payer; viaWallet settles
// through the wallet's account 1 under its policy, as sov brand serve
// does, rather than from a raw key.
func newFixtureLimit(t testing.TB, wrap func(http.Handler) http.Handler, perMinute int, viaWallet bool) *fixture {
	t.Helper()
	f := &fixture{aw: wallettest.NewAnvilWallet(t)}
	chain := governortest.On(t, f.aw, nil)
	f.chain = chain
	f.usdc = f.aw.Anvil.DeployEIP3009(t, f.aw.Keys)
	var cfg wallet.Config
	if err := cfg.AddRPC(context.Background(), wallet.NetworkConfig{Name: "anvil", RPC: []string{f.aw.Anvil.URL}, USDC: f.usdc}); err != nil {
		t.Fatal(err)
	}
	all, _ := cfg.All()
	n, _ := wallet.FindNetwork(all, "anvil")
	f.nets = []wallet.Network{n}
	f.facNow = time.Now()
	facW := wallet.New(t.TempDir(), wallet.WithClock(func() time.Time { return f.facNow }))
	var snd wallet.X402Sender = &governortest.KeySender{Chain: chain, Key: chain.Key(1)}
	if viaWallet {
		approver := f.aw.Wallet.NewSession(wallet.SessionConfig{Caller: "test", Unlock: f.aw.Unlock(), Networks: f.nets, Interactive: true,
			Approver: func(context.Context, string, string) ([]byte, error) { return []byte(wallettest.Pass), nil }})
		if _, err := approver.EditPolicy(context.Background(), wallet.PolicyEdit{AllowCall: []string{"anvil:" + f.usdc + ":" + wallet.X402TransferSelector}}); err != nil {
			t.Fatal(err)
		}
		var err error
		if snd, err = f.aw.Wallet.NewSession(wallet.SessionConfig{Caller: "brand", Unlock: f.aw.Unlock(), Networks: f.nets}).X402Sender(1); err != nil {
			t.Fatal(err)
		}
	}
	fac := &maybeLying{Facilitator: wallet.NewFacilitator(facW, f.nets, snd), lie: &f.liar}
	p := &brand.Profile{Name: "Acme", Collection: "acme", Prices: map[string]string{brand.ToolAsk: "0.01"}, PerMinute: perMinute,
		Pay: []brand.Pay{{Network: n.CAIP2, PayTo: payee, Asset: f.usdc, Decimals: 6, TokenName: "USD Coin", TokenVersion: "2"}}}
	var priv ed25519.PrivateKey
	f.pub, priv, _ = ed25519.GenerateKey(rand.Reader)
	answer := func(ctx context.Context, tool string, args map[string]any) (brand.Reply, error) {
		if f.fail != nil {
			return brand.Reply{}, f.fail
		}
		f.answers.Add(1)
		return brand.Reply{Text: "Acme sells anvils: " + args["question"].(string), Model: strings.Repeat("ab", 32)}, nil
	}
	f.profile, f.priv, f.answerer, f.fac = *p, priv, answer, fac
	var err error
	if f.srv, err = brand.NewServer(p, priv, answer, fac); err != nil {
		t.Fatal(err)
	}
	h := f.srv.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	f.handler.Store(&h)
	f.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*f.handler.Load()).ServeHTTP(w, r) }))
	t.Cleanup(f.http.Close)
	return f
}

func (f *fixture) payer(max string) brand.Payer {
	s := f.aw.Wallet.NewSession(wallet.SessionConfig{Caller: "test", Unlock: f.aw.Unlock(), Networks: f.nets})
	return func(ctx context.Context, raw []byte) (wallet.X402Payment, error) {
		return s.PayX402(ctx, raw, wallet.X402Options{Max: max})
	}
}

func (f *fixture) ask(q, max string) (brand.Result, error) {
	return brand.Ask(context.Background(), brand.Call{Endpoint: f.http.URL, Args: map[string]any{"question": q}, Key: f.pub, Pay: f.payer(max)})
}

func (f *fixture) paid(t *testing.T) int64 {
	return f.aw.Anvil.TokenBalance(t, f.usdc, payee).Int64()
}

// TestBrandAskPaidSigned is the acceptance line on loopback and anvil:
// brand A announces, the user trusts A's key and finds A's endpoint
// through the announcement, asks, pays 0.01 test-USDC, gets an answer
// signed by A over {request, answer, model, settlement}, and records the
// exchange in a ledger that verifies.
func TestBrandAskPaidSigned(t *testing.T) {
	f := newFixture(t, nil)
	sk, _ := nostr.GenerateKey()
	ann, err := brand.NewAnnouncement(&brand.Profile{Name: "Acme", Prices: map[string]string{brand.ToolAsk: "0.01"}, Pay: []brand.Pay{{Network: f.nets[0].CAIP2, PayTo: payee, Asset: f.usdc, Decimals: 6, TokenName: "USD Coin", TokenVersion: "2"}}}, f.http.URL, f.pub)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := ann.Event(sk, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	trusted := nostr.Npub(sk.PublicKey())
	dir, err := brand.Discover(strings.NewReader(string(ev.Marshal())), func(n string) bool { return n == trusted })
	if err != nil {
		t.Fatal(err)
	}
	a, err := dir.Find("Acme")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := brand.ParseKey(a.Key)
	check := f.aw.Wallet.NewSession(wallet.SessionConfig{Caller: "test", Networks: f.nets}).CheckX402Settled
	res, err := brand.Ask(context.Background(), brand.Call{Endpoint: a.Endpoint, Args: map[string]any{"question": "what do you sell?"}, Key: key, Pay: f.payer("0.01"), Check: check})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verified || res.Problem != "" || !strings.Contains(res.Answer.Answer, "what do you sell?") {
		t.Fatalf("result %+v", res)
	}
	if !f.aw.Anvil.Succeeded(t, res.Settlement.Transaction) || res.Answer.Transaction != res.Settlement.Transaction || f.paid(t) != 10000 {
		t.Fatalf("settlement %+v, payee holds %d", res.Settlement, f.paid(t))
	}
	if res.Payment.Amount != "0.01 USDC" {
		t.Fatalf("paid %q", res.Payment.Amount)
	}
	lk, _ := f.aw.Keys.LedgerKey()
	l := f.aw.Ledger
	signer, err := l.Signer(lk)
	if err != nil {
		t.Fatal(err)
	}
	e, err := brand.Record(context.Background(), l, signer, "cli", a, res)
	if err != nil {
		t.Fatal(err)
	}
	if e.Fields["verified"] != true || e.Fields["transaction"] != res.Settlement.Transaction || e.Subjects["answer"] != ledger.SHA256([]byte(res.Answer.Answer)) {
		t.Fatalf("entry %+v", e)
	}
	rep, err := l.Verify(context.Background())
	if err != nil || rep.Err() != nil || rep.Entries == 0 || rep.Signed+rep.Covered != rep.Entries {
		t.Fatalf("ledger verify: %v %+v", err, rep)
	}
	// the same over MCP (x402's MCP transport)
	mres, err := brand.AskMCP(context.Background(), brand.Call{Endpoint: a.Endpoint + "/mcp", Args: map[string]any{"question": "over MCP?"}, Key: key, Pay: f.payer("0.01"), Check: check})
	if err != nil || !mres.Verified || mres.Settlement.Transaction == "" || !strings.Contains(mres.Answer.Answer, "over MCP?") || f.paid(t) != 20000 {
		t.Fatalf("MCP: %v %+v, payee holds %d", err, mres, f.paid(t))
	}
	// a second question is a new request: paid again, once
	if _, err := f.ask("and what else?", "0.01"); err != nil || f.paid(t) != 30000 {
		t.Fatalf("second question: %v, payee holds %d", err, f.paid(t))
	}
}

// TestBrandBadInput: each bad case is refused or reported, and money
// moves only for an answer.
func TestBrandBadInput(t *testing.T) {
	ctx := context.Background()
	t.Run("price above max", func(t *testing.T) {
		f := newFixture(t, nil)
		if _, err := f.ask("q", "0.005"); !errors.Is(err, wallet.ErrAboveMax) || f.paid(t) != 0 || f.answers.Load() != 0 {
			t.Fatalf("got %v, paid %d", err, f.paid(t))
		}
	})
	t.Run("replayed payment", func(t *testing.T) {
		f := newFixture(t, nil)
		var header string
		pay := f.payer("0.01")
		capture := func(ctx context.Context, raw []byte) (wallet.X402Payment, error) {
			p, err := pay(ctx, raw)
			header = p.Header
			return p, err
		}
		if _, err := brand.Ask(ctx, brand.Call{Endpoint: f.http.URL, Args: map[string]any{"question": "q"}, Key: f.pub, Pay: capture}); err != nil {
			t.Fatal(err)
		}
		replay := func(ctx context.Context, raw []byte) (wallet.X402Payment, error) {
			return wallet.X402Payment{Header: header}, nil
		}
		_, err := brand.Ask(ctx, brand.Call{Endpoint: f.http.URL, Args: map[string]any{"question": "q"}, Key: f.pub, Pay: replay})
		var refused *brand.RefusedError
		if !errors.As(err, &refused) || refused.Status != http.StatusPaymentRequired || !strings.Contains(refused.Reason, brand.ReasonReplayed) || f.paid(t) != 10000 || f.answers.Load() != 1 {
			t.Fatalf("replay: %v, paid %d, answers %d", err, f.paid(t), f.answers.Load())
		}
	})
	t.Run("expired validBefore", func(t *testing.T) {
		f := newFixture(t, nil)
		f.facNow = time.Now().Add(10 * time.Minute) // the facilitator sees the authorization after its deadline
		_, err := f.ask("q", "0.01")
		var refused *brand.RefusedError
		if !errors.As(err, &refused) || !strings.Contains(refused.Reason, wallet.X402ValidBeforeExpired) || f.paid(t) != 0 || f.answers.Load() != 0 {
			t.Fatalf("expired: %v, paid %d", err, f.paid(t))
		}
	})
	t.Run("answer fails: nothing charged", func(t *testing.T) {
		f := newFixture(t, nil)
		f.fail = errors.New("model crashed")
		_, err := f.ask("q", "0.01")
		var refused *brand.RefusedError
		if !errors.As(err, &refused) || refused.Status != http.StatusInternalServerError || !strings.Contains(refused.Reason, "nothing was charged") || f.paid(t) != 0 {
			t.Fatalf("failed answer: %v, paid %d", err, f.paid(t))
		}
	})
	t.Run("signature does not verify", func(t *testing.T) {
		f := newFixture(t, nil)
		other, _, _ := ed25519.GenerateKey(rand.Reader)
		res, err := brand.Ask(ctx, brand.Call{Endpoint: f.http.URL, Args: map[string]any{"question": "q"}, Key: other, Pay: f.payer("0.01")})
		if err != nil || res.Verified || !strings.Contains(res.Problem, "does not verify") || res.Answer.Answer == "" {
			t.Fatalf("unverified: %v %+v", err, res)
		}
		l := ledger.Open(t.TempDir())
		e, err := brand.Record(ctx, l, nil, "cli", brand.Announcement{Name: "Acme"}, res)
		if err != nil || e.Fields["verified"] != false || !strings.Contains(e.Fields["problem"].(string), "does not verify") {
			t.Fatalf("ledger: %v %+v", err, e.Fields)
		}
	})
	t.Run("paid, no answer", func(t *testing.T) {
		// a brand that settles and then drops the answer
		f := newFixture(t, func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				if rec.Code == http.StatusOK {
					w.WriteHeader(http.StatusBadGateway)
					return
				}
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes())
			})
		})
		_, err := f.ask("q", "0.01")
		var lost *brand.PaidNoAnswerError
		if !errors.As(err, &lost) || lost.Settlement.Transaction == "" || !strings.Contains(err.Error(), lost.Settlement.Transaction) || f.paid(t) != 10000 {
			t.Fatalf("paid, no answer: %v", err)
		}
	})
	t.Run("settlement signed but not on chain", func(t *testing.T) {
		f := newFixture(t, nil)
		f.liar = true // the brand's facilitator reports a settlement it never sent
		check := f.aw.Wallet.NewSession(wallet.SessionConfig{Caller: "test", Networks: f.nets}).CheckX402Settled
		res, err := brand.Ask(ctx, brand.Call{Endpoint: f.http.URL, Args: map[string]any{"question": "q"}, Key: f.pub, Pay: f.payer("0.01"), Check: check})
		if err != nil || res.Verified || !strings.Contains(res.Problem, "not confirmed on chain") || !errors.Is(check(ctx, res.Payment.Payload, res.Answer.Transaction), wallet.ErrNotSettled) || f.paid(t) != 0 {
			t.Fatalf("lying brand: %v %q, paid %d", err, res.Problem, f.paid(t))
		}
	})
	t.Run("network the wallet does not know", func(t *testing.T) {
		f := newFixturePay(t, func(usdc, _ string) brand.Pay {
			return brand.Pay{Network: "eip155:999999", PayTo: payee, Asset: usdc, Decimals: 6, TokenName: "USD Coin", TokenVersion: "2"}
		})
		if _, err := f.ask("q", "0.01"); !errors.Is(err, wallet.ErrNoX402Option) || f.paid(t) != 0 || f.answers.Load() != 0 {
			t.Fatalf("unknown network: %v", err)
		}
	})
	t.Run("token without EIP-3009", func(t *testing.T) {
		f := newFixturePay(t, func(_, plain string) brand.Pay {
			return brand.Pay{Network: f0network, PayTo: payee, Asset: plain, Decimals: 6, TokenName: "USD Coin", TokenVersion: "2"}
		})
		// the user's wallet cannot price it: headless, it signs nothing
		var walletRefused *wallet.RefusedError
		if _, err := f.ask("q", ""); !errors.As(err, &walletRefused) {
			t.Fatalf("signed for an unknown token headless: %v", err)
		}
		// a person approves; the brand's facilitator refuses the token
		s := f.aw.Wallet.NewSession(wallet.SessionConfig{Caller: "test", Unlock: f.aw.Unlock(), Networks: f.nets, Interactive: true,
			Approver: func(context.Context, string, string) ([]byte, error) { return []byte(wallettest.Pass), nil }})
		pay := func(ctx context.Context, raw []byte) (wallet.X402Payment, error) {
			return s.PayX402(ctx, raw, wallet.X402Options{})
		}
		_, err := brand.Ask(ctx, brand.Call{Endpoint: f.http.URL, Args: map[string]any{"question": "q"}, Key: f.pub, Pay: pay})
		var refused *brand.RefusedError
		if !errors.As(err, &refused) || !strings.Contains(refused.Reason, wallet.X402NotEIP3009) || f.answers.Load() != 0 {
			t.Fatalf("plain ERC-20: %v", err)
		}
	})
	t.Run("rate limit per payer", func(t *testing.T) {
		f := newFixture(t, nil)
		for i := 0; i < 5; i++ {
			if _, err := f.ask("q"+string(rune('a'+i)), "0.01"); err != nil {
				t.Fatal(err)
			}
		}
		_, err := f.ask("one more", "0.01")
		var refused *brand.RefusedError
		if !errors.As(err, &refused) || refused.Status != http.StatusTooManyRequests || f.paid(t) != 50000 {
			t.Fatalf("rate limit: %v, paid %d", err, f.paid(t))
		}
	})
}

// TestBrandConcurrentPayers: 50 clients ask at once: every answer is paid
// exactly once, no authorization nonce is used twice, and nothing is paid
// without an answer.
func TestBrandConcurrentPayers(t *testing.T) {
	f := newFixtureLimit(t, nil, 1000, true)
	const n = 50
	var wg sync.WaitGroup
	results := make([]brand.Result, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = f.ask("question "+string(rune('A'+i%26))+string(rune('a'+i/26)), "0.01")
		}()
	}
	wg.Wait()
	nonces, txs := map[string]bool{}, map[string]bool{}
	for i, r := range results {
		if errs[i] != nil || !r.Verified {
			t.Fatalf("client %d: %v %+v", i, errs[i], r)
		}
		nonce := r.Payment.Payload.Payload.Authorization.Nonce
		if nonces[nonce] || txs[r.Settlement.Transaction] {
			t.Fatalf("client %d: nonce or settlement used twice", i)
		}
		nonces[nonce], txs[r.Settlement.Transaction] = true, true
	}
	if got := f.paid(t); got != n*10000 || int(f.answers.Load()) != n {
		t.Fatalf("payee holds %d for %d answers, want %d", got, f.answers.Load(), n*10000)
	}
}

// BenchmarkBrandPaymentOverhead (make bench): what paying adds to a
// question, on loopback with anvil (automine) and an answerer that costs
// nothing: 50 questions asked unpaid (the brand's round trip, which
// answers the unpaid call with its 402: the same request and the same
// zero-cost answer, without payment) and paid (402, sign, retry, verify,
// settle, the answer signed and its signature checked), interleaved.
// Target: at most 150 ms added at p50.
func BenchmarkBrandPaymentOverhead(b *testing.B) {
	f := newFixtureLimit(b, nil, 1000, true)
	const n = 50
	var paid, unpaid []time.Duration
	for b.Loop() {
		paid, unpaid = paid[:0], unpaid[:0]
		for i := range n {
			q := "overhead " + string(rune('A'+i%26)) + string(rune('a'+i/26)) + fmt.Sprint(len(paid))
			start := time.Now()
			resp, err := http.Post(f.http.URL+"/ask", "application/json", strings.NewReader(`{"question":"`+q+`"}`))
			if err != nil || resp.StatusCode != http.StatusPaymentRequired {
				b.Fatalf("unpaid: %v", err)
			}
			resp.Body.Close()
			unpaid = append(unpaid, time.Since(start))
			start = time.Now()
			if r, err := f.ask(q, "0.01"); err != nil || !r.Verified {
				b.Fatal(err, r.Problem)
			}
			paid = append(paid, time.Since(start))
		}
	}
	pct := func(d []time.Duration, p int) time.Duration {
		slices.Sort(d)
		return d[(len(d)-1)*p/100]
	}
	added := pct(paid, 50) - pct(unpaid, 50)
	verdict := "meets"
	if added > 150*time.Millisecond {
		verdict = "MISSES"
	}
	fmt.Printf("brand.ask, %d questions: paid p50 %v p95 %v; unpaid p50 %v p95 %v; payment adds p50 %v, p95 %v (%s the 150 ms target)\n",
		n, pct(paid, 50).Round(time.Millisecond), pct(paid, 95).Round(time.Millisecond), pct(unpaid, 50).Round(10*time.Microsecond), pct(unpaid, 95).Round(10*time.Microsecond),
		added.Round(time.Millisecond), (pct(paid, 95) - pct(unpaid, 95)).Round(time.Millisecond), verdict)
}

// maybeLying reports a settlement it never sent when *lie is set.
type maybeLying struct {
	*wallet.Facilitator
	lie *bool
}

func (m *maybeLying) Settle(ctx context.Context, p wallet.X402Payload, req wallet.PaymentRequirements) wallet.X402Settlement {
	if *m.lie {
		return wallet.X402Settlement{Success: true, Transaction: "0x" + strings.Repeat("ab", 32), Network: req.Network, Payer: p.Payload.Authorization.From}
	}
	return m.Facilitator.Settle(ctx, p, req)
}
