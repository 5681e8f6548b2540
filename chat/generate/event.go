package generate

import "github.com/sovos/sov/model"

// The events of a streamed generation, one JSON object a line (`sov run
// --json`): a stable wire format that a server can emit as well. Each has
// a "type": "token" as the text streams, then "done" or "error".

// TokenEvent is a piece of the output as it streams.
type TokenEvent struct {
	Type string `json:"type"` // "token"
	Text string `json:"text"`
}

// DoneEvent ends a generation: its counts and speeds, why it stopped, and
// with tools the validated call or answer.
type DoneEvent struct {
	Type          string  `json:"type"` // "done"
	PromptTokens  int     `json:"prompt_tokens"`
	GenTokens     int     `json:"generated_tokens"`
	PromptTPS     float64 `json:"prompt_tokens_per_second"`
	GenTPS        float64 `json:"generated_tokens_per_second"`
	StopReason    string  `json:"stop_reason"`
	CachedTokens  int     `json:"cached_tokens"`
	Restored      int     `json:"restored_tokens,omitempty"`
	ContextTokens int     `json:"context_tokens"`
	// Drafted and DraftAccepted count prompt-lookup draft tokens checked
	// and kept (omitted when the engine did not draft).
	Drafted       int             `json:"drafted_tokens,omitempty"`
	DraftAccepted int             `json:"draft_accepted_tokens,omitempty"`
	ToolCall      *model.ToolCall `json:"tool_call,omitempty"`
	Answer        *string         `json:"answer,omitempty"`
	Ledger        *uint64         `json:"ledger_entry,omitempty"` // the entry that records the call
}

// ErrorEvent ends a generation that failed.
type ErrorEvent struct {
	Type    string `json:"type"` // "error"
	Message string `json:"message"`
}

// Token is the event for a piece of text.
func Token(text string) TokenEvent { return TokenEvent{"token", text} }

// Done is the event for what res produced; ledgerEntry (nil: none) is the
// ledger entry that records it.
func Done(res Result, ledgerEntry *uint64) DoneEvent {
	st := res.Stats
	ev := DoneEvent{Type: "done", PromptTokens: st.PromptTokens, GenTokens: st.GeneratedTokens, PromptTPS: round2(st.PromptTPS()), GenTPS: round2(st.GenTPS()),
		StopReason: st.StopReason, CachedTokens: st.CachedTokens, Restored: st.RestoredTokens, ContextTokens: st.ContextUsed, Ledger: ledgerEntry,
		Drafted: st.Drafted, DraftAccepted: st.DraftAccepted}
	if r := res.Reply; r != nil && r.ToolCall != nil {
		ev.ToolCall = r.ToolCall
	} else if r != nil {
		ev.Answer = &r.Answer
	}
	return ev
}

// Error is the event for a failed generation.
func Error(err error) ErrorEvent { return ErrorEvent{"error", err.Error()} }

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
