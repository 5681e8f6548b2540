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
	Payee       string
	Summary     string   // one human-readable line shown for approval
	Interactive bool     // a human is present to approve
	Message     string   // sha256 hex of a message to be signed (the ledger holds only this)
	Warnings    []string // the plan's warnings: each needs a person's approval
	// Details are decoded typed-data values the ledger records beside
	// asset, amount and payee (deadline, proposal, choice…); never free
	// text from outside.
	Details map[string]string
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
}

// The rules a refusal can name.
const (
	RuleAllowList  = "allow-list"  // the payee is not on the allow list
	RulePerTx      = "per-tx"      // above the per-transaction limit
	RulePerDay     = "per-day"     // over the daily limit
	RulePayeeDaily = "payee-daily" // over one payee's daily limit
	RuleApproval   = "approval"    // a human had to approve and did not (or none was present)
	RuleGrant      = "grant"       // outside the grant's own bounds
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
		for _, v := range []string{l.PerTx, l.PerDay, l.ApproveAbove} {
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
	Amount   string `json:"amount"`
	Payee    string `json:"payee"`
	Grant    string `json:"grant,omitempty"`
	Released bool   `json:"released,omitempty"`
}

func dayKey(t time.Time) string { return t.UTC().Format("2006-01-02") }

// spentToday sums live reservations for asset today (and for payee if set).
func spentToday(tx *bolt.Tx, day, asset, payee string) *big.Rat {
	return sumSpend(tx, day, asset, func(r reservation) bool { return payee == "" || SamePayee(r.Payee, payee) })
}

// spentBy sums live reservations for asset today made under grant.
func spentBy(tx *bolt.Tx, day, asset, grant string) *big.Rat {
	return sumSpend(tx, day, asset, func(r reservation) bool { return r.Grant == grant })
}

func sumSpend(tx *bolt.Tx, day, asset string, match func(reservation) bool) *big.Rat {
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
		if a, err := ParseAmount(r.Amount); err == nil {
			sum.Add(sum, a)
		}
	}
	return sum
}

// evaluate applies p to req given today's spending. It returns a refusal,
// or whether human approval is needed and why.
func evaluate(tx *bolt.Tx, p Policy, req request, now time.Time) (refuse *RefusedError, needApproval string) {
	asset := strings.ToUpper(req.Asset)
	// A signature naming a payee (a typed-data spender) meets the allow
	// list even when its amount cannot be counted.
	if len(p.Allow) > 0 && (req.Amount != nil || req.Payee != "") {
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
	l := p.Limits[asset]
	if l.PerTx != "" {
		max, _ := ParseAmount(l.PerTx)
		if req.Amount.Cmp(max) > 0 {
			return &RefusedError{Rule: RulePerTx, Reason: fmt.Sprintf("%s %s exceeds the per-transaction limit of %s %s", ratString(req.Amount), asset, l.PerTx, asset)}, ""
		}
	}
	day := dayKey(now)
	if l.PerDay != "" {
		max, _ := ParseAmount(l.PerDay)
		spent := spentToday(tx, day, asset, "")
		total := new(big.Rat).Add(spent, req.Amount)
		if total.Cmp(max) > 0 {
			return &RefusedError{Rule: RulePerDay, Reason: fmt.Sprintf("%s %s would exceed the daily limit of %s %s (%s already spent today)", ratString(req.Amount), asset, l.PerDay, asset, ratString(spent))}, ""
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
	if l.ApproveAbove != "" {
		th, _ := ParseAmount(l.ApproveAbove)
		if req.Amount.Cmp(th) > 0 {
			return nil, fmt.Sprintf("%s %s is above the approval threshold of %s %s", ratString(req.Amount), asset, l.ApproveAbove, asset)
		}
	}
	if req.Message != "" && p.ApproveMessages { // typed data that moves value is a message too
		return nil, messageRule
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
	req.Asset = strings.ToUpper(req.Asset)
	if req.Caller == "" {
		req.Caller = "unknown"
	}
	if w.ledger == nil {
		return Decision{}, ErrNoLedger
	}
	refuse := func(r *RefusedError) error {
		f := req.fields("refused").put("rule", r.Rule).put("reason", r.Reason)
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
			f := req.fields(action)
			if req.Amount != nil {
				r, _ := json.Marshal(reservation{Caller: req.Caller, Asset: req.Asset, Amount: ratString(req.Amount), Payee: req.Payee, Grant: req.Grant})
				if err := tx.Bucket(bucketSpend).Put([]byte(dayKey(w.now())+"|"+req.Asset+"|"+d.ID), r); err != nil {
					return err
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
	if id == "" {
		return nil
	}
	return withDB(w.dir, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSpend)
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
				return nil // released once already
			}
			r.Released = true
			nv, _ := json.Marshal(r)
			if err := b.Put(k, nv); err != nil {
				return err
			}
			f := facts{"action": "released"}
			f.put("reservation", id).put("reason", reason).put("asset", r.Asset).put("amount", r.Amount).
				put("payee", r.Payee).put("grant", r.Grant).put("tx", hash)
			return w.record(ctx, ledger.KindPermission, cmp.Or(r.Caller, "wallet"), nil, f, s)
		}
		return nil
	})
}

// SpentToday reports today's reserved totals per asset.
func (w *Wallet) SpentToday() (map[string]string, error) {
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
			out[a] = ratString(spentToday(tx, day, a, ""))
		}
		return nil
	})
	return out, err
}
