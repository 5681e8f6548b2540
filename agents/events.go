package agents

import (
	"encoding/json"
	"time"
)

// EventType names a run event. With `--json` each event is one line of
// NDJSON; the shell folds them into the conversation.
type EventType string

// A run publishes run_start first, then per step a model_call and, for a
// tool call, tool_call, permission, tool_result (and payment for money
// tools), then final (done) or error (anything else), and usage last.
const (
	EventRunStart   EventType = "run_start"
	EventModelCall  EventType = "model_call"
	EventToolCall   EventType = "tool_call"
	EventPermission EventType = "permission"
	EventToolResult EventType = "tool_result"
	EventPayment    EventType = "payment"
	EventFinal      EventType = "final"
	EventUsage      EventType = "usage"
	EventError      EventType = "error"
)

// Event is one thing that happened in a run. Type says which fields are
// set; the others are omitted from the JSON.
type Event struct {
	Type EventType `json:"type"`
	Time time.Time `json:"time"`
	Run  string    `json:"run"`            // the run's ID
	Step int       `json:"step,omitempty"` // the model call it belongs to, from 1

	// run_start
	Agent  string      `json:"agent,omitempty"`
	Model  string      `json:"model,omitempty"`
	Tools  []string    `json:"tools,omitempty"`
	Budget *Budget     `json:"budget,omitempty"`
	Input  *InputEvent `json:"input,omitempty"`

	// model_call: the tokens of this call and what the model chose
	// ("tool" or "answer").
	PromptTokens int    `json:"prompt_tokens,omitempty"`
	CachedTokens int    `json:"cached_tokens,omitempty"`
	GenTokens    int    `json:"generated_tokens,omitempty"`
	Reply        string `json:"reply,omitempty"`
	// Closed: the reply reached the step's token cap and the engine closed
	// it with the grammar's shortest ending (valid, but likely cut short).
	Closed bool `json:"closed,omitempty"`

	// tool_call, permission, tool_result, payment
	Tool      string          `json:"tool,omitempty"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	// Repeats counts identical calls (same tool and arguments) so far in
	// the run; Warning is set from the loop guard's warning threshold on.
	Repeats int    `json:"repeats,omitempty"`
	Warning string `json:"warning,omitempty"`

	// permission: the verdict, the rule that decided it, why, and who
	// decided ("policy", "pre-approved", "user", "headless").
	Verdict Verdict `json:"verdict,omitempty"`
	Rule    string  `json:"rule,omitempty"`
	Reason  string  `json:"reason,omitempty"`
	By      string  `json:"by,omitempty"`

	// tool_result (and payment: the wallet's account of it)
	Source  string `json:"source,omitempty"`
	Tainted bool   `json:"tainted,omitempty"`
	Text    string `json:"text,omitempty"`
	SHA256  string `json:"sha256,omitempty"`

	// final
	Answer string `json:"answer,omitempty"`

	// error and usage: how the run ended; Halt names the budget or the
	// loop guard that halted it.
	Status  Status `json:"status,omitempty"`
	Halt    Halt   `json:"halt,omitempty"`
	Message string `json:"message,omitempty"`

	// usage: the whole run's figures.
	Steps     int   `json:"steps,omitempty"`
	Tokens    int   `json:"tokens,omitempty"`
	ToolCalls int   `json:"tool_calls,omitempty"`
	WallMS    int64 `json:"wall_ms,omitempty"`

	// Ledger is the sequence number of the ledger entry that records what
	// the event reports (model_call, permission, tool_result).
	Ledger *uint64 `json:"ledger_entry,omitempty"`
}

// InputEvent is what started a run: the person's prompt or, for a
// scheduled run, the cron event.
type InputEvent struct {
	Type        string    `json:"type"` // "prompt" or "cron"
	ScheduledAt time.Time `json:"scheduled_at,omitzero"`
	FiredAt     time.Time `json:"fired_at,omitzero"`
	// Missed counts the due times that collapsed into this run (a machine
	// that slept past three due times runs once, with Missed 3).
	Missed int `json:"missed,omitempty"`
}

// Sink receives a run's events in order, from the run's goroutine. It must
// not block for long: the run waits for it.
type Sink func(Event)
