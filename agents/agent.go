package agents

import "time"

// Agent is one agent as its file ($SOV_HOME/agents/NAME.toml, with an
// optional NAME.md holding its prompt) describes it.
type Agent struct {
	Name string `toml:"-"` // the file's name without .toml
	Path string `toml:"-"` // the file

	// Model is a model name or GGUF path ("" = sov's default model).
	Model string `toml:"model"`
	// Prompt is the agent's system prompt; NAME.md beside the file, when
	// present, is the prompt instead.
	Prompt string `toml:"prompt"`
	// Tools are the tools the agent may use, each with its permission
	// rules. A tool not listed is not offered to the model at all.
	Tools  []ToolRule `toml:"tools"`
	Budget Budget     `toml:"budget"`
	// FirstCall, when set, is the tool the first step must call (the
	// grammar allows nothing else then); later steps are free. For agents
	// whose job starts with one tool (fetch, ask, search), so that a small
	// model cannot skip it.
	FirstCall string `toml:"first_call"`
	// Output, when set, is a JSON Schema file (beside the agent file) that
	// the final answer must satisfy (grammar-forced).
	Output string `toml:"output"`

	// Schedule is a cron expression (5 fields, robfig/cron syntax); ""
	// runs only when started.
	Schedule string `toml:"schedule"`
	// CatchUp is what runs missed while the machine slept become: "once"
	// (default: one catch-up run) or "skip".
	CatchUp string `toml:"catch_up"`
	// MisfireGrace is how late a due run may start and still count as on
	// time (default 1 minute).
	MisfireGrace time.Duration `toml:"misfire_grace"`
	// Disabled agents are never run by the scheduler.
	Disabled bool `toml:"disabled"`
	// Taint makes the taint rule stricter for this agent (see Taint).
	Taint Taint `toml:"taint"`

	// Spend is what the run's wallet grant allows: the user's own limits
	// for this agent, written in the user's file, never by a model. No
	// Spend: the run gets no grant and the wallet tools are unavailable.
	// The wallet's own policy applies on top.
	Spend *Spend `toml:"spend"`

	// MCP are outside MCP servers whose tools the agent may use, each
	// approved by the user by hash (see agents/mcptools).
	MCP []MCPServer `toml:"mcp"`
}

// Spend is an agent's spending grant: amounts per asset ("USDC" = "1").
type Spend struct {
	PerTx        map[string]string `toml:"per_tx"`
	PerRun       map[string]string `toml:"per_run"` // the grant's daily limit; a grant lasts one run
	ApproveAbove map[string]string `toml:"approve_above"`
	Networks     []string          `toml:"networks"` // names or CAIP-2 ids; none: all configured
	Payees       []string          `toml:"payees"`   // none: any the wallet's policy allows
}

// MCPServer is one outside MCP server an agent uses: a command started
// over stdio, or a streamable HTTP URL. Its tools are offered to the
// model as "mcp.NAME.TOOL", at the outside level (their results taint the
// run), and only those the agent's tools list names.
type MCPServer struct {
	Name    string            `toml:"name"`
	Command string            `toml:"command"`
	Args    []string          `toml:"args"`
	Env     map[string]string `toml:"env"`
	URL     string            `toml:"url"`
}

// ToolRule is one tool an agent may use and its permission rules. Each
// rule is an argument pattern: conditions on the call's JSON arguments,
// joined by commas, all of which must hold; "" or "*" matches any call.
//
//	collection=work                 an argument equals a value (text ignores case)
//	path=notes/*                    * in a value is any run of characters
//	query="a, b"                    a quoted value is literal (JSON string syntax)
//	payTo=0xabc*, max=1 USDC        max=N [UNIT] is amount<=N and, with a unit,
//	                                the amount's unit (or the asset argument) is UNIT
//	amount>100, payTo!=0xabc*       <, <=, >, >= compare numbers exactly; != negates
//	options=*                       the argument is present
//
// Rules are evaluated deny, then ask, then allow; the first match wins; a
// call no rule matches takes the default of the tool's level (read: allow;
// outside, write and money: ask), or ask when the tool has allow rules.
// Taint (outside content in the run) raises write and money calls to ask
// for the rest of the run, whatever allow says; only deny is stronger. The
// full grammar is in perm.go.
type ToolRule struct {
	Name string `toml:"name"`
	// Set fixes arguments (set = { collection = "notes" }): the model is
	// not offered them, and every call carries these values (see pin.go).
	Set   map[string]any `toml:"set"`
	Allow []string       `toml:"allow"`
	Ask   []string       `toml:"ask"`
	Deny  []string       `toml:"deny"`
}
