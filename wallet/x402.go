package wallet

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/sovos/sov/wallet/internal/evm"
)

// x402 v2's exact scheme on EVM: the payer signs an EIP-3009
// TransferWithAuthorization and never broadcasts anything; a facilitator
// submits it. The signature passes the policy like a payment: the policy
// reads amount and payee from the typed data itself (typed.go), and the
// request's PaymentKey makes it paid once.

// X402Authorization is an EIP-3009 authorization as x402 carries it
// (numbers in decimal, the nonce as 0x-hex bytes32).
type X402Authorization struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Value       string `json:"value"`
	ValidAfter  string `json:"validAfter"`
	ValidBefore string `json:"validBefore"`
	Nonce       string `json:"nonce"`
}

// X402ExactPayload is the exact EVM scheme's payload.
type X402ExactPayload struct {
	Authorization X402Authorization `json:"authorization"`
	Signature     string            `json:"signature"` // 0x r‖s‖v
}

// X402Payload is an x402 v2 PaymentPayload: the option accepted, echoed
// as the server sent it, and the signed authorization.
type X402Payload struct {
	X402Version int                 `json:"x402Version"`
	Resource    *PaymentResource    `json:"resource,omitempty"`
	Accepted    PaymentRequirements `json:"accepted"`
	Payload     X402ExactPayload    `json:"payload"`
	Extensions  map[string]any      `json:"extensions,omitempty"`
}

// Header is the PAYMENT-SIGNATURE header value: base64 of the JSON.
func (p X402Payload) Header() string {
	b, _ := json.Marshal(p)
	return base64.StdEncoding.EncodeToString(b)
}

// ErrX402Payload wraps every reason a PAYMENT-SIGNATURE or
// PAYMENT-RESPONSE value cannot be read.
var ErrX402Payload = errors.New("malformed x402 payload")

// ParsePaymentSignature reads a PAYMENT-SIGNATURE header value (base64
// JSON) or the JSON itself.
func ParsePaymentSignature(s string) (X402Payload, error) {
	var p X402Payload
	if err := decodeX402(s, &p); err != nil {
		return p, err
	}
	if p.X402Version != 2 {
		return p, fmt.Errorf("%w: x402Version %d, only 2 is supported", ErrX402Payload, p.X402Version)
	}
	return p, nil
}

// X402Settlement is a facilitator's settle response, and what a server
// returns in PAYMENT-RESPONSE.
type X402Settlement struct {
	Success      bool   `json:"success"`
	ErrorReason  string `json:"errorReason,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
	Payer        string `json:"payer,omitempty"`
	Transaction  string `json:"transaction"`
	Network      string `json:"network"`
	Amount       string `json:"amount,omitempty"`
}

// ParsePaymentResponse reads a PAYMENT-RESPONSE header value.
func ParsePaymentResponse(s string) (X402Settlement, error) {
	var r X402Settlement
	err := decodeX402(s, &r)
	return r, err
}

func decodeX402(s string, v any) error {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return fmt.Errorf("%w: neither JSON nor base64 JSON", ErrX402Payload)
		}
		s = string(b)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("%w: %v", ErrX402Payload, err)
	}
	return nil
}

// ErrAboveMax means every option that could be paid costs more than the
// caller's maximum: nothing was signed.
var ErrAboveMax = errors.New("the price is above the most you allowed")

// ErrNoX402Option means no option of a payment request can be paid with
// an x402 exact EVM authorization; X402OptionError lists why.
var ErrNoX402Option = errors.New("no option in this payment request can be paid")

// X402OptionError says why each option was not payable.
type X402OptionError struct {
	Reasons  []string
	aboveMax bool
	expired  bool
}

func (e *X402OptionError) Error() string {
	return ErrNoX402Option.Error() + ": " + strings.Join(e.Reasons, "; ")
}

// Is matches ErrNoX402Option, and ErrAboveMax or ErrPaymentExpired when
// that is what ruled the payable options out.
func (e *X402OptionError) Is(target error) bool {
	return target == ErrNoX402Option || target == ErrAboveMax && e.aboveMax || target == ErrPaymentExpired && e.expired
}

// X402Options is how to pay an x402 payment request.
type X402Options struct {
	Account uint32
	// Max is the most to pay, in decimal units of the option's asset
	// ("0.05"); empty leaves the limit to the policy alone.
	Max string
	// Again pays a request that was paid already (see PaymentKey).
	Again bool
}

// X402Payment is a signed x402 payment, ready to send as PAYMENT-SIGNATURE.
type X402Payment struct {
	Key     string      `json:"key"` // PaymentKey of the request and option
	Network string      `json:"network"`
	Amount  string      `json:"amount"` // decimal, with the asset
	Payload X402Payload `json:"payload"`
	Header  string      `json:"header"`
}

// x402Choice is an option found payable.
type x402Choice struct {
	req    PaymentRequirements
	net    Network
	tok    typedToken
	amount *big.Int
}

// PayX402 signs an x402 v2 exact EVM payment for the payment request raw
// (JSON or the PAYMENT-REQUIRED header value) with the EVM key of account
// o.Account: it picks the option it can pay (known network, EIP-712
// domain given, balance covering it, within o.Max), draws a random nonce,
// and signs the EIP-3009 authorization through the policy like a payment.
func (s *Session) PayX402(ctx context.Context, raw []byte, o X402Options) (X402Payment, error) {
	return s.payX402(ctx, s.self, raw, o)
}

// PayX402 signs an x402 payment (see Session.PayX402) under the grant's
// limits; a grant's holder can never pay a request again (o.Again is
// ignored), only the user can.
func (g *Grant) PayX402(ctx context.Context, raw []byte, o X402Options) (X402Payment, error) {
	if err := g.valid(); err != nil {
		return X402Payment{}, err
	}
	if err := g.s.w.checkGrant(g.rec.ID); err != nil {
		return X402Payment{}, err
	}
	o.Again = false
	return g.s.payX402(ctx, g.actor, raw, o)
}

func (s *Session) payX402(ctx context.Context, a actor, raw []byte, o X402Options) (X402Payment, error) {
	now := s.w.now()
	pr, err := ParsePaymentRequired(raw, now)
	if err != nil {
		return X402Payment{}, err
	}
	acct, err := s.Accounts(o.Account)
	if err != nil {
		return X402Payment{}, err
	}
	nets := s.cfg.Networks
	if len(nets) == 0 {
		nets = Builtin()
	}
	var max *big.Rat
	if o.Max != "" {
		var ok bool
		if max, ok = new(big.Rat).SetString(o.Max); !ok || max.Sign() < 0 {
			return X402Payment{}, fmt.Errorf("%w: the maximum %q is not a decimal amount", ErrInvalidTransfer, o.Max)
		}
	}
	c, err := s.w.chooseX402(ctx, pr, nets, evm.HexToAddress(acct.EVM), max)
	if err != nil {
		return X402Payment{}, err
	}
	auth := X402Authorization{From: evm.HexToAddress(acct.EVM).Hex(), To: evm.HexToAddress(c.req.PayTo).Hex(), Value: c.amount.String()}
	// valid from a little before now (clocks differ) until the request's
	// deadline: maxTimeoutSeconds, or an earlier one the payee gave
	after := max64(now.Unix()-600, 0)
	until, _, _ := pr.deadline(c.req)
	if until.IsZero() {
		until = now.Add(60 * time.Second)
	}
	auth.ValidAfter, auth.ValidBefore = fmt.Sprint(after), fmt.Sprint(until.Unix())
	var nonce [32]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return X402Payment{}, err
	}
	auth.Nonce = "0x" + hex.EncodeToString(nonce[:])
	td, err := authorizationTypedData(c.req, c.net.ChainID, auth)
	if err != nil {
		return X402Payment{}, err
	}
	h, err := TypedDataHash(td)
	if err != nil {
		return X402Payment{}, err
	}
	req := typedRequest(td, nets)
	s.w.warnPayee(&req)
	req.PayKey, req.Again = PaymentKey(pr, c.req), o.Again
	req.Deadline, req.DeadlineBy, _ = pr.deadline(c.req)
	sig, err := s.signAs(ctx, a, req, h, func(keys *Keys) ([]byte, error) {
		k, err := keys.EVMKey(o.Account)
		if err != nil {
			return nil, err
		}
		return signTypedData(k, td)
	})
	var refused *RefusedError
	if errors.As(err, &refused) && refused.Rule == RulePaid && refused.Tx == "" {
		// what holds the request is the reservation of an authorization
		// signed before: say so rather than "being paid now"
		refused.Reason = "this payment request was paid already by a signed x402 authorization (" + strings.TrimPrefix(refused.Reason, "this payment request is being paid now (")
	}
	if err != nil {
		return X402Payment{}, err
	}
	p := X402Payload{X402Version: 2, Resource: pr.Resource, Accepted: c.req, Payload: X402ExactPayload{Authorization: auth, Signature: "0x" + hex.EncodeToString(sig)}}
	amt := fmt.Sprintf("%s base units of %s", c.amount, c.tok.contract)
	if c.tok.known {
		amt = FormatAtomic(c.amount, c.tok.decimals) + " " + c.tok.symbol
	}
	return X402Payment{Key: req.PayKey, Network: c.net.Name, Amount: amt, Payload: p, Header: p.Header()}, nil
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// chooseX402 picks the cheapest option payer can pay: exact scheme, a
// known EVM network with an RPC, the token's EIP-712 domain given, within
// max and the payer's token balance.
func (w *Wallet) chooseX402(ctx context.Context, pr PaymentRequired, nets []Network, payer EVMAddress, max *big.Rat) (x402Choice, error) {
	oe := &X402OptionError{}
	var best *x402Choice
	allExpired, anyAbove := true, false
	for i, a := range pr.Accepts {
		why := func(format string, args ...any) {
			oe.Reasons = append(oe.Reasons, fmt.Sprintf("option %d (%q): ", i+1, a.Network)+fmt.Sprintf(format, args...))
		}
		if at, by, err := pr.deadline(a); err == nil && !at.IsZero() && !w.now().Before(at) {
			why("expired at %s (%s)", at.UTC().Format(time.RFC3339), by)
			continue
		}
		allExpired = false
		if a.Scheme != "exact" {
			why("scheme %q is not supported (only exact)", a.Scheme)
			continue
		}
		n, ok := FindNetwork(nets, a.Network)
		switch {
		case !ok:
			why("unknown network (not in sov's network table)")
			continue
		case n.Family != FamilyEVM:
			why("%s payments are not signed as x402 authorizations", n.Family)
			continue
		case len(n.RPC) == 0:
			why("no RPC configured for %s", n.Name)
			continue
		}
		name, _ := a.Extra["name"].(string)
		version, _ := a.Extra["version"].(string)
		if name == "" || version == "" {
			why("the token's EIP-712 domain (extra.name, extra.version) is missing")
			continue
		}
		if _, err := ParseEVMAddress(a.PayTo); err != nil {
			why("payTo: %v", err)
			continue
		}
		asset, err := ParseEVMAddress(a.Asset)
		if err != nil {
			why("asset: %v", err)
			continue
		}
		amt, _ := new(big.Int).SetString(a.Amount, 10)
		tok := findToken(nets, big.NewInt(n.ChainID), asset.Hex())
		if max != nil {
			if !tok.known {
				why("token %s is not one the wallet knows, so its price cannot be compared with your maximum", asset.Hex())
				continue
			}
			if atomicRat(amt, tok.decimals).Cmp(max) > 0 {
				why("the price %s %s is above your maximum %s", FormatAtomic(amt, tok.decimals), tok.symbol, max.FloatString(tok.decimals))
				anyAbove = true
				continue
			}
		}
		e, err := w.dial(ctx, n)
		if err != nil {
			why("%v", err)
			continue
		}
		bal, err := e.TokenBalance(ctx, asset, payer)
		e.Close()
		if err != nil {
			why("token balance: %v", err)
			continue
		}
		if bal.Cmp(amt) < 0 {
			why("your balance of %s base units is below the price of %s", bal, amt)
			continue
		}
		c := x402Choice{req: a, net: n, tok: tok, amount: amt}
		if best == nil || c.tok.known && !best.tok.known || c.tok.known == best.tok.known && c.tok.contract == best.tok.contract && c.amount.Cmp(best.amount) < 0 {
			best = &c
		}
	}
	if best == nil {
		oe.expired, oe.aboveMax = allExpired, anyAbove
		return x402Choice{}, oe
	}
	return *best, nil
}

// authorizationTypedData is the EIP-712 TransferWithAuthorization that
// auth is, under the token's domain as the requirement names it.
func authorizationTypedData(req PaymentRequirements, chainID int64, auth X402Authorization) (TypedData, error) {
	name, _ := req.Extra["name"].(string)
	version, _ := req.Extra["version"].(string)
	asset, err := ParseEVMAddress(req.Asset)
	if err != nil {
		return TypedData{}, err
	}
	doc := map[string]any{
		"types": map[string]any{
			"EIP712Domain": []map[string]string{{"name": "name", "type": "string"}, {"name": "version", "type": "string"}, {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}},
			"TransferWithAuthorization": []map[string]string{{"name": "from", "type": "address"}, {"name": "to", "type": "address"}, {"name": "value", "type": "uint256"},
				{"name": "validAfter", "type": "uint256"}, {"name": "validBefore", "type": "uint256"}, {"name": "nonce", "type": "bytes32"}},
		},
		"primaryType": "TransferWithAuthorization",
		"domain":      map[string]any{"name": name, "version": version, "chainId": fmt.Sprint(chainID), "verifyingContract": asset.Hex()},
		"message": map[string]any{"from": auth.From, "to": auth.To, "value": auth.Value, "validAfter": auth.ValidAfter,
			"validBefore": auth.ValidBefore, "nonce": auth.Nonce},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return TypedData{}, err
	}
	td, err := ParseTypedData(b)
	if err != nil {
		return TypedData{}, fmt.Errorf("%w: %v", ErrX402Payload, err)
	}
	return td, nil
}
