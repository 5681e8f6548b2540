package dao

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/wallet"
)

// VoteRecord is a vote sov cast.
type VoteRecord struct {
	Choice Choice    `json:"choice"`
	By     string    `json:"by"` // "auto" (an auto_cast rule) or "user"
	At     time.Time `json:"at"`
	Receipt
}

// AliasRecord is the alias authorisation sov made.
type AliasRecord struct {
	From       string     `json:"from"`
	Alias      string     `json:"alias"`
	Authorized time.Time  `json:"authorized"`
	Message    string     `json:"message"` // the sequencer's id for it
	Revoked    *time.Time `json:"revoked,omitempty"`
}

// State is what the delegate keeps in its folder (state.json): public
// proposal data, its decisions, the votes it cast and the alias.
type State struct {
	Proposals map[string]Proposal     `json:"proposals"`
	Decisions map[string]Decision     `json:"decisions"`
	Seen      map[string]string       `json:"seen"` // what the model was given, for explain
	Votes     map[string][]VoteRecord `json:"votes"`
	Alias     *AliasRecord            `json:"alias,omitempty"`
	// Dismissed: proposals the user set aside (Dismiss), and when.
	Dismissed map[string]time.Time `json:"dismissed,omitempty"`
}

// Delegate is one user's DAO delegate: its folder, policy, sources,
// model and voters.
type Delegate struct {
	Dir     string // $SOV_HOME/dao
	Policy  *Policy
	Sources []Source
	// Model decides what no rule settles; nil: those abstain.
	Model JSONModel
	// Voters by source kind (SourceSnapshot, SourceGovernor).
	Voters map[string]Voter
	// Record writes a ledger entry (hashes and small facts); nil: none.
	Record    func(ctx context.Context, rec ledger.Record) error
	Principal string // who acts: "cli", "agent:NAME"
	Now       func() time.Time
	// OnVote, when set, is told of every vote cast, after it is recorded
	// (the public rationale log); what it does cannot undo the vote.
	OnVote func(ctx context.Context, p Proposal, v VoteRecord, rationale string)
}

// Errors the delegate returns for callers to react to.
var (
	// ErrBusy: another delegate pass holds the folder.
	ErrBusy = errors.New("another DAO delegate pass is running")
	// ErrUnknownProposal: no synced proposal has that id.
	ErrUnknownProposal = errors.New("no such proposal (sync first)")
	// ErrNoVoter: no voter for the proposal's source is configured.
	ErrNoVoter = errors.New("no voter for this source")
	// ErrNoDecision: nothing drafted to approve and no choice given.
	ErrNoDecision = errors.New("no drafted choice for this proposal")
)

func (d *Delegate) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Delegate) statePath() string { return filepath.Join(d.Dir, "state.json") }

// Lock takes the delegate's folder for one pass; a second is refused
// with ErrBusy (naming the holder's pid) rather than casting twice.
func (d *Delegate) Lock() (unlock func(), err error) {
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(d.Dir, "run.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (pid %s)", ErrBusy, strings.TrimSpace(string(b[:n])))
		}
		return nil, err
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())), 0)
	return func() { f.Truncate(0); unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// Load reads the state (empty when none yet).
func (d *Delegate) Load() (*State, error) {
	st := &State{}
	b, err := os.ReadFile(d.statePath())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err == nil {
		if err := json.Unmarshal(b, st); err != nil {
			return nil, fmt.Errorf("%s is damaged: %w", d.statePath(), err)
		}
	}
	if st.Proposals == nil {
		st.Proposals = map[string]Proposal{}
	}
	if st.Decisions == nil {
		st.Decisions = map[string]Decision{}
	}
	if st.Seen == nil {
		st.Seen = map[string]string{}
	}
	if st.Votes == nil {
		st.Votes = map[string][]VoteRecord{}
	}
	return st, nil
}

// Save writes the state atomically.
func (d *Delegate) Save(st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return err
	}
	tmp := d.statePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, d.statePath())
}

// Find resolves id (a full key, a source id, or a unique prefix of
// either) to a synced proposal.
func (st *State) Find(id string) (Proposal, error) {
	if p, ok := st.Proposals[id]; ok {
		return p, nil
	}
	var hits []Proposal
	for k, p := range st.Proposals {
		if p.ID == id || strings.HasPrefix(p.ID, id) || strings.HasPrefix(k, id) {
			hits = append(hits, p)
		}
	}
	switch {
	case len(hits) == 1 && id != "":
		return hits[0], nil
	case len(hits) > 1 && id != "":
		return Proposal{}, fmt.Errorf("%q names %d proposals: give more of the id", id, len(hits))
	}
	return Proposal{}, fmt.Errorf("%q: %w", id, ErrUnknownProposal)
}

// Sorted lists the synced proposals by end time.
func (st *State) Sorted() []Proposal {
	out := make([]Proposal, 0, len(st.Proposals))
	for _, p := range st.Proposals {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].End.Equal(out[j].End) {
			return out[i].End.Before(out[j].End)
		}
		return out[i].Key() < out[j].Key()
	})
	return out
}

// Sync asks every source for its proposals and keeps them. A source that
// fails fails the sync: a partial list could look complete.
func (d *Delegate) Sync(ctx context.Context) ([]Proposal, error) {
	var all []Proposal
	for _, s := range d.Sources {
		ps, err := s.Sync(ctx)
		if err != nil {
			return nil, fmt.Errorf("sync %s: %w", s.Name(), err)
		}
		all = append(all, ps...)
	}
	st, err := d.Load()
	if err != nil {
		return nil, err
	}
	for _, p := range all {
		st.Proposals[p.Key()] = p
	}
	return all, d.Save(st)
}

func sha(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }

var plainID = regexp.MustCompile(`^[A-Za-z0-9:._-]{1,100}$`)

// safeID is id when it is a plain id, else its sha256: what a hub answers
// is outside text, and the ledger holds none.
func safeID(id string) string {
	if plainID.MatchString(id) {
		return id
	}
	return "sha256:" + sha(id)
}

// record writes a ledger entry about proposal p: hashes and small facts.
func (d *Delegate) record(ctx context.Context, p Proposal, fields map[string]any) error {
	if d.Record == nil {
		return nil
	}
	pol, _ := os.ReadFile(d.Policy.Path)
	fields["source"], fields["space"], fields["policy_sha256"] = p.Source, p.Space, sha(string(pol))
	return d.Record(context.WithoutCancel(ctx), ledger.Record{Kind: ledger.KindVote, Principal: d.Principal,
		Subjects: map[string]string{"proposal": sha(p.Key())}, Fields: fields})
}

// Decide runs the rules and, where they do not settle it, the model, then
// settles the action (Settle), keeps the decision and writes it to the
// ledger.
func (d *Delegate) Decide(ctx context.Context, st *State, p Proposal) (Decision, error) {
	now := d.now()
	dec, done := Triage(d.Policy, p, now)
	if !done {
		if d.Model == nil {
			dec.Action, dec.Why, dec.By, dec.Confidence = Abstain, "no rule settles it and no model is available", "model", 0
		} else {
			var msgs []model.Message
			var err error
			dec, msgs, err = (&Decider{Policy: d.Policy, Model: d.Model}).Decide(ctx, p, now)
			if err != nil {
				return dec, err
			}
			var seen strings.Builder
			for _, m := range msgs {
				fmt.Fprintf(&seen, "[%s]\n%s\n\n", m.Role, m.Content)
			}
			st.Seen[p.Key()] = seen.String()
		}
	}
	dec = Settle(d.Policy, p, dec)
	st.Decisions[p.Key()] = dec
	f := map[string]any{"action": "decision", "outcome": string(dec.Action), "by": dec.By, "confidence": dec.Confidence,
		"clauses": strings.Join(dec.Clauses, ","), "rationale_sha256": sha(dec.Rationale), "why_sha256": sha(dec.Why)}
	if dec.Choice != nil {
		f["choice"] = dec.Choice.String()
	}
	if dec.Seen != "" {
		f["seen_sha256"] = dec.Seen
	}
	return dec, d.record(ctx, p, f)
}

// Queued is a decision waiting for the user.
type Queued struct {
	Proposal Proposal `json:"proposal"`
	Decision Decision `json:"decision"`
}

// RunReport is what one delegate pass did.
type RunReport struct {
	Synced  int          `json:"synced"`
	Cast    []VoteRecord `json:"cast"`
	CastFor []string     `json:"cast_for"` // proposal keys, as Cast
	// Waiting: auto-cast decisions whose review window has not begun.
	Waiting []Queued `json:"waiting"`
	// Queued: drafts for the user to approve, and abstentions to see.
	Queued  []Queued `json:"queued"`
	Skipped int      `json:"skipped"`
	// Failed: votes the rules allowed that could not be cast, and why
	// (FailedErr: the errors themselves, for callers that react to them).
	Failed    map[string]string `json:"failed,omitempty"`
	FailedErr map[string]error  `json:"-"`
}

// Render writes the pass for a terminal, a line per proposal acted on,
// cleaned of control characters (ids and reasons carry hub text).
func (r RunReport) Render(w io.Writer) {
	line := func(format string, a ...any) { fmt.Fprintln(w, termtext.Clean(fmt.Sprintf(format, a...))) }
	line("%d proposals: %d cast, %d waiting for their review window, %d queued, %d skipped", r.Synced, len(r.Cast), len(r.Waiting), len(r.Queued), r.Skipped)
	for i, v := range r.Cast {
		line("cast   %s: %s (%s)", r.CastFor[i], v.Choice, v.ID)
	}
	for _, q := range r.Waiting {
		line("later  %s: %s from %s", q.Proposal.Key(), q.Decision.Choice.Label(q.Proposal), q.Decision.NotBefore.Local().Format(time.RFC3339))
	}
	for _, q := range r.Queued {
		ch := ""
		if q.Decision.Choice != nil {
			ch = q.Decision.Choice.Label(q.Proposal)
		}
		line("queued %s: %s %s (%s)", q.Proposal.Key(), q.Decision.Action, ch, q.Decision.Why)
	}
	keys := slices.Sorted(maps.Keys(r.Failed))
	for _, k := range keys {
		line("FAILED %s: %s", k, r.Failed[k])
	}
}

// RefusedCalls are the contract calls (NETWORK:CONTRACT:SELECTOR) the
// wallet's policy refused in this pass: allow-listing them lets the
// delegate cast those votes unattended.
func (r RunReport) RefusedCalls() []string {
	var calls []string
	for _, e := range r.FailedErr {
		var re *wallet.RefusedError
		if errors.As(e, &re) && re.Call != "" && !slices.Contains(calls, re.Call) {
			calls = append(calls, re.Call)
		}
	}
	slices.Sort(calls)
	return calls
}

// lockedState takes the run lock and loads the state under it; the
// caller defers unlock. On error nothing is held.
func (d *Delegate) lockedState() (*State, func(), error) {
	unlock, err := d.Lock()
	if err != nil {
		return nil, nil, err
	}
	st, err := d.Load()
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return st, unlock, nil
}

// Run is one delegate pass: sync, decide what is new, cast what an
// auto-cast rule allows inside its review window, queue the rest. A
// second pass at once is refused (ErrBusy).
func (d *Delegate) Run(ctx context.Context) (RunReport, error) {
	var rep RunReport
	unlock, err := d.Lock()
	if err != nil {
		return rep, err
	}
	defer unlock()
	ps, err := d.Sync(ctx)
	if err != nil {
		return rep, err
	}
	rep.Synced = len(ps)
	st, err := d.Load()
	if err != nil {
		return rep, err
	}
	defer func() {
		if serr := d.Save(st); serr != nil && err == nil {
			err = serr
		}
	}()
	for _, p := range ps {
		if _, ok := st.Dismissed[p.Key()]; ok && len(st.Votes[p.Key()]) == 0 {
			rep.Skipped++ // the user set it aside: neither queued nor cast
			continue
		}
		dec, ok := st.Decisions[p.Key()]
		// Decide again what was skipped, or abstained on for want of a
		// model when there is one now.
		if !ok || dec.Action == Skip || dec.By == "model" && dec.Seen == "" && dec.Choice == nil && d.Model != nil {
			if dec, err = d.Decide(ctx, st, p); err != nil {
				return rep, fmt.Errorf("decide %s: %w", p.Key(), err)
			}
		}
		if len(st.Votes[p.Key()]) > 0 {
			continue // voted already: a change is the user's
		}
		switch {
		case dec.Action == Skip:
			rep.Skipped++
		case dec.Action == Cast && d.now().Before(dec.NotBefore):
			rep.Waiting = append(rep.Waiting, Queued{p, dec})
		case dec.Action == Cast:
			vr, err := d.cast(ctx, st, p, *dec.Choice, dec.Rationale, "auto")
			if err != nil {
				if rep.Failed == nil {
					rep.Failed, rep.FailedErr = map[string]string{}, map[string]error{}
				}
				rep.Failed[p.Key()], rep.FailedErr[p.Key()] = err.Error(), err
				continue
			}
			rep.Cast, rep.CastFor = append(rep.Cast, vr), append(rep.CastFor, p.Key())
		default:
			rep.Queued = append(rep.Queued, Queued{p, dec})
		}
	}
	return rep, nil
}

// cast votes c on p through its source's voter and records it.
func (d *Delegate) cast(ctx context.Context, st *State, p Proposal, c Choice, rationale, by string) (VoteRecord, error) {
	v := d.Voters[p.Source]
	if v == nil {
		return VoteRecord{}, fmt.Errorf("%s: %w", p.Source, ErrNoVoter)
	}
	if p.Source == SourceSnapshot {
		switch {
		case st.Alias == nil:
			return VoteRecord{}, ErrNoAlias
		case st.Alias.Revoked != nil:
			return VoteRecord{}, ErrAliasRevoked
		}
	}
	if strings.TrimSpace(rationale) == "" {
		rationale = "Voted by the user's decision through sov."
	}
	r, err := v.Vote(ctx, p, c, rationale)
	if err != nil {
		return VoteRecord{}, err
	}
	vr := VoteRecord{Choice: c, By: by, At: d.now().UTC(), Receipt: r}
	st.Votes[p.Key()] = append(st.Votes[p.Key()], vr)
	err = d.record(ctx, p, map[string]any{"action": "vote", "by": by, "choice": c.String(), "receipt": safeID(r.ID),
		"signer": r.Signer, "message_sha256": r.Digest, "rationale_sha256": sha(rationale)})
	if d.OnVote != nil {
		d.OnVote(ctx, p, vr, rationale)
	}
	return vr, err
}

// Vote casts the user's vote on the proposal id: choice, or the drafted
// decision's when choice is nil. A later Snapshot vote replaces an
// earlier one.
func (d *Delegate) Vote(ctx context.Context, id string, choice *Choice) (Proposal, VoteRecord, error) {
	st, unlock, err := d.lockedState()
	if err != nil {
		return Proposal{}, VoteRecord{}, err
	}
	defer unlock()
	p, err := st.Find(id)
	if err != nil {
		return p, VoteRecord{}, err
	}
	dec := st.Decisions[p.Key()]
	rationale := dec.Rationale
	if choice == nil {
		if dec.Choice == nil {
			return p, VoteRecord{}, fmt.Errorf("%s: %w", p.Key(), ErrNoDecision)
		}
		choice = dec.Choice
	} else if dec.Choice == nil || dec.Choice.String() != choice.String() {
		rationale = "The user chose this directly."
	}
	vr, err := d.cast(ctx, st, p, *choice, rationale, "user")
	if err != nil {
		return p, vr, err
	}
	return p, vr, d.Save(st)
}

// Explanation is everything behind a decision.
type Explanation struct {
	Proposal Proposal     `json:"proposal"`
	Decision *Decision    `json:"decision,omitempty"`
	Clauses  []string     `json:"clauses_text"` // each cited clause as the policy says it
	Seen     string       `json:"model_input,omitempty"`
	Votes    []VoteRecord `json:"votes"`
}

// Explain gathers the decision on id, its clauses, what the model saw
// and the votes cast.
func (d *Delegate) Explain(id string) (Explanation, error) {
	st, err := d.Load()
	if err != nil {
		return Explanation{}, err
	}
	p, err := st.Find(id)
	if err != nil {
		return Explanation{}, err
	}
	e := Explanation{Proposal: p, Seen: st.Seen[p.Key()], Votes: st.Votes[p.Key()]}
	if dec, ok := st.Decisions[p.Key()]; ok {
		e.Decision = &dec
		for _, c := range dec.Clauses {
			if is, ok := d.Policy.Issue(c); ok {
				e.Clauses = append(e.Clauses, fmt.Sprintf("%s: %s on %s", is.ID, is.Stance, is.About))
			} else if r, ok := d.Policy.RedLine(c); ok {
				e.Clauses = append(e.Clauses, fmt.Sprintf("%s: red line, never for %s", r.ID, r.About))
			}
		}
	}
	return e, nil
}

// AuthorizeAlias has the main key sign the Alias message (the caller has
// had the user confirm) and keeps the record.
func (d *Delegate) AuthorizeAlias(ctx context.Context, v *SnapshotVoter) (AliasRecord, error) {
	st, unlock, err := d.lockedState()
	if err != nil {
		return AliasRecord{}, err
	}
	defer unlock()
	_, r, err := v.Authorize(ctx)
	if err != nil {
		return AliasRecord{}, err
	}
	rec := AliasRecord{From: v.From, Alias: v.Alias, Authorized: d.now().UTC(), Message: r.ID}
	st.Alias = &rec
	if d.Record != nil {
		if err := d.Record(context.WithoutCancel(ctx), ledger.Record{Kind: ledger.KindVote, Principal: d.Principal,
			Subjects: map[string]string{"alias": sha(strings.ToLower(v.Alias))},
			Fields:   map[string]any{"action": "alias-authorize", "from": v.From, "alias": v.Alias, "receipt": safeID(r.ID), "message_sha256": r.Digest}}); err != nil {
			return rec, err
		}
	}
	return rec, d.Save(st)
}

// RevokeAlias stops sov from voting with the alias. Snapshot's message
// types (snapshot.js 0.17.5) have no way to withdraw an Alias on the hub,
// so the revocation is sov's: no vote is signed with the alias again
// until it is authorised anew.
func (d *Delegate) RevokeAlias(ctx context.Context) (AliasRecord, error) {
	st, unlock, err := d.lockedState()
	if err != nil {
		return AliasRecord{}, err
	}
	defer unlock()
	if st.Alias == nil {
		return AliasRecord{}, ErrNoAlias
	}
	if st.Alias.Revoked == nil {
		t := d.now().UTC()
		st.Alias.Revoked = &t
		if d.Record != nil {
			if err := d.Record(context.WithoutCancel(ctx), ledger.Record{Kind: ledger.KindVote, Principal: d.Principal,
				Subjects: map[string]string{"alias": sha(strings.ToLower(st.Alias.Alias))},
				Fields:   map[string]any{"action": "alias-revoke", "alias": st.Alias.Alias}}); err != nil {
				return *st.Alias, err
			}
		}
	}
	return *st.Alias, d.Save(st)
}

// Close lets go of the model, when it holds one.
func (d *Delegate) Close() error {
	if c, ok := d.Model.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}
