// Package tools holds the tools sov's agents call. Each tool is a .go file
// here, and its description, the text the model reads, is
// assets/tools/NAME.md, so descriptions are reviewed and diffed as text.
// A tool gets its capabilities from the run (Env) and never from its
// arguments: an agent reaches only what the user's session handed it.
package tools

import (
	"context"
	"encoding/json"

	"github.com/sovos/sov/model"
)

// Level is what a tool can do. The permission engine's defaults and the
// taint rule are stated in levels.
type Level int

const (
	// Read reads the user's own data (the vault, the ledger, the agent's
	// workspace).
	Read Level = iota
	// Outside reads content from outside (feeds, brands, the web, MCP
	// servers): its results taint the run.
	Outside
	// Write changes something (a workspace file, a ledger note).
	Write
	// Money moves money or casts a vote.
	Money
)

func (l Level) String() string {
	return [...]string{"read", "outside", "write", "money"}[l]
}

// Tool is one tool an agent may call.
type Tool interface {
	// Spec is the tool as the model sees it: its name ("vault.search"),
	// its description from assets/tools and the JSON Schema of its
	// arguments, from which the run's grammar is compiled.
	Spec() model.Tool
	Level() Level
	// Run executes one call. args are valid for Spec's schema by
	// construction (the grammar forced them). What Run returns is data:
	// the run loop fences it and labels it with its Source before the
	// model sees it, and never follows instructions in it.
	Run(ctx context.Context, env *Env, args json.RawMessage) (Result, error)
}

// Result is what a call returns to the model.
type Result struct {
	Text   string `json:"text"`
	Source string `json:"source"` // e.g. "vault:work", "feeds", "workspace"
	// Tainted marks content from outside: once any is in a run's context,
	// money and writes need a person for the rest of the run.
	Tainted bool `json:"tainted,omitempty"`
}
