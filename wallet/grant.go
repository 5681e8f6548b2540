package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/internal/ledger"
)

// Who may spend, and how approval reaches a human, is decided in one place:
// the user's Session. A Session is created by the program the user runs
// (the CLI, the shell) with the approver and the interactivity it knows to
// be true. Agents and server clients never see a Session or the Wallet:
// they get a Grant the session minted, whose methods take no approver, no
// interactivity flag and no summary. What a human approves is always the
// summary Plan derived from the transfer itself.

// SessionConfig is what the user's program knows about its user.
type SessionConfig struct {
	Caller      string   // "cli", "tui": who the user is talking through
	Approver    Approver // nil: nobody can approve (headless)
	Interactive bool     // a human is present to answer the approver
	Unlock      Unlocker // yields the keys once a request is allowed
	Networks    []Network
}

// Session is the user's own standing with the wallet.
type Session struct {
	w    *Wallet
	cfg  SessionConfig
	self actor
}

// actor is who a request is made for and how it may be approved.
type actor struct {
	principal   string
	grant       string // grant id; empty for the user's own session
	approve     Approver
	interactive bool
	unlock      Unlocker
}

// NewSession opens the user's session.
func (w *Wallet) NewSession(cfg SessionConfig) *Session {
	if cfg.Caller == "" {
		cfg.Caller = "user"
	}
	approve := cfg.Approver
	if !cfg.Interactive {
		approve = nil
	}
	return &Session{w: w, cfg: cfg, self: actor{principal: cfg.Caller, approve: approve, interactive: cfg.Interactive, unlock: cfg.Unlock}}
}

// Wallet is the session's wallet.
func (s *Session) Wallet() *Wallet { return s.w }

// Networks are the networks the session can use.
func (s *Session) Networks() NetworkList { return s.cfg.Networks }

// Accounts returns the public addresses at index, unlocking only when they
// are not cached.
func (s *Session) Accounts(index uint32) (Accounts, error) {
	st := s.w.store
	if !st.Exists() {
		return Accounts{}, ErrNoWallet
	}
	if acct, ok := st.CachedAccounts(); ok && acct.Index == index {
		return acct, nil
	}
	if s.cfg.Unlock == nil {
		return Accounts{}, ErrLocked
	}
	keys, err := s.cfg.Unlock()
	if err != nil {
		return Accounts{}, err
	}
	defer keys.Wipe()
	return keys.Accounts(index)
}

// ErrLocked means keys were needed but the session has no way to unlock.
var ErrLocked = errors.New("the wallet is locked and this session cannot unlock it")

// Plan resolves t for the user's own accounts.
func (s *Session) Plan(ctx context.Context, t Transfer) (*Plan, error) {
	acct, err := s.Accounts(t.Account)
	if err != nil {
		return nil, err
	}
	return s.w.Plan(ctx, t, s.cfg.Networks, acct)
}

// Execute runs p through the policy as the user, then signs, broadcasts
// and records it.
func (s *Session) Execute(ctx context.Context, p *Plan) (LedgerEntry, error) {
	return s.w.execute(ctx, p, s.self)
}

// Limits bound what a grant may spend, on top of the wallet policy, in
// decimal units per asset symbol. Empty fields mean no extra bound.
type Limits struct {
	PerTx        map[string]string `json:"per_tx,omitempty"`
	PerDay       map[string]string `json:"per_day,omitempty"`
	ApproveAbove map[string]string `json:"approve_above,omitempty"`
	Networks     []string          `json:"networks,omitempty"` // names or CAIP-2 ids
	Payees       []string          `json:"payees,omitempty"`
	// Calls are the contract calls the grant may make, each
	// NETWORK:0xCONTRACT:0xSELECTOR; none: it makes no calls at all. The
	// policy still asks the user about a call it does not allow-list.
	Calls   []string  `json:"calls,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

// grantRecord is a grant as wallet.db keeps it, so that a revocation by any
// process takes effect at the next check of every other.
type grantRecord struct {
	ID        string    `json:"id"`
	Principal string    `json:"principal"`
	MintedBy  string    `json:"minted_by"`
	Limits    Limits    `json:"limits"`
	Created   time.Time `json:"created"`
	Revoked   time.Time `json:"revoked,omitzero"`
}

// GrantInfo describes a grant for listings.
type GrantInfo = grantRecord

// GrantList is grants, newest first.
type GrantList []GrantInfo

// Grant is a revocable spending capability a session minted for one
// principal (an agent, a server client). Its zero value grants nothing.
type Grant struct {
	s     *Session
	rec   grantRecord
	actor actor
}

// ErrNoGrant means a grant was not minted by a session, is unknown, or was
// revoked or has expired.
var ErrNoGrant = errors.New("no valid grant")

var bucketGrants = []byte("grants")

func (l Limits) validate() error {
	for _, m := range []map[string]string{l.PerTx, l.PerDay, l.ApproveAbove} {
		for a, v := range m {
			if _, err := ParseAmount(v); err != nil {
				return fmt.Errorf("grant limit for %s: %w", a, err)
			}
		}
	}
	if err := validateCallRules(l.Calls); err != nil {
		return fmt.Errorf("grant: %w", err)
	}
	return nil
}

// Grant mints a grant for principal with limits. The grant's approver and
// interactivity are this session's.
func (s *Session) Grant(principal string, l Limits) (*Grant, error) {
	if principal == "" || strings.EqualFold(principal, s.cfg.Caller) {
		return nil, fmt.Errorf("a grant needs a principal other than the session's own caller %q", s.cfg.Caller)
	}
	if err := l.validate(); err != nil {
		return nil, err
	}
	if s.w.ledger == nil {
		return nil, ErrNoLedger
	}
	rec := grantRecord{ID: newID(), Principal: principal, MintedBy: s.cfg.Caller, Limits: l, Created: s.w.now().UTC()}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	err = withDB(s.w.dir, func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketGrants).Put([]byte(rec.ID), b); err != nil {
			return err
		}
		return s.w.recordGrant(context.Background(), "grant-minted", s.cfg.Caller, rec, b)
	})
	if err != nil {
		return nil, err
	}
	return s.attach(rec), nil
}

// recordGrant records a grant minted or revoked by who: its id, principal
// and the digest of the record as wallet.db holds it (limits included).
func (w *Wallet) recordGrant(ctx context.Context, action, who string, rec grantRecord, stored []byte) error {
	return w.record(ctx, ledger.KindPermission, who, map[string]string{"grant": ledger.SHA256(stored)},
		facts{"action": action, "grant": rec.ID, "grant_principal": rec.Principal}, nil)
}

func (s *Session) attach(rec grantRecord) *Grant {
	a := s.self
	a.principal, a.grant = rec.Principal, rec.ID
	return &Grant{s: s, rec: rec, actor: a}
}

// Attach re-opens a stored grant under this session (for example in a
// server process serving the principal): the approver stays this session's.
func (s *Session) Attach(id string) (*Grant, error) {
	rec, err := s.w.grant(id)
	if err != nil {
		return nil, err
	}
	return s.attach(rec), nil
}

func (w *Wallet) grant(id string) (grantRecord, error) {
	var rec grantRecord
	err := withDB(w.dir, func(tx *bolt.Tx) (err error) { rec, err = getGrant(tx, id); return })
	return rec, err
}

func getGrant(tx *bolt.Tx, id string) (grantRecord, error) {
	var rec grantRecord
	b := tx.Bucket(bucketGrants).Get([]byte(id))
	if b == nil {
		return rec, fmt.Errorf("%w: grant %s is unknown", ErrNoGrant, id)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("grant %s is corrupt: %w", id, err)
	}
	return rec, nil
}

// Grants lists every grant, newest first.
func (w *Wallet) Grants() (GrantList, error) {
	var out GrantList
	err := withDB(w.dir, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketGrants).ForEach(func(_, v []byte) error {
			var r grantRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, err
}

// RevokeGrant revokes a grant for the user; every later check in any
// process refuses it, including one already planned or waiting for
// approval.
func (s *Session) RevokeGrant(id string) error { return s.w.revokeGrant(id, s.cfg.Caller) }

// revokeGrant revokes id and records who revoked it.
func (w *Wallet) revokeGrant(id, by string) error {
	if w.ledger == nil {
		return ErrNoLedger
	}
	return withDB(w.dir, func(tx *bolt.Tx) error {
		rec, err := getGrant(tx, id)
		if err != nil {
			return err
		}
		if rec.Revoked.IsZero() {
			rec.Revoked = w.now().UTC()
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketGrants).Put([]byte(id), b); err != nil {
			return err
		}
		return w.recordGrant(context.Background(), "grant-revoked", by, rec, b)
	})
}

// ID names the grant.
func (g *Grant) ID() string { return g.rec.ID }

// Principal is who the grant is for.
func (g *Grant) Principal() string { return g.rec.Principal }

// Revoke revokes the grant; its principal is recorded as who revoked it.
func (g *Grant) Revoke() error {
	if g == nil || g.s == nil {
		return ErrNoGrant
	}
	return g.s.w.revokeGrant(g.rec.ID, g.rec.Principal)
}

func (g *Grant) valid() error {
	if g == nil || g.s == nil || g.rec.ID == "" {
		return fmt.Errorf("%w: it was not minted by a session", ErrNoGrant)
	}
	return nil
}

// Limits are the grant's own bounds as minted (a copy).
func (g *Grant) Limits() Limits {
	if g == nil {
		return Limits{}
	}
	l := g.rec.Limits
	l.PerTx, l.PerDay, l.ApproveAbove = maps.Clone(l.PerTx), maps.Clone(l.PerDay), maps.Clone(l.ApproveAbove)
	l.Networks, l.Payees, l.Calls = slices.Clone(l.Networks), slices.Clone(l.Payees), slices.Clone(l.Calls)
	return l
}

// Balances reports the granting user's balances at account index (see
// Session.Balances), while the grant is live: its holder may see what it
// could spend from, and nothing is unlocked beyond the session's own.
func (g *Grant) Balances(ctx context.Context, index uint32) (BalanceReport, error) {
	if err := g.valid(); err != nil {
		return BalanceReport{}, err
	}
	if err := g.s.w.checkGrant(g.rec.ID); err != nil {
		return BalanceReport{}, err
	}
	return g.s.Balances(ctx, index)
}

// Plan resolves t for the granting user's accounts.
func (g *Grant) Plan(ctx context.Context, t Transfer) (*Plan, error) {
	if err := g.valid(); err != nil {
		return nil, err
	}
	if err := g.s.w.checkGrant(g.rec.ID); err != nil {
		return nil, err
	}
	return g.s.Plan(ctx, t)
}

// Execute runs p through the grant's limits and the wallet policy; approval,
// when needed, is asked of the granting session's approver with p's summary.
func (g *Grant) Execute(ctx context.Context, p *Plan) (LedgerEntry, error) {
	if err := g.valid(); err != nil {
		return LedgerEntry{}, err
	}
	return g.s.w.execute(ctx, p, g.actor)
}

// checkGrant refuses a revoked, expired or unknown grant.
func (w *Wallet) checkGrant(id string) error {
	return withDB(w.dir, func(tx *bolt.Tx) error {
		_, err := liveGrant(tx, id, w.now())
		return err
	})
}

func liveGrant(tx *bolt.Tx, id string, now time.Time) (grantRecord, error) {
	rec, err := getGrant(tx, id)
	if err != nil {
		return rec, err
	}
	if !rec.Revoked.IsZero() {
		return rec, fmt.Errorf("%w: grant %s for %s was revoked", ErrNoGrant, id, rec.Principal)
	}
	if !rec.Limits.Expires.IsZero() && now.After(rec.Limits.Expires) {
		return rec, fmt.Errorf("%w: grant %s for %s expired at %s", ErrNoGrant, id, rec.Principal, rec.Limits.Expires.Format(time.RFC3339))
	}
	return rec, nil
}

// evaluateGrant applies a grant's own bounds, like evaluate does the
// policy's; spending through the grant is counted from its reservations.
func evaluateGrant(tx *bolt.Tx, req request, now time.Time) (refuse *RefusedError, need string, err error) {
	if req.Grant == "" {
		return nil, "", nil
	}
	rec, err := liveGrant(tx, req.Grant, now)
	if err != nil {
		return nil, "", err
	}
	l := rec.Limits
	if len(l.Networks) > 0 && !containsFold(l.Networks, req.Chain) && !containsFold(l.Networks, req.Network) {
		return &RefusedError{Rule: RuleGrant, Reason: fmt.Sprintf("the grant for %s does not cover network %s", rec.Principal, req.Network)}, "", nil
	}
	if req.Kind == KindCall && !callListed(l.Calls, req) {
		return &RefusedError{Rule: RuleGrant, Reason: fmt.Sprintf("the grant for %s does not cover calling function %s of contract %s on %s", rec.Principal, req.Selector, req.Payee, req.Network)}, "", nil
	}
	if req.Amount == nil {
		return nil, "", nil
	}
	if len(l.Payees) > 0 && !containsPayee(l.Payees, req.Payee) {
		return &RefusedError{Rule: RuleGrant, Reason: fmt.Sprintf("the grant for %s does not cover payee %s", rec.Principal, req.Payee)}, "", nil
	}
	// network fees count toward the native asset's bounds, as in the policy
	out := req.outflow()
	for _, a := range req.assets() {
		if v, ok := lookupFold(l.PerTx, a); ok {
			max, _ := ParseAmount(v)
			if out[a].Cmp(max) > 0 {
				return &RefusedError{Rule: RuleGrant, Reason: fmt.Sprintf("%s exceeds the grant's per-transaction limit of %s %s", req.what(a, out[a]), v, a)}, "", nil
			}
		}
		if v, ok := lookupFold(l.PerDay, a); ok {
			max, _ := ParseAmount(v)
			spent := spentBy(tx, dayKey(now), a, req.Grant)
			if new(big.Rat).Add(spent, out[a]).Cmp(max) > 0 {
				return &RefusedError{Rule: RuleGrant, Reason: fmt.Sprintf("%s would exceed the grant's daily limit of %s %s (%s already spent through it today)", req.what(a, out[a]), v, a, ratString(spent))}, "", nil
			}
		}
	}
	if v, ok := lookupFold(l.ApproveAbove, req.Asset); ok {
		th, _ := ParseAmount(v)
		if req.Amount.Cmp(th) > 0 {
			return nil, fmt.Sprintf("%s %s is above the grant's approval threshold of %s %s", ratString(req.Amount), req.Asset, v, req.Asset), nil
		}
	}
	return nil, "", nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if s != "" && strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// request derives the policy request from the plan and the actor: nothing
// in it comes from the caller's words. A replacement carries no amount: the
// budget already holds the original's, and only one of them can be mined.
func (p *Plan) request(a actor) request {
	r := request{
		Kind: p.kind, Caller: a.principal, Grant: a.grant, Chain: p.net.CAIP2, Network: p.net.Name,
		Asset: p.asset, Payee: p.to, Summary: p.summary, Interactive: a.interactive, Warnings: p.warnings,
	}
	if p.amount != nil {
		r.Amount = atomicRat(p.amount, p.decimals)
	}
	if p.call != nil {
		r.Selector = p.call.selector
		r.Details = map[string]string{"contract": p.to, "selector": p.call.selector, "data_sha256": p.call.digest}
	}
	if p.maxFee != nil {
		r.Fee, r.FeeAsset, r.Family = atomicRat(p.maxFee, p.net.NativeDecimals), p.net.Native, p.net.Family
	}
	// only the user may pay a request again, never a grant's holder
	r.PayKey, r.Again, r.Deadline, r.DeadlineBy = p.payKey, p.again && a.grant == "", p.deadline, p.deadlineBy
	return r
}

// execute is the one send path for every chain: authorise (reserving the
// spend and recording the decision) → unlock → sign → record the payment in
// the ledger, signed with the ledger key → broadcast → keep the transaction.
// A failure before the broadcast releases the reservation; a payment that
// cannot be recorded is never broadcast.
func (w *Wallet) execute(ctx context.Context, p *Plan, a actor) (LedgerEntry, error) {
	if p == nil || p.summary == "" || (p.amount == nil && p.replace == nil) {
		return LedgerEntry{}, errors.New("execute: no plan")
	}
	d, err := w.authorize(ctx, p.request(a), a.approve)
	if err != nil {
		return LedgerEntry{}, err
	}
	// Recording must not be cut short by a cancelled caller once the keys
	// are in use: the entry is what says what was signed.
	rctx := context.WithoutCancel(ctx)
	var signer *ledger.Signer
	var txHash string
	release := func(why string) { w.release(rctx, d.ID, why, txHash, signer) }
	if a.unlock == nil {
		release("locked")
		return LedgerEntry{}, ErrLocked
	}
	keys, err := a.unlock()
	if err != nil {
		release("unlock failed")
		return LedgerEntry{}, err
	}
	defer keys.Wipe()
	signer = w.ledgerSigner(keys)
	// A deadline that passed during approval or unlock stops it too.
	if !p.deadline.IsZero() && !w.now().Before(p.deadline) {
		release("payment request expired")
		return LedgerEntry{}, &RefusedError{Rule: RuleExpired, Reason: fmt.Sprintf("the payment request expired at %s (%s)", p.deadline.UTC().Format(time.RFC3339), p.deadlineBy)}
	}
	// A revocation during approval or unlock still stops the payment.
	if a.grant != "" {
		if err := w.checkGrant(a.grant); err != nil {
			release("grant revoked")
			return LedgerEntry{}, err
		}
	}
	commit := func(hash string, nonce uint64) error {
		if err := w.recordPayment(rctx, p, a, d.ID, hash, nonce, signer); err != nil {
			return err
		}
		txHash = hash
		return nil
	}
	var entry LedgerEntry
	switch p.net.Family {
	case FamilyEVM:
		if p.replace != nil {
			entry, err = w.broadcastReplacement(ctx, p, keys, commit)
			break
		}
		entry, err = w.broadcastEVM(ctx, p, keys, commit)
	case FamilyBitcoin:
		entry, err = w.broadcastBitcoin(ctx, p, keys, commit)
	case FamilySolana:
		entry, err = broadcastSolana(ctx, p, keys, commit)
	case FamilyNEAR:
		entry, err = broadcastNEAR(ctx, p, keys, commit)
	default:
		err = fmt.Errorf("network family %q cannot send", p.net.Family)
	}
	failed := err // broadcast, then failed on chain: recorded as such
	if err != nil && !errors.As(err, new(*TxFailedError)) {
		release("not broadcast")
		return LedgerEntry{}, err
	}
	entry.Chain, entry.Network, entry.Kind = p.net.CAIP2, p.net.Name, p.kind
	entry.From, entry.To, entry.Asset, entry.Amount = p.from, p.to, p.asset, p.amountText()
	entry.Caller, entry.Grant, entry.Policy, entry.Request = a.principal, a.grant, d.ID, p.payKey
	if err := w.recordLedger(entry); err != nil {
		return entry, fmt.Errorf("transaction %s was broadcast but not recorded: %w", entry.Hash, err)
	}
	if p.replace != nil {
		w.updateLedger(p.replace.old.Chain, p.replace.old.Hash, func(l *LedgerEntry) { l.ReplacedBy = entry.Hash })
	}
	if failed != nil {
		w.settle(rctx, entry, entry.Status)
		return entry, failed
	}
	return entry, nil
}

// PendingError means a transaction was still unconfirmed when Follow
// stopped waiting; it may yet confirm, and Wallet.Refresh follows it later.
type PendingError struct {
	Hash, Network string
	After         time.Duration
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("transaction %s on %s is still pending after %s", e.Hash, e.Network, e.After)
}

// Follow waits until a broadcast entry is mined (EVM: confirmed, failed or
// replaced; Bitcoin: confirmed; Solana: confirmed, failed or dropped when
// its blockhash expired; NEAR: final or failed), for at most the family's
// usual time, and records the outcome. Past that time it returns the entry
// with a *PendingError.
func (s *Session) Follow(ctx context.Context, entry LedgerEntry) (LedgerEntry, error) {
	net, ok := FindNetwork(s.cfg.Networks, entry.Chain)
	if !ok {
		return entry, &UnknownNetworkError{Name: entry.Chain}
	}
	wait, ok := s.w.followFor[net.Family]
	if !ok || entry.Status != "pending" {
		return entry, nil
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var err error
	switch net.Family {
	case FamilyEVM:
		var e *EVM
		if e, err = s.w.dial(wctx, net); err != nil {
			return entry, err
		}
		defer e.Close()
		entry, err = s.w.WaitEVM(wctx, e, entry)
	case FamilyBitcoin:
		var b *BitcoinNode
		if b, err = DialBitcoin(wctx, net); err != nil {
			return entry, err
		}
		defer b.Close()
		entry, err = s.w.WaitBitcoin(wctx, b, entry)
	case FamilySolana:
		entry, err = s.w.WaitSolana(wctx, NewSolanaRPC(net), entry)
	case FamilyNEAR:
		entry, err = s.w.WaitNEAR(wctx, NewNEARRPC(net), entry)
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return entry, &PendingError{Hash: entry.Hash, Network: entry.Network, After: wait}
	}
	return entry, err
}
