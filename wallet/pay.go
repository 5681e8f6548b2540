package wallet

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/wallet/internal/evm"
)

// PaymentRequired is an x402 v2 payment request: what a brand accepts.
type PaymentRequired struct {
	X402Version int                   `json:"x402Version"`
	Error       string                `json:"error,omitempty"`
	Resource    *PaymentResource      `json:"resource,omitempty"`
	Accepts     []PaymentRequirements `json:"accepts"`
	// ExpiresAt (unix seconds or RFC 3339) is an optional deadline, not in
	// the x402 v2 spec, that sov honours; an option may carry one as
	// extra.deadline or extra.validBefore. Every option's
	// maxTimeoutSeconds (the spec's time allowed for payment completion)
	// counts from when the request was parsed. See deadline.
	ExpiresAt json.RawMessage `json:"expiresAt,omitempty"`
	received  time.Time       // when ParsePaymentRequired read it
}

// PaymentResource describes what is paid for.
type PaymentResource struct {
	URL         string `json:"url,omitempty"`
	Description string `json:"description,omitempty"`
	MimeType    string `json:"mimeType,omitempty"`
}

// PaymentRequirements is one accepted way to pay (x402 v2 field names).
type PaymentRequirements struct {
	Scheme            string         `json:"scheme"`
	Network           string         `json:"network"` // CAIP-2
	Amount            string         `json:"amount"`  // atomic units
	Asset             string         `json:"asset"`   // token contract / mint, or "native"
	PayTo             string         `json:"payTo"`
	MaxTimeoutSeconds int            `json:"maxTimeoutSeconds"`
	Extra             map[string]any `json:"extra,omitempty"`
}

var atomicRe = regexp.MustCompile(`^[0-9]{1,78}$`)

// ParsePaymentRequired accepts the JSON body or the base64 PAYMENT-REQUIRED
// header value, and rejects malformed requests with the reason.
func ParsePaymentRequired(b []byte, now time.Time) (PaymentRequired, error) {
	var pr PaymentRequired
	s := strings.TrimSpace(string(b))
	if !strings.HasPrefix(s, "{") {
		dec, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return pr, errors.New("payment request is neither JSON nor base64 JSON (x402 PAYMENT-REQUIRED)")
		}
		s = string(dec)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&pr); err != nil {
		return pr, fmt.Errorf("payment request is not valid JSON: %v", err)
	}
	if pr.X402Version != 2 {
		return pr, fmt.Errorf("payment request has x402Version %d: only version 2 is supported", pr.X402Version)
	}
	if len(pr.Accepts) == 0 {
		return pr, errors.New("payment request lists no accepted options (accepts is empty)")
	}
	pr.received = now
	if exp, ok, err := parseDeadline(pr.ExpiresAt); err != nil {
		return pr, err
	} else if ok && !now.Before(exp) {
		return pr, fmt.Errorf("%w at %s: ask the payee for a fresh one", ErrPaymentExpired, exp.UTC().Format(time.RFC3339))
	}
	for i, a := range pr.Accepts {
		if !atomicRe.MatchString(a.Amount) || strings.TrimLeft(a.Amount, "0") == "" {
			return pr, fmt.Errorf("payment option %d: amount %q is not a positive whole number of atomic units", i+1, a.Amount)
		}
		if a.PayTo == "" || a.Network == "" || a.Asset == "" {
			return pr, fmt.Errorf("payment option %d: network, asset and payTo are required", i+1)
		}
		if a.MaxTimeoutSeconds < 0 {
			return pr, fmt.Errorf("payment option %d: negative maxTimeoutSeconds", i+1)
		}
		if _, _, err := pr.deadline(a); err != nil {
			return pr, fmt.Errorf("payment option %d: %w", i+1, err)
		}
	}
	return pr, nil
}

// ErrPaymentExpired means a payment request's deadline has passed; the
// payee can issue a fresh one.
var ErrPaymentExpired = errors.New("the payment request expired")

// deadline is when option o of pr can no longer be paid: the earliest of
// the request's expiresAt, the option's extra.deadline and
// extra.validBefore, and its maxTimeoutSeconds after the request was
// received (0: none given). Zero when there is none.
func (pr PaymentRequired) deadline(o PaymentRequirements) (time.Time, string, error) {
	var at time.Time
	var what string
	take := func(t time.Time, name string) {
		if at.IsZero() || t.Before(at) {
			at, what = t, name
		}
	}
	if t, ok, err := parseDeadline(pr.ExpiresAt); err != nil {
		return at, "", err
	} else if ok {
		take(t, "expiresAt")
	}
	for _, k := range []string{"deadline", "validBefore"} {
		v, ok := o.Extra[k]
		if !ok {
			continue
		}
		raw, _ := json.Marshal(v)
		if f, isNum := v.(float64); isNum {
			raw = []byte(strconv.FormatFloat(f, 'f', 0, 64)) // not 1.7e+09
		}
		t, ok, err := parseDeadline(raw)
		if err != nil {
			return at, "", fmt.Errorf("extra.%s: %w", k, err)
		}
		if ok {
			take(t, "extra."+k)
		}
	}
	if o.MaxTimeoutSeconds > 0 && !pr.received.IsZero() {
		take(pr.received.Add(time.Duration(o.MaxTimeoutSeconds)*time.Second), "maxTimeoutSeconds")
	}
	return at, what, nil
}

// PaymentKey is what makes a payment request paid once: the sha256 (hex)
// of the request and the chosen option, each as canonical JSON (fields in
// a fixed order, object keys sorted, no spaces).
func PaymentKey(pr PaymentRequired, chosen PaymentRequirements) string {
	b, _ := json.Marshal(struct {
		Request PaymentRequired     `json:"request"`
		Option  PaymentRequirements `json:"option"`
	}{pr, chosen})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// checkPayRequest refuses, inside the policy's wallet.db transaction, a
// payment request whose deadline has passed, and one paid already (a
// transaction that is pending or mined, or one allowed and not yet sent)
// unless the user said to pay it again.
func checkPayRequest(tx *bolt.Tx, req request, now time.Time) *RefusedError {
	if !req.Deadline.IsZero() && !now.Before(req.Deadline) {
		return &RefusedError{Rule: RuleExpired, Reason: fmt.Sprintf("the payment request expired at %s (%s)", req.Deadline.UTC().Format(time.RFC3339), req.DeadlineBy)}
	}
	if req.PayKey == "" || req.Again {
		return nil
	}
	// reservations of the request, and whether each still holds a payment
	// (a cancelled or failed one's holds at most its fee: it paid nothing)
	held := map[string]bool{}
	tx.Bucket(bucketSpend).ForEach(func(k, v []byte) error {
		var r reservation
		if json.Unmarshal(v, &r) == nil && r.Request == req.PayKey {
			id := string(k[strings.LastIndexByte(string(k), '|')+1:])
			held[id] = held[id] || (!r.Released && r.part(partPayment).Sign() > 0)
		}
		return nil
	})
	var paid *LedgerEntry
	tx.Bucket(bucketLedger).ForEach(func(_, v []byte) error {
		var e LedgerEntry
		if json.Unmarshal(v, &e) != nil || e.Request != req.PayKey {
			return nil
		}
		live := held[e.Policy]
		delete(held, e.Policy) // what is left was allowed and not yet sent
		if live && e.Status != "failed" && e.Status != "dropped" && (paid == nil || e.Time < paid.Time) {
			paid = &e
		}
		return nil
	})
	if paid != nil {
		return &RefusedError{Rule: RulePaid, Tx: paid.Hash, Reason: fmt.Sprintf("this payment request was paid already by transaction %s on %s (%s, %s)", paid.Hash, paid.Network, paid.Status, paid.Time)}
	}
	for id, live := range held {
		if live {
			return &RefusedError{Rule: RulePaid, Reason: fmt.Sprintf("this payment request is being paid now (reservation %s)", id)}
		}
	}
	return nil
}

func parseDeadline(raw json.RawMessage) (time.Time, bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, false, nil
	}
	var n int64
	if json.Unmarshal(raw, &n) == nil {
		return time.Unix(n, 0), true, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(v, 0), true, nil
		}
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t, true, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("payment request deadline %s is not unix seconds or RFC 3339", raw)
}

// PayOption is one accepted option as the router judged it.
type PayOption struct {
	Index     int                 `json:"index"`
	Req       PaymentRequirements `json:"requirement"`
	Network   string              `json:"network,omitempty"`
	Asset     string              `json:"asset,omitempty"`
	Amount    string              `json:"amount,omitempty"` // decimal
	MaxFee    string              `json:"max_fee,omitempty"`
	Payable   bool                `json:"payable"`
	Why       string              `json:"why,omitempty"`
	plan      *EVMPlan
	evm       *EVM
	stable    bool
	amount    *big.Rat
	maxFeeWei *big.Int
	expired   bool
}

// Route is the router's choice and its one-line explanation.
type Route struct {
	Chosen      *PayOption  `json:"chosen,omitempty"`
	Options     []PayOption `json:"options"`
	Explanation string      `json:"explanation"`
	acct        Accounts
	req         PaymentRequired
}

// Payment is a paid request: the route chosen and the transaction that
// paid it.
type Payment struct {
	Route *Route      `json:"route"`
	Tx    LedgerEntry `json:"transaction"`
}

// Close releases the connections the route opened.
func (r *Route) Close() {
	for _, o := range r.Options {
		if o.evm != nil {
			o.evm.Close()
		}
	}
}

// RoutePayment judges every option — known network, RPC up, asset known,
// balance covering amount plus fees (simulated) — and picks the payable one
// with the lowest total cost: stablecoin options first (their cost is
// known), then the smallest amount, then the smallest network fee.
func (w *Wallet) RoutePayment(ctx context.Context, pr PaymentRequired, nets []Network, acct Accounts) (Route, error) {
	if pr.received.IsZero() {
		pr.received = w.now()
	}
	r := Route{acct: acct, req: pr}
	for i, a := range pr.Accepts {
		o := PayOption{Index: i + 1, Req: a}
		w.judge(ctx, &r, &o, nets, acct)
		r.Options = append(r.Options, o)
	}
	var payable []*PayOption
	for i := range r.Options {
		if r.Options[i].Payable {
			payable = append(payable, &r.Options[i])
		}
	}
	if len(payable) == 0 {
		var why []string
		expired := true
		for _, o := range r.Options {
			why = append(why, fmt.Sprintf("option %d (%s): %s", o.Index, o.Req.Network, o.Why))
			expired = expired && o.expired
		}
		r.Close()
		if expired {
			return r, fmt.Errorf("%w: %s", ErrPaymentExpired, strings.Join(why, "; "))
		}
		return r, fmt.Errorf("no option in this payment request is one you can pay — %s", strings.Join(why, "; "))
	}
	sort.SliceStable(payable, func(i, j int) bool {
		a, b := payable[i], payable[j]
		if a.stable != b.stable {
			return a.stable
		}
		if a.Asset == b.Asset {
			if c := a.amount.Cmp(b.amount); c != 0 {
				return c < 0
			}
		}
		return a.maxFeeWei.Cmp(b.maxFeeWei) < 0
	})
	r.Chosen = payable[0]
	c := r.Chosen
	others := len(r.Options) - 1
	switch {
	case len(payable) == 1 && others > 0:
		var why []string
		for _, o := range r.Options {
			if o.Index != c.Index {
				why = append(why, fmt.Sprintf("%s: %s", o.Req.Network, o.Why))
			}
		}
		r.Explanation = fmt.Sprintf("Paying %s %s on %s: the only option you can pay (%s).", c.Amount, c.Asset, c.Network, strings.Join(why, "; "))
	case len(payable) == 1:
		r.Explanation = fmt.Sprintf("Paying %s %s on %s, the payee's only option.", c.Amount, c.Asset, c.Network)
	default:
		r.Explanation = fmt.Sprintf("Paying %s %s on %s: the lowest total cost of %d payable options (network fee at most %s).", c.Amount, c.Asset, c.Network, len(payable), c.MaxFee)
	}
	return r, nil
}

func (w *Wallet) judge(ctx context.Context, r *Route, o *PayOption, nets []Network, acct Accounts) {
	a := o.Req
	if at, by, err := r.req.deadline(a); err == nil && !at.IsZero() && !w.now().Before(at) {
		o.Why, o.expired = fmt.Sprintf("expired at %s (%s)", at.UTC().Format(time.RFC3339), by), true
		return
	}
	if a.Scheme != "exact" {
		o.Why = fmt.Sprintf("scheme %q is not supported (only exact)", a.Scheme)
		return
	}
	n, ok := FindNetwork(nets, a.Network)
	if !ok {
		o.Why = "unknown network (not in sov's network table)"
		return
	}
	o.Network = n.Name
	if len(n.RPC) == 0 {
		o.Why = "no RPC configured for " + n.Name
		return
	}
	if n.Family != FamilyEVM {
		o.Why = n.Family + " payments are not routed yet"
		return
	}
	payTo, err := ParseEVMAddress(a.PayTo)
	if err != nil {
		o.Why = err.Error()
		return
	}
	e, err := w.dial(ctx, n)
	if err != nil {
		o.Why = err.Error()
		return
	}
	o.evm = e
	asset := a.Asset
	if strings.EqualFold(asset, "native") || asset == (EVMAddress{}).Hex() {
		asset = n.Native
	}
	tok, dec, sym, err := e.ResolveAsset(ctx, asset)
	if err != nil {
		o.Why = err.Error()
		return
	}
	amt, _ := new(big.Int).SetString(a.Amount, 10)
	o.Asset, o.Amount, o.stable, o.amount = sym, FormatAtomic(amt, dec), sym == "USDC", atomicRat(amt, dec)
	plan, err := e.Plan(ctx, EVMTransfer{From: evm.HexToAddress(acct.EVM), To: payTo, Asset: sym, Token: tok, Amount: amt, Decimals: dec})
	if err != nil {
		o.Why = err.Error()
		return
	}
	o.plan, o.Payable, o.maxFeeWei = plan, true, plan.MaxFee
	o.MaxFee = FormatAtomic(plan.MaxFee, n.NativeDecimals) + " " + n.Native
}

// Plan is the chosen option as a transfer plan, ready for Execute. Closing
// the plan leaves the route's connections to Route.Close.
func (r *Route) Plan() (*Plan, error) {
	if r.Chosen == nil || r.Chosen.plan == nil {
		return nil, errors.New("no payable option chosen")
	}
	p := &Plan{kind: "pay", acct: r.acct, evm: nil, payKey: PaymentKey(r.req, r.Chosen.Req)}
	p.deadline, p.deadlineBy, _ = r.req.deadline(r.Chosen.Req)
	p.fromEVMPlan(r.Chosen.plan)
	p.evm = &EVM{Net: r.Chosen.evm.Net, Backend: r.Chosen.evm.Backend, URL: r.Chosen.evm.URL}
	return p, nil
}

// PayAgain lets the user pay a payment request that was paid already
// (see PaymentKey): without it a second payment is refused, naming the
// first. It has no effect on a payment made under a grant.
func (p *Plan) PayAgain() { p.again = true }

// Plan exposes the chosen option's transaction plan (for summaries).
func (o *PayOption) Plan() *EVMPlan { return o.plan }

// EVM exposes the chosen option's connection.
func (o *PayOption) EVMConn() *EVM { return o.evm }

// RoutePayment routes pr for the user's account at index.
func (s *Session) RoutePayment(ctx context.Context, pr PaymentRequired, index uint32) (Route, error) {
	acct, err := s.Accounts(index)
	if err != nil {
		return Route{}, err
	}
	return s.w.RoutePayment(ctx, pr, s.cfg.Networks, acct)
}

// RouteRequest parses a payment request (see ParsePaymentRequired) and
// routes it for the user's account at index.
func (s *Session) RouteRequest(ctx context.Context, raw []byte, index uint32) (Route, error) {
	pr, err := ParsePaymentRequired(raw, s.w.now())
	if err != nil {
		return Route{}, err
	}
	return s.RoutePayment(ctx, pr, index)
}

// PlanPayment routes a payment request (see RouteRequest) for the user's
// account at index and returns the chosen option as a plan ready for
// Execute, with the route that explains the choice. Closing the plan
// releases every connection the route opened.
func (s *Session) PlanPayment(ctx context.Context, raw []byte, index uint32) (*Plan, *Route, error) {
	route, err := s.RouteRequest(ctx, raw, index)
	if err != nil {
		return nil, nil, err
	}
	p, err := route.Plan()
	if err != nil {
		route.Close()
		return nil, nil, err
	}
	p.route = &route
	s.w.warn(p)
	return p, &route, nil
}

// RoutePayment routes pr for the granting user's account at index.
func (g *Grant) RoutePayment(ctx context.Context, pr PaymentRequired, index uint32) (Route, error) {
	if err := g.valid(); err != nil {
		return Route{}, err
	}
	if err := g.s.w.checkGrant(g.rec.ID); err != nil {
		return Route{}, err
	}
	return g.s.RoutePayment(ctx, pr, index)
}
