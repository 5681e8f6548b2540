package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sovos/sov/wallet/internal/evm"
)

// The x402 facilitator: it checks an exact EVM payment payload against
// the requirement it answers (verify) and submits the authorization on
// chain (settle). Its reasons are x402's own codes, so an x402 server
// reads them as it reads any facilitator's.
const (
	X402InvalidScheme       = "invalid_exact_evm_scheme"
	X402NetworkMismatch     = "invalid_exact_evm_network_mismatch"
	X402MissingDomain       = "invalid_exact_evm_missing_eip712_domain"
	X402RecipientMismatch   = "invalid_exact_evm_recipient_mismatch"
	X402InvalidSignature    = "invalid_exact_evm_signature"
	X402ValidBeforeExpired  = "invalid_exact_evm_payload_authorization_valid_before"
	X402ValidAfterInFuture  = "invalid_exact_evm_payload_authorization_valid_after"
	X402ValueTooLow         = "invalid_exact_evm_payload_authorization_value_mismatch"
	X402NotEIP3009          = "invalid_exact_evm_eip3009_not_supported"
	X402NonceUsed           = "invalid_exact_evm_nonce_already_used"
	X402InsufficientBalance = "invalid_exact_evm_insufficient_balance"
	X402SimulationFailed    = "invalid_exact_evm_transaction_simulation_failed"
	X402TransactionFailed   = "invalid_exact_evm_transaction_failed"
	X402InvalidPayload      = "invalid_payload"
)

// X402Sender submits a contract call from the facilitator's account and
// returns once it is broadcast (or mined); its arguments are plain so a
// wallet session or a test key can implement it.
type X402Sender interface {
	From() EVMAddress
	SendCall(ctx context.Context, net Network, to EVMAddress, data []byte, summary string) (EVMHash, error)
}

// Facilitator verifies and settles x402 exact EVM payments on nets.
type Facilitator struct {
	w    *Wallet
	nets []Network
	send X402Sender
	mu   sync.Mutex
	busy map[string]bool // authorizations being settled (token|from|nonce)
}

// NewFacilitator verifies on nets (those with an RPC) and settles through
// send.
func NewFacilitator(w *Wallet, nets []Network, send X402Sender) *Facilitator {
	return &Facilitator{w: w, nets: nets, send: send, busy: map[string]bool{}}
}

// X402Verify is a facilitator's verify response.
type X402Verify struct {
	IsValid        bool   `json:"isValid"`
	InvalidReason  string `json:"invalidReason,omitempty"`
	InvalidMessage string `json:"invalidMessage,omitempty"`
	Payer          string `json:"payer,omitempty"`
}

// X402Error is a payment a facilitator refused: x402's reason code and a
// one-line message.
type X402Error struct {
	Reason  string
	Message string
}

func (e *X402Error) Error() string { return e.Message + " (" + e.Reason + ")" }

func x402Err(reason, format string, a ...any) *X402Error {
	return &X402Error{Reason: reason, Message: fmt.Sprintf(format, a...)}
}

// checked is a payload that passed verification: what settle sends.
type checked struct {
	net   Network
	e     *EVM
	token EVMAddress
	from  EVMAddress
	data  []byte // transferWithAuthorization calldata
	value *big.Int
}

// Verify checks p against req: scheme and network, payee and amount, the
// time window, the signature (it must recover to from), that the token
// implements EIP-3009 and the nonce is unused, the payer's balance, and a
// simulation of the transfer from the facilitator's account.
func (f *Facilitator) Verify(ctx context.Context, p X402Payload, req PaymentRequirements) X402Verify {
	c, err := f.verify(ctx, p, req)
	if c != nil {
		c.e.Close()
	}
	return verifyResult(p, err)
}

func verifyResult(p X402Payload, err error) X402Verify {
	v := X402Verify{IsValid: err == nil, Payer: p.Payload.Authorization.From}
	var xe *X402Error
	if errors.As(err, &xe) {
		v.InvalidReason, v.InvalidMessage = xe.Reason, xe.Message
	} else if err != nil {
		v.InvalidReason, v.InvalidMessage = X402InvalidPayload, err.Error()
	}
	return v
}

var (
	selAuthorizationState = evm.Keccak256([]byte("authorizationState(address,bytes32)"))[:4]
	selTransferWithAuth   = evm.Keccak256([]byte("transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)"))[:4]
)

func (f *Facilitator) verify(ctx context.Context, p X402Payload, req PaymentRequirements) (*checked, error) {
	a := p.Payload.Authorization
	switch {
	case p.X402Version != 2:
		return nil, x402Err(X402InvalidPayload, "x402Version %d: only 2 is supported", p.X402Version)
	case req.Scheme != "exact" || p.Accepted.Scheme != req.Scheme:
		return nil, x402Err(X402InvalidScheme, "scheme %q: only exact is supported", p.Accepted.Scheme)
	case p.Accepted.Network != req.Network:
		return nil, x402Err(X402NetworkMismatch, "the payment is for network %q, the requirement for %q", p.Accepted.Network, req.Network)
	}
	n, ok := FindNetwork(f.nets, req.Network)
	if !ok || n.Family != FamilyEVM || len(n.RPC) == 0 {
		return nil, x402Err(X402NetworkMismatch, "network %q is not one this facilitator settles on", req.Network)
	}
	if name, _ := req.Extra["name"].(string); name == "" {
		return nil, x402Err(X402MissingDomain, "the requirement names no EIP-712 domain (extra.name, extra.version)")
	}
	token, err := ParseEVMAddress(req.Asset)
	if err != nil {
		return nil, x402Err(X402InvalidPayload, "asset: %v", err)
	}
	from, err1 := ParseEVMAddress(a.From)
	to, err2 := ParseEVMAddress(a.To)
	payTo, err3 := ParseEVMAddress(req.PayTo)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, x402Err(X402InvalidPayload, "authorization: %v", err)
	}
	if to != payTo {
		return nil, x402Err(X402RecipientMismatch, "the authorization pays %s, the requirement's payTo is %s", to.Hex(), payTo.Hex())
	}
	value, ok1 := new(big.Int).SetString(a.Value, 10)
	price, ok2 := new(big.Int).SetString(req.Amount, 10)
	after, ok3 := new(big.Int).SetString(a.ValidAfter, 10)
	before, ok4 := new(big.Int).SetString(a.ValidBefore, 10)
	nonce := evm.FromHex(a.Nonce)
	if !ok1 || !ok2 || !ok3 || !ok4 || len(nonce) != 32 || !uint256(value) || !uint256(after) || !uint256(before) {
		return nil, x402Err(X402InvalidPayload, "authorization value, validAfter and validBefore must be uint256 numbers and the nonce 32 bytes")
	}
	if value.Cmp(price) < 0 {
		return nil, x402Err(X402ValueTooLow, "the authorization pays %s, below the price of %s", value, price)
	}
	now := f.w.now().Unix()
	// a few seconds' margin: the transfer must still be valid when mined
	if before.Cmp(big.NewInt(now+6)) < 0 {
		return nil, x402Err(X402ValidBeforeExpired, "the authorization expired (validBefore %s)", unixTime(before))
	}
	if after.Cmp(big.NewInt(now)) > 0 {
		return nil, x402Err(X402ValidAfterInFuture, "the authorization is not valid yet (validAfter %s)", unixTime(after))
	}
	td, err := authorizationTypedData(req, n.ChainID, a)
	if err != nil {
		return nil, x402Err(X402InvalidPayload, "%v", err)
	}
	h, err := TypedDataHash(td)
	if err != nil {
		return nil, x402Err(X402InvalidPayload, "%v", err)
	}
	sig := evm.FromHex(p.Payload.Signature)
	if signer, err := evm.RecoverAddress(h, sig); err != nil || signer != from {
		return nil, x402Err(X402InvalidSignature, "the signature is not %s's over this authorization", from.Hex())
	}
	e, err := f.w.dial(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("facilitator: %w", err)
	}
	c := &checked{net: n, e: e, token: token, from: from, value: value}
	fail := func(err error) (*checked, error) { e.Close(); return nil, err }
	state, err := e.Backend.CallContract(ctx, EVMCallMsg{To: &token, Data: concat(selAuthorizationState, evm.LeftPad32(from[:]), nonce)}, nil)
	if err != nil || len(state) != 32 {
		return fail(x402Err(X402NotEIP3009, "token %s does not implement EIP-3009 (authorizationState)", token.Hex()))
	}
	if new(big.Int).SetBytes(state).Sign() != 0 {
		return fail(x402Err(X402NonceUsed, "this authorization was used already (nonce 0x%x)", nonce))
	}
	bal, err := e.TokenBalance(ctx, token, from)
	if err != nil {
		return fail(fmt.Errorf("facilitator: token balance: %w", err))
	}
	if bal.Cmp(value) < 0 {
		return fail(x402Err(X402InsufficientBalance, "the payer holds %s, less than %s", bal, value))
	}
	v := sig[64]
	if v < 27 {
		v += 27
	}
	c.data = concat(selTransferWithAuth, evm.LeftPad32(from[:]), evm.LeftPad32(to[:]), word(value), word(after), word(before), nonce,
		word(big.NewInt(int64(v))), sig[:32], sig[32:64])
	var sender EVMAddress
	if f.send != nil {
		sender = f.send.From()
	}
	if _, err := e.Backend.CallContract(ctx, EVMCallMsg{From: sender, To: &token, Data: c.data}, nil); err != nil {
		return fail(x402Err(X402SimulationFailed, "the transfer would fail: %v", err))
	}
	return c, nil
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func word(n *big.Int) []byte { return evm.LeftPad32(n.Bytes()) }

func uint256(n *big.Int) bool { return n.Sign() >= 0 && n.BitLen() <= 256 }

// loopbackHost: the Host header names this machine by a loopback address
// or localhost, so a web page cannot reach the facilitator through a name
// it rebinds to 127.0.0.1.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	return strings.EqualFold(host, "localhost")
}

// Settle verifies p (see Verify), then sends transferWithAuthorization
// from the facilitator's account. An authorization being settled, or
// used already, is refused: a replayed payload pays nothing twice.
func (f *Facilitator) Settle(ctx context.Context, p X402Payload, req PaymentRequirements) X402Settlement {
	out := X402Settlement{Network: req.Network, Payer: p.Payload.Authorization.From, Amount: p.Payload.Authorization.Value}
	refuse := func(err error) X402Settlement {
		v := verifyResult(p, err)
		out.ErrorReason, out.ErrorMessage = v.InvalidReason, v.InvalidMessage
		return out
	}
	if f.send == nil {
		return refuse(errors.New("this facilitator has no account to settle from"))
	}
	key := strings.ToLower(req.Asset + "|" + p.Payload.Authorization.From + "|" + p.Payload.Authorization.Nonce)
	f.mu.Lock()
	if f.busy[key] {
		f.mu.Unlock()
		return refuse(x402Err(X402NonceUsed, "this authorization is being settled already (nonce %q)", p.Payload.Authorization.Nonce))
	}
	f.busy[key] = true
	f.mu.Unlock()
	defer func() { f.mu.Lock(); delete(f.busy, key); f.mu.Unlock() }()
	c, err := f.verify(ctx, p, req)
	if err != nil {
		return refuse(err)
	}
	defer c.e.Close()
	summary := fmt.Sprintf("Settle an x402 payment: transferWithAuthorization of %s base units of token %s from %s to %s on %s",
		c.value, c.token.Hex(), c.from.Hex(), p.Payload.Authorization.To, c.net.Name)
	h, err := f.send.SendCall(ctx, c.net, c.token, c.data, summary)
	if err != nil {
		return refuse(x402Err(X402TransactionFailed, "settlement: %v", err))
	}
	out.Success, out.Transaction = true, h.Hex()
	return out
}

// x402Request is the body of /verify and /settle.
type x402Request struct {
	X402Version         int                 `json:"x402Version"`
	PaymentPayload      X402Payload         `json:"paymentPayload"`
	PaymentRequirements PaymentRequirements `json:"paymentRequirements"`
}

// Handler serves x402's facilitator API: POST /verify, POST /settle and
// GET /supported. It answers loopback clients only: a facilitator spends
// its account's gas for whoever calls it.
func (f *Facilitator) Handler() http.Handler {
	mux := http.NewServeMux()
	body := func(w http.ResponseWriter, r *http.Request) (x402Request, bool) {
		var req x402Request
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		if err := dec.Decode(&req); err != nil {
			http.Error(w, "malformed facilitator request: "+err.Error(), http.StatusBadRequest)
			return req, false
		}
		return req, true
	}
	mux.HandleFunc("POST /verify", func(w http.ResponseWriter, r *http.Request) {
		if req, ok := body(w, r); ok {
			writeX402(w, f.Verify(r.Context(), req.PaymentPayload, req.PaymentRequirements))
		}
	})
	mux.HandleFunc("POST /settle", func(w http.ResponseWriter, r *http.Request) {
		if req, ok := body(w, r); ok {
			// a settlement started is seen through, whatever the client does
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Minute)
			defer cancel()
			writeX402(w, f.Settle(ctx, req.PaymentPayload, req.PaymentRequirements))
		}
	})
	mux.HandleFunc("GET /supported", func(w http.ResponseWriter, r *http.Request) {
		type kind struct {
			X402Version int    `json:"x402Version"`
			Scheme      string `json:"scheme"`
			Network     string `json:"network"`
		}
		out := struct {
			Kinds      []kind              `json:"kinds"`
			Extensions []string            `json:"extensions"`
			Signers    map[string][]string `json:"signers"`
		}{Kinds: []kind{}, Extensions: []string{}, Signers: map[string][]string{}}
		for _, n := range f.nets {
			if n.Family == FamilyEVM && len(n.RPC) > 0 {
				out.Kinds = append(out.Kinds, kind{2, "exact", n.CAIP2})
			}
		}
		if f.send != nil {
			out.Signers["eip155:*"] = []string{f.send.From().Hex()}
		}
		writeX402(w, out)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() || !loopbackHost(r.Host) {
			http.Error(w, "this facilitator answers loopback clients only", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func writeX402(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
