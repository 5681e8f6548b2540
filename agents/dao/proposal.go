// Package dao is sov's DAO delegate: a policy the user writes, proposals
// from Snapshot (and, through another package, on-chain Governors), a
// decision made by deterministic rules first and a grammar-forced model
// second, and votes signed by a revocable alias key.
//
// A source plugs in by implementing Source: Sync returns the proposals it
// sees, each naming its VotingType, so the choice a decision may take is
// fixed by the type and the proposal's choices, never by proposal text.
package dao

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// VotingType is how a proposal counts votes. The Snapshot names are the
// hub's own; Governor is OpenZeppelin Governor's Against/For/Abstain.
type VotingType string

const (
	SingleChoice VotingType = "single-choice"
	Approval     VotingType = "approval"
	RankedChoice VotingType = "ranked-choice"
	Weighted     VotingType = "weighted"
	Quadratic    VotingType = "quadratic"
	Basic        VotingType = "basic" // single choice among For, Against, Abstain
	Governor     VotingType = "governor"
)

// GovernorChoices are a Governor's support values in order: support 0 is
// Against, 1 For, 2 Abstain (GovernorCountingSimple).
var GovernorChoices = []string{"Against", "For", "Abstain"}

// Known reports whether t is a voting type sov can decide and vote on.
func (t VotingType) Known() bool {
	switch t {
	case SingleChoice, Approval, RankedChoice, Weighted, Quadratic, Basic, Governor:
		return true
	}
	return false
}

// Source kinds.
const (
	SourceSnapshot = "snapshot"
	SourceGovernor = "governor"
)

// Proposal is one proposal from any source. Title and Body are
// attacker-controlled text: they are shown sanitised and given to the
// model fenced as data, never as instructions.
type Proposal struct {
	// Source is SourceSnapshot or SourceGovernor.
	Source string `json:"source"`
	// Space is the Snapshot space ("ens.eth") or, for a Governor, its
	// CAIP-10 account ("eip155:1:0xabc…").
	Space string `json:"space"`
	// ID is the source's own id: Snapshot's 0x… proposal id, a Governor's
	// proposalId in decimal.
	ID      string     `json:"id"`
	Title   string     `json:"title"`
	Body    string     `json:"body"`
	Choices []string   `json:"choices"` // Governor: GovernorChoices
	Type    VotingType `json:"type"`
	Start   time.Time  `json:"start"`
	End     time.Time  `json:"end"`
	// Snapshot is the block voting power is counted at.
	Snapshot string `json:"snapshot,omitempty"`
	State    string `json:"state"` // "active", "pending", "closed"
	// Privacy is Snapshot's "shutter" for shielded voting (not supported:
	// its votes are encrypted to a key sov does not handle).
	Privacy string `json:"privacy,omitempty"`
	Author  string `json:"author,omitempty"`
	// VP is the voter's voting power when the source knows it (-1 unknown).
	VP float64 `json:"vp"`
	// Fetched is when the source saw it.
	Fetched time.Time `json:"fetched"`
}

// Key is a short, unique name for p across sources (used by the CLI and
// the queue): "snapshot:<space>:<id>" or "governor:<caip10>:<id>".
func (p Proposal) Key() string { return p.Source + ":" + p.Space + ":" + p.ID }

// Open reports whether votes are accepted at now.
func (p Proposal) Open(now time.Time) bool {
	return p.State == "active" && !now.Before(p.Start) && now.Before(p.End)
}

// Source lists proposals from one place (a Snapshot hub, a Governor).
type Source interface {
	// Name says where proposals come from, for errors and listings.
	Name() string
	// Sync returns the proposals open or upcoming in what the policy
	// follows. An unreachable or garbled source is an error, never a
	// partial list that looks complete.
	Sync(ctx context.Context) ([]Proposal, error)
}

// Voter casts a decided choice on a proposal of its source.
type Voter interface {
	// Vote casts c on p with reason as the public rationale and returns a
	// receipt id (a Snapshot envelope id, a transaction hash).
	Vote(ctx context.Context, p Proposal, c Choice, reason string) (Receipt, error)
}

// Receipt is what a cast vote left behind.
type Receipt struct {
	ID     string `json:"id"`               // envelope id or transaction hash
	Signer string `json:"signer,omitempty"` // the address that signed
	// Digest is the sha256 of what was signed (for the ledger).
	Digest string `json:"digest,omitempty"`
}

// Choice is a vote valid for one voting type. Indexes are 1-based, as
// Snapshot counts them, except Governor's Support (0 Against, 1 For,
// 2 Abstain).
type Choice struct {
	Type VotingType `json:"type"`
	// Index: single-choice, basic (1-based); governor (support 0..2).
	Index int `json:"index,omitempty"`
	// Indexes: approval (any subset, no repeats) and ranked-choice (every
	// choice exactly once, best first).
	Indexes []int `json:"indexes,omitempty"`
	// Weights: weighted and quadratic, choice index → positive weight.
	Weights map[int]float64 `json:"weights,omitempty"`
}

// ErrInvalidChoice is wrapped by every error Validate returns.
var ErrInvalidChoice = errors.New("invalid choice")

// Validate checks c against p's type and choice count.
func (c Choice) Validate(p Proposal) error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w for %s proposal: %s", ErrInvalidChoice, p.Type, fmt.Sprintf(f, a...))
	}
	if c.Type != p.Type {
		return bad("choice is for %s", c.Type)
	}
	n := len(p.Choices)
	in := func(i int) bool { return i >= 1 && i <= n }
	switch p.Type {
	case SingleChoice, Basic:
		if !in(c.Index) {
			return bad("choice %d is not one of 1..%d", c.Index, n)
		}
	case Governor:
		if c.Index < 0 || c.Index > 2 {
			return bad("support %d is not 0 (Against), 1 (For) or 2 (Abstain)", c.Index)
		}
	case Approval, RankedChoice:
		seen := map[int]bool{}
		for _, i := range c.Indexes {
			if !in(i) {
				return bad("choice %d is not one of 1..%d", i, n)
			}
			if seen[i] {
				return bad("choice %d appears twice", i)
			}
			seen[i] = true
		}
		if p.Type == RankedChoice && len(c.Indexes) != n {
			return bad("every one of the %d choices must be ranked once", n)
		}
		if p.Type == Approval && len(c.Indexes) == 0 {
			return bad("approve at least one choice")
		}
	case Weighted, Quadratic:
		if len(c.Weights) == 0 {
			return bad("give at least one choice a weight")
		}
		for i, w := range c.Weights {
			if !in(i) {
				return bad("choice %d is not one of 1..%d", i, n)
			}
			if !(w > 0) || w > 1e9 {
				return bad("weight %v of choice %d must be positive", w, i)
			}
		}
	default:
		return bad("voting type %q is not supported", p.Type)
	}
	return nil
}

// String is c in the form the CLI accepts (ParseChoice): "2", "1,3",
// "1=2,3=1"; Governor support by name.
func (c Choice) String() string {
	switch c.Type {
	case Governor:
		if c.Index >= 0 && c.Index < len(GovernorChoices) {
			return GovernorChoices[c.Index]
		}
		return strconv.Itoa(c.Index)
	case Approval, RankedChoice:
		s := make([]string, len(c.Indexes))
		for i, x := range c.Indexes {
			s[i] = strconv.Itoa(x)
		}
		return strings.Join(s, ",")
	case Weighted, Quadratic:
		keys := c.weightKeys()
		s := make([]string, len(keys))
		for i, k := range keys {
			s[i] = strconv.Itoa(k) + "=" + strconv.FormatFloat(c.Weights[k], 'g', -1, 64)
		}
		return strings.Join(s, ",")
	}
	return strconv.Itoa(c.Index)
}

// weightKeys are the weighted options' indexes in order, so String and
// Label are stable.
func (c Choice) weightKeys() []int {
	keys := make([]int, 0, len(c.Weights))
	for k := range c.Weights {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

// Label names the chosen options by their text (for display; the text
// comes from the proposal and must be sanitised before a terminal).
func (c Choice) Label(p Proposal) string {
	name := func(i int) string {
		if i >= 1 && i <= len(p.Choices) {
			return p.Choices[i-1]
		}
		return "?"
	}
	switch c.Type {
	case Governor:
		return c.String()
	case SingleChoice, Basic:
		return name(c.Index)
	case Approval, RankedChoice:
		s := make([]string, len(c.Indexes))
		for i, x := range c.Indexes {
			s[i] = name(x)
		}
		return strings.Join(s, ", ")
	}
	keys := c.weightKeys()
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = fmt.Sprintf("%s=%g", name(k), c.Weights[k])
	}
	return strings.Join(s, ", ")
}

// SnapshotValue is c as a Snapshot Vote message's choice: a number, an
// array of numbers, or (weighted, quadratic) the JSON text of an object
// from choice index to weight, as snapshot.js sends it.
func (c Choice) SnapshotValue() any {
	switch c.Type {
	case Approval, RankedChoice:
		return append([]int(nil), c.Indexes...)
	case Weighted, Quadratic:
		m := make(map[string]float64, len(c.Weights))
		for k, w := range c.Weights {
			m[strconv.Itoa(k)] = w
		}
		b, _ := json.Marshal(m) // keys sorted: the same text for the same choice
		return string(b)
	}
	return c.Index
}

// ParseChoice reads a choice for p as the CLI takes it: a number (or a
// choice's exact text) for single-choice and basic; For/Against/Abstain
// (or 0/1/2) for a Governor; "1,3" for approval and ranked-choice;
// "1=2,3=1" for weighted and quadratic.
func ParseChoice(p Proposal, s string) (Choice, error) {
	c := Choice{Type: p.Type}
	s = strings.TrimSpace(s)
	num := func(x string) (int, error) {
		x = strings.TrimSpace(x)
		if i, err := strconv.Atoi(x); err == nil {
			return i, nil
		}
		for i, name := range p.Choices {
			if strings.EqualFold(name, x) {
				return i + 1, nil
			}
		}
		return 0, fmt.Errorf("%w: %q is neither a choice number nor a choice's text", ErrInvalidChoice, x)
	}
	var err error
	switch p.Type {
	case Governor:
		for i, name := range GovernorChoices {
			if strings.EqualFold(name, s) {
				c.Index = i
				return c, c.Validate(p)
			}
		}
		if c.Index, err = strconv.Atoi(s); err != nil {
			return c, fmt.Errorf("%w: %q: use For, Against or Abstain", ErrInvalidChoice, s)
		}
	case SingleChoice, Basic:
		if c.Index, err = num(s); err != nil {
			return c, err
		}
	case Approval, RankedChoice:
		for _, part := range strings.Split(s, ",") {
			i, err := num(part)
			if err != nil {
				return c, err
			}
			c.Indexes = append(c.Indexes, i)
		}
	case Weighted, Quadratic:
		c.Weights = map[int]float64{}
		for _, part := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(part, "=")
			if !ok {
				return c, fmt.Errorf("%w: %q: write CHOICE=WEIGHT, e.g. 1=2,3=1", ErrInvalidChoice, part)
			}
			i, err := num(k)
			if err != nil {
				return c, err
			}
			w, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return c, fmt.Errorf("%w: weight %q is not a number", ErrInvalidChoice, v)
			}
			c.Weights[i] += w
		}
	}
	return c, c.Validate(p)
}

// Action is what the delegate does with a proposal.
type Action string

const (
	// Cast: an auto-cast rule allows the vote without a person.
	Cast Action = "cast"
	// Draft: a choice was decided and waits for the user's approval.
	Draft Action = "draft"
	// Abstain: the policy has nothing to say with enough confidence;
	// sov does not vote and says why (the user may still vote).
	Abstain Action = "abstain"
	// Skip: not followed, not open, or already handled.
	Skip Action = "skip"
)

// Decision is what the delegate decided about one proposal and why.
type Decision struct {
	Proposal string  `json:"proposal"` // Proposal.Key
	Action   Action  `json:"action"`
	Choice   *Choice `json:"choice,omitempty"`
	// Confidence is the model's (0..1); 1 for a deterministic rule.
	Confidence float64 `json:"confidence"`
	// Clauses are the policy ids the decision rests on.
	Clauses   []string `json:"policy_clauses"`
	Rationale string   `json:"rationale"`
	// By is "rule" (deterministic) or "model".
	By string `json:"by"`
	// Why says why the action (not the choice) was taken: the triage or
	// auto-cast rule that applied.
	Why string `json:"why"`
	// NotBefore is the start of the review window: no vote is cast
	// earlier, so the user can override.
	NotBefore time.Time `json:"not_before,omitempty"`
	Decided   time.Time `json:"decided"`
	// Seen is the sha256 of exactly what the model was given (explain).
	Seen string `json:"seen,omitempty"`
}
