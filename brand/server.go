package brand

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sovos/sov/wallet"
)

// HTTP headers of x402 v2.
const (
	HeaderRequired  = "PAYMENT-REQUIRED"
	HeaderSignature = "PAYMENT-SIGNATURE"
	HeaderResponse  = "PAYMENT-RESPONSE"
)

// Reply is what the brand's model answered.
type Reply struct {
	Text  string
	Model string // sha256 hex of the model file
}

// Answerer produces the answer to a paid call; it runs before anything
// is settled, so a failure charges nothing.
type Answerer func(ctx context.Context, tool string, args map[string]any) (Reply, error)

// Facilitator verifies and settles x402 payments (*wallet.Facilitator).
type Facilitator interface {
	Verify(ctx context.Context, p wallet.X402Payload, req wallet.PaymentRequirements) wallet.X402Verify
	Settle(ctx context.Context, p wallet.X402Payload, req wallet.PaymentRequirements) wallet.X402Settlement
}

// Server serves a brand's priced tools.
type Server struct {
	profile *Profile
	key     ed25519.PrivateKey
	answer  Answerer
	fac     Facilitator
	now     func() time.Time
	// Log hears one line per paid call; nil drops it.
	Log func(string)

	mu       sync.Mutex
	used     map[string]time.Time   // asset|from|nonce → validBefore: authorizations taken
	calls    map[string][]time.Time // payer → paid calls in the last minute
	sessions map[string]*prepaid    // prepaid sessions by id
	// sessionsFile keeps them across restarts (KeepSessions)
	sessionsFile string
}

// Timeout is the maxTimeoutSeconds of a brand's payment requests.
const Timeout = 120

// NewServer serves p's tools, answering with answer, settling through
// fac and signing with key.
func NewServer(p *Profile, key ed25519.PrivateKey, answer Answerer, fac Facilitator) (*Server, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(key) != ed25519.PrivateKeySize || answer == nil || fac == nil {
		return nil, errors.New("brand server: a signing key, an answerer and a facilitator are required")
	}
	return &Server{profile: p, key: key, answer: answer, fac: fac, now: time.Now, used: map[string]time.Time{}, calls: map[string][]time.Time{}}, nil
}

// PublicKey is the key the brand signs answers with.
func (s *Server) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// outcome is one call's result, for the HTTP and MCP front ends alike.
type outcome struct {
	status   int                     // HTTP status
	required *wallet.PaymentRequired // set with 402
	answer   *Answer
	settle   *wallet.X402Settlement // set once a settlement was tried
	err      error
}

// Error codes of a brand's refusals, beside x402's own.
const (
	ReasonReplayed    = "payment_replayed"
	ReasonRateLimited = "rate_limited"
	ReasonNoOption    = "payment_option_not_offered"
)

// call runs tool for args: without a payment it answers what to pay; with
// one it verifies it, produces the answer, settles, then signs.
func (s *Server) call(ctx context.Context, resource, tool string, args map[string]any, pay *wallet.X402Payload) outcome {
	accepts, err := s.profile.Requirements(tool, Timeout)
	if err != nil {
		return outcome{status: http.StatusNotFound, err: err}
	}
	if q, _ := args["question"].(string); tool == ToolAsk && strings.TrimSpace(q) == "" {
		return outcome{status: http.StatusBadRequest, err: errors.New(`brand.ask needs a non-empty "question"`)}
	}
	req := RequestHash(tool, args)
	required := func(reason string) outcome {
		// a fresh challenge per 402, so a payer's once-only rule (the
		// request's hash) never refuses a second question
		var n [8]byte
		rand.Read(n[:])
		pr := &wallet.PaymentRequired{X402Version: 2, Error: reason, Accepts: accepts,
			Resource: &wallet.PaymentResource{URL: resource + "#" + req[:16] + "-" + hex.EncodeToString(n[:]),
				Description: s.profile.Name + ": " + tool, MimeType: "application/json"}}
		return outcome{status: http.StatusPaymentRequired, required: pr}
	}
	if pay == nil {
		return required("")
	}
	var opt *wallet.PaymentRequirements
	for i, a := range accepts {
		got := pay.Accepted
		if got.Scheme == a.Scheme && got.Network == a.Network && strings.EqualFold(got.Asset, a.Asset) && strings.EqualFold(got.PayTo, a.PayTo) && got.Amount == a.Amount {
			opt = &accepts[i]
			break
		}
	}
	if opt == nil {
		return required(ReasonNoOption + ": the payment accepts an option this brand does not offer for " + tool)
	}
	auth := pay.Payload.Authorization
	key := strings.ToLower(opt.Asset + "|" + auth.From + "|" + auth.Nonce)
	if !s.take(key) {
		return required(ReasonReplayed + ": this authorization was presented already")
	}
	if v := s.fac.Verify(ctx, *pay, *opt); !v.IsValid {
		s.release(key)
		return required(v.InvalidReason + ": " + v.InvalidMessage)
	}
	if !s.allow(strings.ToLower(auth.From)) {
		s.release(key)
		return outcome{status: http.StatusTooManyRequests, err: fmt.Errorf("%s: more than %d paid calls a minute from %s", ReasonRateLimited, s.perMinute(), auth.From)}
	}
	rep, err := s.answer(ctx, tool, args)
	if err == nil && strings.TrimSpace(rep.Text) == "" {
		err = errors.New("the model gave an empty answer")
	}
	if err != nil {
		// nothing was settled: the authorization may be presented again
		s.release(key)
		s.logf("%s from %s: no answer, nothing charged: %v", tool, auth.From, err)
		return outcome{status: http.StatusInternalServerError, err: fmt.Errorf("no answer (nothing was charged): %w", err)}
	}
	// a settlement started is seen through, whatever the client does
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	st := s.fac.Settle(sctx, *pay, *opt)
	if !st.Success {
		s.logf("%s from %s: settlement refused: %s", tool, auth.From, st.ErrorReason)
		o := required(st.ErrorReason + ": " + st.ErrorMessage)
		o.settle = &st
		return o
	}
	a, err := Sign(s.key, Statement{Request: req, Answer: rep.Text, Model: rep.Model, Transaction: st.Transaction})
	if err != nil {
		return outcome{status: http.StatusInternalServerError, settle: &st, err: err}
	}
	a.Network, a.Payer = st.Network, st.Payer
	s.logf("%s from %s: answered, paid %s (%s)", tool, auth.From, opt.Amount, st.Transaction)
	return outcome{status: http.StatusOK, answer: &a, settle: &st}
}

func (s *Server) logf(format string, a ...any) {
	if s.Log != nil {
		s.Log(fmt.Sprintf(format, a...))
	}
}

// take marks an authorization as presented; false when it was already.
// Entries go once their validity is long past (the chain refuses them
// then anyway).
func (s *Server) take(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, t := range s.used {
		if now.Sub(t) > time.Hour {
			delete(s.used, k)
		}
	}
	if _, ok := s.used[key]; ok {
		return false
	}
	s.used[key] = now
	return true
}

func (s *Server) release(key string) {
	s.mu.Lock()
	delete(s.used, key)
	s.mu.Unlock()
}

func (s *Server) perMinute() int {
	if s.profile.PerMinute > 0 {
		return s.profile.PerMinute
	}
	return 30
}

// allow counts a paid call of payer against the per-minute limit.
func (s *Server) allow(payer string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	recent := s.calls[payer][:0]
	for _, t := range s.calls[payer] {
		if now.Sub(t) < time.Minute {
			recent = append(recent, t)
		}
	}
	if len(recent) >= s.perMinute() {
		s.calls[payer] = recent
		return false
	}
	s.calls[payer] = append(recent, now)
	return true
}

// Handler serves the brand: its MCP endpoint at /mcp (see MCPHandler) and
// the plain HTTP endpoint for non-MCP clients, POST /tools/TOOL with the
// arguments as a JSON object (POST /ask is brand.ask), answered with 402
// and x402 v2 headers until paid.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	serve := func(w http.ResponseWriter, r *http.Request, tool string) {
		var args map[string]any
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&args); err != nil {
			httpError(w, http.StatusBadRequest, "the body must be a JSON object of the tool's arguments: "+err.Error())
			return
		}
		pay, err := paymentOf(r)
		if err != nil {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
		var o outcome
		if id := r.Header.Get(HeaderSession); id != "" && tool == ToolAsk {
			o = s.askInSession(r.Context(), resourceURL(r), args, id, r.Header.Get(HeaderSessionNonce), r.Header.Get(HeaderSessionSignature))
		} else {
			o = s.call(r.Context(), resourceURL(r), tool, args, pay)
		}
		writeOutcome(w, o, o.answer)
	}
	mux.HandleFunc("POST /ask", func(w http.ResponseWriter, r *http.Request) { serve(w, r, ToolAsk) })
	mux.HandleFunc("POST /session", s.serveSession)
	mux.HandleFunc("POST /tools/{tool}", func(w http.ResponseWriter, r *http.Request) { serve(w, r, r.PathValue("tool")) })
	mux.Handle("/mcp", s.MCPHandler())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"name": s.profile.Name, "description": s.profile.Description,
			"tools": s.profile.Tools(), "prices": s.profile.Prices, "key": base64.StdEncoding.EncodeToString(s.PublicKey())})
	})
	return mux
}

// paymentOf is the request's PAYMENT-SIGNATURE, nil when it has none.
func paymentOf(r *http.Request) (*wallet.X402Payload, error) {
	h := r.Header.Get(HeaderSignature)
	if h == "" {
		return nil, nil
	}
	p, err := wallet.ParsePaymentSignature(h)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// resourceURL is the URL the request was sent to (x402's resource).
func resourceURL(r *http.Request) string {
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return scheme + r.Host + r.URL.Path
}

// writeOutcome writes o: the settlement as PAYMENT-RESPONSE, then the
// payment request (402), the error, or body.
func writeOutcome(w http.ResponseWriter, o outcome, body any) {
	if o.settle != nil {
		b, _ := json.Marshal(o.settle)
		w.Header().Set(HeaderResponse, base64.StdEncoding.EncodeToString(b))
	}
	switch {
	case o.required != nil:
		b, _ := json.Marshal(o.required)
		w.Header().Set(HeaderRequired, base64.StdEncoding.EncodeToString(b))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusPaymentRequired)
		w.Write(b)
	case o.err != nil:
		httpError(w, o.status, o.err.Error())
	default:
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(body)
	}
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// Serve serves the Handler on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() { hs.Shutdown(context.Background()) })
	defer stop()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
