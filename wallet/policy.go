package wallet

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/internal/ledger"
)

// Limit bounds one asset, in decimal units of that asset ("12.5" USDC).
// Empty fields mean no limit.
type Limit struct {
	PerTx        string `json:"per_tx,omitempty"`
	PerDay       string `json:"per_day,omitempty"`
	ApproveAbove string `json:"approve_above,omitempty"`
	// MaxFee caps the network fee one transaction may pay, for a native
	// asset (ETH, BTC…); empty is the family's default (defaultMaxFee).
	MaxFee string `json:"max_fee,omitempty"`
}

// defaultMaxFee is the per-transaction fee cap when the policy sets none:
// far above what a transfer costs on a working network, far below what an
// RPC lying about fees would have the wallet pay. EVM: 0.01 ETH (80,000
// gas at 125 gwei), 1 of another native (POL); Bitcoin: 0.0005 BTC (a
// 141 vB transfer at 350 sat/vB); Solana: 0.001 SOL (200 base fees); NEAR:
// 0.01 NEAR (100 times a transfer's gas bound).
func defaultMaxFee(family, native string) string {
	switch family {
	case FamilyEVM:
		if native == "ETH" {
			return "0.01"
		}
		return "1"
	case FamilyBitcoin:
		return "0.0005"
	case FamilySolana:
		return "0.001"
	case FamilyNEAR:
		return "0.01"
	}
	return ""
}

// Policy is what every signature request is checked against.
type Policy struct {
	Limits map[string]Limit `json:"limits,omitempty"` // by asset symbol (upper case)
	// PayeeDaily caps what one payee may receive per day, per asset:
	// payee -> asset -> amount.
	PayeeDaily map[string]map[string]string `json:"payee_daily,omitempty"`
	// Allow, when non-empty, is the only set of payees that may be paid.
	Allow []string `json:"allow,omitempty"`
	// ApproveMessages requires human approval for message/typed-data
	// signatures (which can authorise transfers off-chain).
	ApproveMessages bool `json:"approve_messages,omitempty"`
	// AllowCalls are the contract calls made without asking the user,
	// each NETWORK:0xCONTRACT:0xSELECTOR; every other call needs the
	// user's approval (a call can do anything the contract allows).
	AllowCalls []string `json:"allow_calls,omitempty"`
}

// request is one signature request as the policy engine sees it. It is
// built inside the package from a plan and an actor, never by a caller.
type request struct {
	Kind        string   // send, pay, sign-message, sign-typed-data
	Caller      string   // cli, tui, agent:<name>
	Grant       string   // the grant it is made under; empty for the user
	Chain       string   // CAIP-2 id
	Network     string   // network name
	Asset       string   // symbol, e.g. ETH, USDC
	Amount      *big.Rat // decimal units; nil for message signing
	Payee       string   // a call's: the contract
	Selector    string   // a call's function selector (0x and 8 hex digits)
	Summary     string   // one human-readable line shown for approval
	Interactive bool     // a human is present to approve
	Message     string   // sha256 hex of a message to be signed (the ledger holds only this)
	Warnings    []string // the plan's warnings: each needs a person's approval
	// Details are decoded typed-data values the ledger records beside
	// asset, amount and payee (deadline, proposal, choice…); never free
	// text from outside.
	Details map[string]string
	// Fee is the most the network fee can be, in FeeAsset (the network's
	// native asset), on a network of Family; nil when there is none. It
	// counts toward FeeAsset's limits like any payment of it.
	Fee      *big.Rat
	FeeAsset string
	Family   string
	// A payment request's: its PaymentKey, whether the user pays it
	// again, and its deadline (zero: none) and what set it.
	PayKey     string
	Again      bool
	Deadline   time.Time
	DeadlineBy string
}

// outflow is what req can take from the wallet, per asset: the amount,
// and the fee in the native asset (added to the amount when they are the
// same asset).
func (r request) outflow() map[string]*big.Rat {
	out := map[string]*big.Rat{}
	if r.Amount != nil {
		out[r.Asset] = new(big.Rat).Set(r.Amount)
	}
	if r.Fee != nil && r.Amount != nil {
		if v, ok := out[r.FeeAsset]; ok {
			v.Add(v, r.Fee)
		} else {
			out[r.FeeAsset] = new(big.Rat).Set(r.Fee)
		}
	}
	return out
}

// assets are outflow's assets, the payment's first.
func (r request) assets() []string {
	out := []string{r.Asset}
	if r.Fee != nil && r.FeeAsset != r.Asset {
		out = append(out, r.FeeAsset)
	}
	return out
}

// what names req's outflow of asset for a refusal: "0.0115 ETH (0.0005 ETH
// plus up to 0.011 ETH in network fees)".
func (r request) what(asset string, v *big.Rat) string {
	switch {
	case r.Fee == nil || asset != r.FeeAsset:
		return fmt.Sprintf("%s %s", ratString(v), asset)
	case asset != r.Asset:
		return fmt.Sprintf("up to %s %s in network fees", ratString(v), asset)
	}
	return fmt.Sprintf("%s %s (%s %s plus up to %s %s in network fees)", ratString(v), asset, ratString(r.Amount), asset, ratString(r.Fee), asset)
}

// facts are fields plus the fee bound.
func (r request) facts(action string) facts {
	f := r.fields(action)
	if r.Fee != nil {
		f.put("max_fee", ratString(r.Fee)+" "+r.FeeAsset)
	}
	f.put("request_sha256", r.PayKey)
	if r.Again {
		f["again"] = true
	}
	return f
}

// Approver shows a person what is asked (summary) and why it needs them,
// and returns the wallet passphrase they typed to approve it; an empty one
// declines. The wallet checks the passphrase before it counts: a "yes",
// which any process driving a terminal can give, approves nothing, and a
// process that lacks the passphrase (the model, an agent, outside content)
// cannot approve. Front ends read it from their own prompt, never from the
// environment or a file. A nil Approver means nobody can approve
// (headless).
type Approver func(ctx context.Context, summary, why string) (passphrase []byte, err error)

// Decision is the engine's verdict; ID names the spending reservation.
type Decision struct {
	Allowed  bool   `json:"allowed"`
	Approved bool   `json:"approved,omitempty"`
	Reason   string `json:"reason,omitempty"`
	ID       string `json:"id,omitempty"`
}

// ErrRefused wraps every policy refusal.
var ErrRefused = errors.New("refused by wallet policy")

// RefusedError is a refusal with its reason and the rule that refused, so
// a caller can offer its own way out; Headless is set when the request
// needed a human's approval and none was present. The text never says how
// to change the policy: a grant holder reads it too.
type RefusedError struct {
	Rule     string // one of the Rule constants
	Reason   string
	Headless bool
	Tx       string // RulePaid: the transaction that paid it
	// Call is set when a contract call needed the user's approval only
	// because the policy does not allow-list it: the
	// NETWORK:0xCONTRACT:0xSELECTOR rule that would.
	Call string
}

// The rules a refusal can name.
const (
	RuleAllowList  = "allow-list"  // the payee is not on the allow list
	RulePerTx      = "per-tx"      // above the per-transaction limit
	RulePerDay     = "per-day"     // over the daily limit
	RulePayeeDaily = "payee-daily" // over one payee's daily limit
	RuleApproval   = "approval"    // a human had to approve and did not (or none was present)
	RuleGrant      = "grant"       // outside the grant's own bounds
	RuleMaxFee     = "max-fee"     // the network fee could exceed the per-transaction fee cap
	RulePaid       = "paid"        // the payment request was paid already
	RuleExpired    = "expired"     // the payment request's deadline passed
)

func (e *RefusedError) Error() string {
	if e.Headless {
		return fmt.Sprintf("%v: %s; no human is present to approve it", ErrRefused, e.Reason)
	}
	return fmt.Sprintf("%v: %s", ErrRefused, e.Reason)
}

func (e *RefusedError) Unwrap() error { return ErrRefused }

// ParseAmount parses a non-negative decimal amount.
func ParseAmount(s string) (*big.Rat, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-") {
		return nil, fmt.Errorf("amount %q is negative", s)
	}
	// Digits with at most one point: big.Rat alone would also read 0x1p-2,
	// 1_000, 1e3 and 1/4, each another value than the person meant.
	r, ok := new(big.Rat).SetString(s)
	if !ok || !decimalAmount.MatchString(s) {
		return nil, fmt.Errorf("amount %q is not a decimal number like 12.5", s)
	}
	return r, nil
}

var decimalAmount = regexp.MustCompile(`^(\d+(\.\d*)?|\.\d+)$`)

func ratString(r *big.Rat) string {
	if r == nil {
		return ""
	}
	s := r.FloatString(18)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// Validate checks the policy's amounts parse.
func (p Policy) Validate() error {
	for a, l := range p.Limits {
		for _, v := range []string{l.PerTx, l.PerDay, l.ApproveAbove, l.MaxFee} {
			if v == "" {
				continue
			}
			if _, err := ParseAmount(v); err != nil {
				return fmt.Errorf("policy limit for %s: %w", a, err)
			}
		}
	}
	for payee, m := range p.PayeeDaily {
		for a, v := range m {
			if _, err := ParseAmount(v); err != nil {
				return fmt.Errorf("policy payee limit %s %s: %w", payee, a, err)
			}
		}
	}
	if err := validateCallRules(p.AllowCalls); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	return nil
}

// ErrCorruptPolicy means the stored policy cannot be read; resetting it
// is the way out.
var ErrCorruptPolicy = errors.New("the wallet policy is corrupt")

func getPolicy(tx *bolt.Tx) (Policy, error) {
	var p Policy
	b := tx.Bucket(bucketPolicy).Get(keyPolicy)
	if b == nil {
		return p, nil
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%w: %v", ErrCorruptPolicy, err)
	}
	return p, nil
}

// LoadPolicy returns the current policy.
func (w *Wallet) LoadPolicy() (Policy, error) {
	var p Policy
	err := withDB(w.dir, func(tx *bolt.Tx) (err error) { p, err = getPolicy(tx); return })
	return p, err
}

// setPolicy replaces the policy and records the change in the ledger: who
// changed it and the new policy's digest (the policy itself stays in
// wallet.db). Outside this package, only a person approving through
// Session.EditPolicy changes it.
func (w *Wallet) setPolicy(p Policy, caller string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if w.ledger == nil {
		return ErrNoLedger
	}
	digest := ledger.SHA256(b)
	return withDB(w.dir, func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketPolicy).Put(keyPolicy, b); err != nil {
			return err
		}
		return w.record(context.Background(), ledger.KindPermission, caller, map[string]string{"policy": digest},
			facts{"action": "policy-changed", "policy_sha256": digest}, nil)
	})
}

// reservation is one authorised spend counted against daily limits.
type reservation struct {
	Caller   string `json:"caller,omitempty"`
	Asset    string `json:"asset"`
	Amount   string `json:"amount"`            // payment and fee
	Fee      string `json:"fee,omitempty"`     // the part of Amount that is the network fee
	Request  string `json:"request,omitempty"` // the PaymentKey of the request it pays
	Payee    string `json:"payee"`
	Grant    string `json:"grant,omitempty"`
	Released bool   `json:"released,omitempty"`
}

func dayKey(t time.Time) string { return t.UTC().Format("2006-01-02") }

// The parts of a reservation a sum counts.
const (
	partAll     = iota // payment and fee: what the limits count
	partPayment        // what a payee receives
	partFee            // the network fee
)

// part is the amount of r that p names.
func (r reservation) part(p int) *big.Rat {
	amt, err := ParseAmount(r.Amount)
	if err != nil {
		return new(big.Rat)
	}
	fee := new(big.Rat)
	if r.Fee != "" {
		if f, err := ParseAmount(r.Fee); err == nil {
			fee = f
		}
	}
	switch p {
	case partPayment:
		return amt.Sub(amt, fee)
	case partFee:
		return fee
	}
	return amt
}

// spentToday sums live reservations for asset today, fees included; for
// payee, only what was paid to it.
func spentToday(tx *bolt.Tx, day, asset, payee string) *big.Rat {
	if payee == "" {
		return sumSpend(tx, day, asset, partAll, func(reservation) bool { return true })
	}
	return sumSpend(tx, day, asset, partPayment, func(r reservation) bool { return SamePayee(r.Payee, payee) })
}

// spentBy sums live reservations for asset today made under grant.
func spentBy(tx *bolt.Tx, day, asset, grant string) *big.Rat {
	return sumSpend(tx, day, asset, partAll, func(r reservation) bool { return r.Grant == grant })
}

func sumSpend(tx *bolt.Tx, day, asset string, part int, match func(reservation) bool) *big.Rat {
	sum := new(big.Rat)
	c := tx.Bucket(bucketSpend).Cursor()
	prefix := []byte(day + "|" + asset + "|")
	for k, v := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, v = c.Next() {
		var r reservation
		if json.Unmarshal(v, &r) != nil || r.Released {
			continue
		}
		if !match(r) {
			continue
		}
		sum.Add(sum, r.part(part))
	}
	return sum
}

// evaluate applies p to req given today's spending. It returns a refusal,
// or whether human approval is needed and why.
func evaluate(tx *bolt.Tx, p Policy, req request, now time.Time) (refuse *RefusedError, needApproval string) {
	asset := strings.ToUpper(req.Asset)
	if req.Fee != nil {
		fa := strings.ToUpper(req.FeeAsset)
		if v := cmp.Or(p.Limits[fa].MaxFee, defaultMaxFee(req.Family, fa)); v != "" {
			max, _ := ParseAmount(v)
			if req.Fee.Cmp(max) > 0 {
				return &RefusedError{Rule: RuleMaxFee, Reason: fmt.Sprintf("a network fee of up to %s %s exceeds the per-transaction fee cap of %s %s", ratString(req.Fee), fa, v, fa)}, ""
			}
		}
	}
	// A signature naming a payee (a typed-data spender) meets the allow
	// list even when its amount cannot be counted.
	// A call (which pays nothing) meets its own allow list below instead.
	if len(p.Allow) > 0 && (req.Amount != nil || req.Payee != "") && req.Kind != KindCall {
		if !containsPayee(p.Allow, req.Payee) {
			return &RefusedError{Rule: RuleAllowList, Reason: fmt.Sprintf("payee %s is not on the allow list", req.Payee)}, ""
		}
	}
	const messageRule = "the policy requires approval for every message signature"
	if req.Amount == nil {
		if p.ApproveMessages {
			return nil, messageRule
		}
		return nil, ""
	}
	day := dayKey(now)
	out := req.outflow()
	for _, a := range req.assets() {
		l, v := p.Limits[a], out[a]
		if l.PerTx != "" {
			max, _ := ParseAmount(l.PerTx)
			if v.Cmp(max) > 0 {
				return &RefusedError{Rule: RulePerTx, Reason: fmt.Sprintf("%s exceeds the per-transaction limit of %s %s", req.what(a, v), l.PerTx, a)}, ""
			}
		}
		if l.PerDay != "" {
			max, _ := ParseAmount(l.PerDay)
			spent := spentToday(tx, day, a, "")
			if new(big.Rat).Add(spent, v).Cmp(max) > 0 {
				return &RefusedError{Rule: RulePerDay, Reason: fmt.Sprintf("%s would exceed the daily limit of %s %s (%s already spent today)", req.what(a, v), l.PerDay, a, ratString(spent))}, ""
			}
		}
	}
	if m, ok := lookupPayee(p.PayeeDaily, req.Payee); ok {
		if v, ok := m[asset]; ok {
			max, _ := ParseAmount(v)
			spent := spentToday(tx, day, asset, req.Payee)
			if new(big.Rat).Add(spent, req.Amount).Cmp(max) > 0 {
				return &RefusedError{Rule: RulePayeeDaily, Reason: fmt.Sprintf("%s %s would exceed the daily limit of %s %s for payee %s", ratString(req.Amount), asset, v, asset, req.Payee)}, ""
			}
		}
	}
	// the threshold is the payment's: the fee is bounded by the cap
	if l := p.Limits[asset]; l.ApproveAbove != "" {
		th, _ := ParseAmount(l.ApproveAbove)
		if req.Amount.Cmp(th) > 0 {
			return nil, fmt.Sprintf("%s %s is above the approval threshold of %s %s", ratString(req.Amount), asset, l.ApproveAbove, asset)
		}
	}
	if req.Message != "" && p.ApproveMessages { // typed data that moves value is a message too
		return nil, messageRule
	}
	if req.Kind == KindCall && !callListed(p.AllowCalls, req) {
		return nil, callApproval
	}
	return nil, ""
}

func lookupFold[V any](m map[string]V, k string) (V, bool) {
	for mk, v := range m {
		if strings.EqualFold(mk, k) {
			return v, true
		}
	}
	var zero V
	return zero, false
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// authorize runs req through the grant's bounds and the policy. Limits are
// checked, the spend reserved and the decision recorded in the ledger in one
// wallet.db transaction, so concurrent callers (goroutines or processes) can
// never together exceed a limit, and a decision that cannot be recorded
// reserves nothing. When approval is needed the human is asked outside the
// lock and the limits are checked again. Every decision is recorded,
// unsigned: no keys are unlocked before a request is allowed.
func (w *Wallet) authorize(ctx context.Context, req request, approve Approver) (Decision, error) {
	req.Asset, req.FeeAsset = strings.ToUpper(req.Asset), strings.ToUpper(req.FeeAsset)
	if req.Caller == "" {
		req.Caller = "unknown"
	}
	if w.ledger == nil {
		return Decision{}, ErrNoLedger
	}
	refuse := func(r *RefusedError) error {
		f := req.facts("refused").put("rule", r.Rule).put("reason", r.Reason)
		if r.Headless {
			f["headless"] = true
		}
		return w.record(ctx, ledger.KindPermission, req.Caller, nil, f, nil)
	}
	approved := false
	for attempt := 0; attempt < 2; attempt++ {
		var d Decision
		var ask string
		var refErr error
		err := withDB(w.dir, func(tx *bolt.Tx) error {
			p, err := getPolicy(tx)
			if err != nil {
				return err
			}
			if r := checkPayRequest(tx, req, w.now()); r != nil {
				refErr = r
				return refuse(r)
			}
			refused, need, gerr := evaluateGrant(tx, req, w.now())
			if gerr != nil {
				refErr = gerr
				return refuse(&RefusedError{Rule: RuleGrant, Reason: gerr.Error()})
			}
			if refused == nil {
				var pneed string
				refused, pneed = evaluate(tx, p, req, w.now())
				if need == "" {
					need = pneed
				}
				if need == "" && len(req.Warnings) > 0 {
					need = "the summary carries a warning: " + req.Warnings[0]
				}
			}
			switch {
			case refused != nil:
				refErr = refused
				return refuse(refused)
			case need != "" && !approved:
				if approve == nil || !req.Interactive {
					r := &RefusedError{Rule: RuleApproval, Reason: need, Headless: true}
					if need == callApproval {
						r.Call = req.Network + ":" + req.Payee + ":" + req.Selector
					}
					refErr = r
					return refuse(r)
				}
				ask = need
				return nil
			}
			d = Decision{Allowed: true, Approved: approved, ID: newID()}
			action := "allowed"
			if approved {
				action = "approved"
			}
			f := req.facts(action)
			if req.Amount != nil {
				// one record per asset it takes: the fee in the native
				// asset is reserved with the payment, settled later to
				// what the chain charged
				for a, v := range req.outflow() {
					r := reservation{Caller: req.Caller, Asset: a, Amount: ratString(v), Payee: req.Payee, Grant: req.Grant, Request: req.PayKey}
					if req.Fee != nil && a == req.FeeAsset {
						r.Fee = ratString(req.Fee)
					}
					b, _ := json.Marshal(r)
					if err := tx.Bucket(bucketSpend).Put([]byte(dayKey(w.now())+"|"+a+"|"+d.ID), b); err != nil {
						return err
					}
				}
				f.put("reservation", d.ID)
			}
			return w.record(ctx, ledger.KindPermission, req.Caller, nil, f, nil)
		})
		if err != nil {
			return Decision{}, err
		}
		if refErr != nil {
			return Decision{Reason: refErr.Error()}, refErr
		}
		if ask == "" {
			return d, nil
		}
		if req.Grant != "" {
			ask = req.Caller + " asks for this under its grant; " + ask
		}
		if r, err := w.approval(ctx, approve, req.Summary, ask); err != nil {
			return Decision{}, err
		} else if r != nil {
			if err := withDB(w.dir, func(*bolt.Tx) error { return refuse(r) }); err != nil {
				return Decision{}, err
			}
			return Decision{Reason: r.Reason}, r
		}
		approved = true
	}
	return Decision{}, errors.New("authorize: approval loop")
}

// approval asks approve and checks the passphrase it returns against the
// sealed seed: a refusal when the person declined or typed a wrong one.
func (w *Wallet) approval(ctx context.Context, approve Approver, summary, why string) (*RefusedError, error) {
	pass, err := approve(ctx, summary, why)
	defer wipe(pass)
	switch {
	case err != nil:
		return nil, err
	case len(pass) == 0:
		return &RefusedError{Rule: RuleApproval, Reason: "declined by the user"}, nil
	}
	switch _, err := w.store.open(pass); {
	case errors.Is(err, ErrWrongPassphrase):
		return &RefusedError{Rule: RuleApproval, Reason: "the passphrase typed to approve it is wrong"}, nil
	case err != nil:
		return nil, err
	}
	return nil, nil
}

// Release returns a reservation's amount to the daily budget (the
// transaction it authorised was never broadcast) and records that.
func (w *Wallet) Release(ctx context.Context, id, reason string) error {
	return w.release(ctx, id, reason, "", nil)
}

// release is Release naming the transaction that was not sent, signed by s
// when the keys are unlocked. When the release cannot be recorded the
// budget stays reserved.
func (w *Wallet) release(ctx context.Context, id, reason, hash string, s *ledger.Signer) error {
	return w.settleSpend(ctx, id, reason, hash, s, false, false, nil)
}

// settleSpend ends reservation id's hold on the budget once its
// transaction's fate is known: the payment stays counted when it was made
// (paid), the fee when the chain charged one (charged), at fee when the
// chain says what it charged (nil keeps the most it could have been);
// the rest goes back to the day's budget. Nothing kept is a release.
func (w *Wallet) settleSpend(ctx context.Context, id, reason, hash string, s *ledger.Signer, paid, charged bool, fee *big.Rat) error {
	if id == "" {
		return nil
	}
	return withDB(w.dir, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSpend)
		var f facts
		changed := false
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if !strings.HasSuffix(string(k), "|"+id) {
				continue
			}
			var r reservation
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if r.Released {
				continue // released once already
			}
			if f == nil {
				f = facts{}
				f.put("reservation", id).put("reason", reason).put("payee", r.Payee).put("grant", r.Grant).put("tx", hash)
				f["caller"] = r.Caller
			}
			payment, kept := r.part(partPayment), r.part(partFee)
			if r.Fee != "" {
				switch {
				case !charged:
					kept = new(big.Rat)
				case fee != nil:
					kept = fee
				}
				f.put("fee", ratString(kept)+" "+r.Asset)
			}
			if payment.Sign() > 0 {
				f.put("asset", r.Asset).put("amount", ratString(payment))
			}
			if !paid {
				payment = new(big.Rat)
			}
			total := new(big.Rat).Add(payment, kept)
			nr := r
			if total.Sign() == 0 {
				nr.Released = true
			} else {
				nr.Amount = ratString(total)
				if r.Fee != "" {
					nr.Fee = ratString(kept)
				}
			}
			if nr == r {
				continue
			}
			nv, _ := json.Marshal(nr)
			if err := b.Put(k, nv); err != nil {
				return err
			}
			changed = true
		}
		if !changed {
			return nil
		}
		caller, _ := f["caller"].(string)
		delete(f, "caller")
		f["action"] = "released"
		if paid || charged {
			f["action"] = "settled" // what the chain took stays counted
		}
		return w.record(ctx, ledger.KindPermission, cmp.Or(caller, "wallet"), nil, f, s)
	})
}

// SpentToday reports what today's reservations pay per asset, network
// fees not included (FeesToday has them; the limits count both).
func (w *Wallet) SpentToday() (map[string]string, error) { return w.today(partPayment) }

// FeesToday reports today's reserved network fees per native asset: the
// most a pending transaction can pay, what a mined one paid.
func (w *Wallet) FeesToday() (map[string]string, error) { return w.today(partFee) }

func (w *Wallet) today(part int) (map[string]string, error) {
	out := map[string]string{}
	err := withDB(w.dir, func(tx *bolt.Tx) error {
		assets := map[string]bool{}
		day := dayKey(w.now())
		c := tx.Bucket(bucketSpend).Cursor()
		for k, _ := c.Seek([]byte(day + "|")); k != nil && strings.HasPrefix(string(k), day+"|"); k, _ = c.Next() {
			assets[strings.Split(string(k), "|")[1]] = true
		}
		keys := make([]string, 0, len(assets))
		for a := range assets {
			keys = append(keys, a)
		}
		sort.Strings(keys)
		for _, a := range keys {
			if v := sumSpend(tx, day, a, part, func(reservation) bool { return true }); v.Sign() != 0 || part == partPayment {
				out[a] = ratString(v)
			}
		}
		return nil
	})
	return out, err
}
