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
	"math/big"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/sovos/sov/internal/config"
	"github.com/sovos/sov/wallet"
)

// Prepaid sessions: settling on chain per answer costs more than a small
// answer's price, so a payer may buy N answers with one x402 payment of
// N times the price (settled at once: that is what it buys) and then ask
// N times. Each question in a session is signed by the payer's EVM key
// (EIP-191 over the session, the request's hash and a fresh nonce), so
// nothing secret is kept on the payer's side and a stolen session id buys
// nothing; each answer is signed by the brand with the answers left.

// Headers of a question asked in a prepaid session.
const (
	HeaderSession          = "SOV-SESSION"
	HeaderSessionNonce     = "SOV-SESSION-NONCE"
	HeaderSessionSignature = "SOV-SESSION-SIGNATURE"
)

// MaxSessionAnswers bounds one session (and so one deposit).
const MaxSessionAnswers = 100

// ErrSessionSize: a session is 2 to MaxSessionAnswers answers.
var ErrSessionSize = fmt.Errorf("a prepaid session is 2 to %d answers", MaxSessionAnswers)

// Reasons a brand gives for a refused session question.
const (
	ReasonSessionUnknown   = "session_unknown"
	ReasonSessionExhausted = "session_exhausted"
	ReasonSessionSignature = "session_signature_invalid"
)

// SessionReceipt is what a brand signs when it opens a session: who paid,
// for how many answers at what price, settled by which transaction.
type SessionReceipt struct {
	Session     string `json:"session"`
	Payer       string `json:"payer"`
	Answers     int    `json:"answers"`
	Price       string `json:"price"` // per answer, atomic units of the asset
	Asset       string `json:"asset"`
	Network     string `json:"network"`
	Transaction string `json:"transaction"`
}

// Canonical is the receipt as RFC 8785 JSON: the bytes signed.
func (r SessionReceipt) Canonical() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return jcs.Transform(b)
}

// SignedSession is a session receipt with the brand's signature.
type SignedSession struct {
	SessionReceipt
	Key       string `json:"key"`
	Signature string `json:"signature"`
}

// Verify checks the receipt's signature under the announced key pub.
func (s SignedSession) Verify(pub ed25519.PublicKey) error {
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	msg, cerr := s.SessionReceipt.Canonical()
	if err != nil || cerr != nil || len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, msg, sig) {
		return fmt.Errorf("%w: the session receipt", ErrUnverified)
	}
	return nil
}

// SessionMessage is what the payer signs (EIP-191) to ask in a session.
func SessionMessage(session, request, nonce string) []byte {
	return []byte("sov brand session " + session + "\nrequest " + request + "\nnonce " + nonce)
}

// prepaid is a session's state at the brand.
type prepaid struct {
	Receipt SessionReceipt  `json:"receipt"`
	Left    int             `json:"left"`
	Nonces  map[string]bool `json:"nonces"`
}

// KeepSessions makes the server keep its prepaid sessions in the file at
// path (read now, rewritten atomically after each change), so a restart
// loses no answer a payer paid for. Without it they live in memory only.
func (s *Server) KeepSessions(path string) error {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("prepaid sessions: %w", err)
	default:
		m := map[string]*prepaid{}
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("prepaid sessions: %s is damaged (%v): move it aside; the payers' receipts still prove what they bought", path, err)
		}
		s.mu.Lock()
		s.sessions = m
		s.mu.Unlock()
	}
	s.sessionsFile = path
	return nil
}

// saveSessions writes the sessions to their file; the caller holds s.mu.
func (s *Server) saveSessions() error {
	if s.sessionsFile == "" {
		return nil
	}
	b, err := json.Marshal(s.sessions)
	if err != nil {
		return err
	}
	return config.WriteFileAtomic(s.sessionsFile, b, 0o600)
}

// sessionRequirements are brand.ask's payment options for n answers.
func (s *Server) sessionRequirements(n int) ([]wallet.PaymentRequirements, error) {
	accepts, err := s.profile.Requirements(ToolAsk, Timeout)
	if err != nil {
		return nil, err
	}
	for i := range accepts {
		per, ok := new(big.Int).SetString(accepts[i].Amount, 10)
		if !ok {
			return nil, fmt.Errorf("brand.ask's price %q is not an amount", accepts[i].Amount)
		}
		accepts[i].Amount = new(big.Int).Mul(per, big.NewInt(int64(n))).String()
	}
	return accepts, nil
}

// openSession answers POST /session: without a payment what n answers
// cost; with one, it verifies and settles it and signs the receipt.
func (s *Server) openSession(ctx context.Context, resource string, n int, pay *wallet.X402Payload) (outcome, *SignedSession) {
	if n < 2 || n > MaxSessionAnswers {
		return outcome{status: http.StatusBadRequest, err: fmt.Errorf(`a session is 2 to %d answers ("answers")`, MaxSessionAnswers)}, nil
	}
	accepts, err := s.sessionRequirements(n)
	if err != nil {
		return outcome{status: http.StatusNotFound, err: err}, nil
	}
	required := func(reason string) outcome {
		var r [8]byte
		rand.Read(r[:])
		return outcome{status: http.StatusPaymentRequired, required: &wallet.PaymentRequired{X402Version: 2, Error: reason, Accepts: accepts,
			Resource: &wallet.PaymentResource{URL: resource + "#" + hex.EncodeToString(r[:]), Description: fmt.Sprintf("%s: %d answers of %s", s.profile.Name, n, ToolAsk), MimeType: "application/json"}}}
	}
	if pay == nil {
		return required(""), nil
	}
	var opt *wallet.PaymentRequirements
	for i, a := range accepts {
		got := pay.Accepted
		if got.Scheme == a.Scheme && got.Network == a.Network && strings.EqualFold(got.Asset, a.Asset) && strings.EqualFold(got.PayTo, a.PayTo) && got.Amount == a.Amount {
			opt = &accepts[i]
		}
	}
	if opt == nil {
		return required(ReasonNoOption + fmt.Sprintf(": the payment is not one this brand offers for %d answers", n)), nil
	}
	auth := pay.Payload.Authorization
	key := strings.ToLower(opt.Asset + "|" + auth.From + "|" + auth.Nonce)
	if !s.take(key) {
		return required(ReasonReplayed + ": this authorization was presented already"), nil
	}
	if v := s.fac.Verify(ctx, *pay, *opt); !v.IsValid {
		s.release(key)
		return required(v.InvalidReason + ": " + v.InvalidMessage), nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	st := s.fac.Settle(sctx, *pay, *opt)
	if !st.Success {
		o := required(st.ErrorReason + ": " + st.ErrorMessage)
		o.settle = &st
		return o, nil
	}
	var id [16]byte
	rand.Read(id[:])
	per, _ := new(big.Int).SetString(opt.Amount, 10)
	rec := SessionReceipt{Session: hex.EncodeToString(id[:]), Payer: strings.ToLower(auth.From), Answers: n,
		Price: new(big.Int).Div(per, big.NewInt(int64(n))).String(), Asset: opt.Asset, Network: st.Network, Transaction: st.Transaction}
	msg, err := rec.Canonical()
	if err != nil {
		return outcome{status: http.StatusInternalServerError, settle: &st, err: err}, nil
	}
	signed := &SignedSession{SessionReceipt: rec, Key: base64.StdEncoding.EncodeToString(s.PublicKey()),
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, msg))}
	s.mu.Lock()
	if s.sessions == nil {
		s.sessions = map[string]*prepaid{}
	}
	s.sessions[rec.Session] = &prepaid{Receipt: rec, Left: n, Nonces: map[string]bool{}}
	if err := s.saveSessions(); err != nil {
		s.logf("session %s: not saved (%v): it lasts until the brand stops", rec.Session[:8], err)
	}
	s.mu.Unlock()
	s.logf("session %s from %s: %d answers, paid %s (%s)", rec.Session[:8], auth.From, n, opt.Amount, st.Transaction)
	return outcome{status: http.StatusOK, settle: &st}, signed
}

// askInSession answers brand.ask in a prepaid session: the payer's
// signature over the request and a fresh nonce spends one answer, given
// back if no answer comes.
func (s *Server) askInSession(ctx context.Context, resource string, args map[string]any, id, nonce, sig string) outcome {
	if q, _ := args["question"].(string); strings.TrimSpace(q) == "" {
		return outcome{status: http.StatusBadRequest, err: errors.New(`brand.ask needs a non-empty "question"`)}
	}
	req := RequestHash(ToolAsk, args)
	refuse := func(status int, reason string) outcome {
		return outcome{status: status, err: errors.New(reason)}
	}
	if len(nonce) < 16 || len(nonce) > 64 {
		return refuse(http.StatusBadRequest, ReasonSessionSignature+": the nonce must be 16 to 64 characters")
	}
	who, err := wallet.RecoverPersonal(SessionMessage(id, req, nonce), hexBytes(sig))
	s.mu.Lock()
	p := s.sessions[id]
	switch {
	case p == nil:
		s.mu.Unlock()
		return refuse(http.StatusNotFound, ReasonSessionUnknown+": no open session has this id")
	case err != nil || !strings.EqualFold(who.Hex(), p.Receipt.Payer):
		s.mu.Unlock()
		return refuse(http.StatusForbidden, ReasonSessionSignature+": the question is not signed by the session's payer")
	case p.Nonces[nonce]:
		s.mu.Unlock()
		return refuse(http.StatusForbidden, ReasonReplayed+": this signed question was presented already")
	case p.Left == 0:
		s.mu.Unlock()
		o := s.call(ctx, resource, ToolAsk, args, nil)
		o.required.Error = ReasonSessionExhausted + ": every answer of this session was given; pay for this one or open another session"
		return o
	}
	p.Nonces[nonce] = true
	p.Left--
	rec := p.Receipt
	serr := s.saveSessions()
	s.mu.Unlock()
	if serr != nil {
		// an answer whose spending cannot be kept would be free after a restart
		s.mu.Lock()
		p.Left++
		s.mu.Unlock()
		return outcome{status: http.StatusInternalServerError, err: fmt.Errorf("the session could not be saved (nothing spent): %w", serr)}
	}
	rep, err := s.answer(ctx, ToolAsk, args)
	if err == nil && strings.TrimSpace(rep.Text) == "" {
		err = errors.New("the model gave an empty answer")
	}
	s.mu.Lock()
	if err != nil {
		p.Left++         // no answer: the answer paid for is still owed
		s.saveSessions() //nolint:errcheck // at worst the payer is owed one answer fewer after a restart
	}
	left := p.Left
	s.mu.Unlock()
	if err != nil {
		s.logf("session %s: no answer, nothing spent: %v", id[:8], err)
		return outcome{status: http.StatusInternalServerError, err: fmt.Errorf("no answer (the session keeps it): %w", err)}
	}
	a, err := Sign(s.key, Statement{Request: req, Answer: rep.Text, Model: rep.Model, Transaction: rec.Transaction, Session: id, Remaining: &left})
	if err != nil {
		return outcome{status: http.StatusInternalServerError, err: err}
	}
	a.Network, a.Payer = rec.Network, rec.Payer
	s.logf("session %s: answered, %d left", id[:8], left)
	return outcome{status: http.StatusOK, answer: &a}
}

func hexBytes(s string) []byte {
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		return nil
	}
	return b
}

// serveSession is POST /session {"answers": N}: 402 with the price of N
// answers, then, paid, the signed receipt (and PAYMENT-RESPONSE).
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Answers int `json:"answers"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&body); err != nil {
		httpError(w, http.StatusBadRequest, `the body must be {"answers": N}: `+err.Error())
		return
	}
	pay, err := paymentOf(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	o, signed := s.openSession(r.Context(), resourceURL(r), body.Answers, pay)
	writeOutcome(w, o, signed)
}
