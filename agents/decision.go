// Package agents is sov's agent runtime: the user's agent files, the
// permission engine, and the run loop on the engine's grammar-forced
// tool calls. Agents act only through what the user's session gives a run
// (agents/tools.Env): a wallet grant, an open vault, a workspace folder.
//
// Permissions (perm.go) are per tool: allow, ask and deny lists of argument
// patterns such as `payTo=0xabc*, max=1 USDC` (conditions on the call's
// JSON arguments, all of which must hold: = with * globs, text compared
// ignoring case; <, <=, >, >= and max= comparing amounts exactly, with an
// optional unit; != negating), evaluated deny, taint, ask, allow, then the
// level's default. See ToolRule for examples and perm.go for the grammar.
package agents

import (
	"time"

	"github.com/sovos/sov/agents/tools"
	"github.com/sovos/sov/model"
)

// Verdict is a permission decision's outcome.
type Verdict string

const (
	Allow Verdict = "allow"
	Ask   Verdict = "ask" // a person must approve; headless, refused
	Deny  Verdict = "deny"
)

// Decision is the permission engine's verdict on one tool call, with the
// rule that decided it and the reason, which goes back to the model.
type Decision struct {
	Verdict Verdict `json:"verdict"`
	Rule    string  `json:"rule,omitempty"` // e.g. `deny wallet.pay(payTo=0xabc…)`, "default", "taint"
	Reason  string  `json:"reason,omitempty"`
}

// Policy decides tool calls. *Permissions (an agent file's rules) is one.
type Policy interface {
	// Decide judges call of a tool at level; tainted says outside content
	// is already in the run's context.
	Decide(call model.ToolCall, level tools.Level, tainted bool) Decision
}

// Budget bounds one run. Zero fields take the defaults (DefaultBudget).
// Spending is bounded by the wallet grant's limits, never by the prompt.
type Budget struct {
	Steps  int           `toml:"steps" json:"steps,omitempty"`   // model calls
	Tokens int           `toml:"tokens" json:"tokens,omitempty"` // prompt + generated, over the run
	Wall   time.Duration `toml:"wall" json:"wall,omitempty"`     // wall-clock time
	// StepTokens caps what one model call may generate (0: the run's
	// sampling, else DefaultMaxTokens); a forced call that reaches it is
	// closed validly by the engine.
	StepTokens int `toml:"step_tokens" json:"step_tokens,omitempty"`
}

// DefaultBudget is a run's budget where the agent file sets none.
var DefaultBudget = Budget{Steps: 20, Tokens: 50_000, Wall: 10 * time.Minute}
