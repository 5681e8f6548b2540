package generate

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sovos/sov/model"
)

// TestEvents pins the wire format of `sov run --json`: field names, rates
// rounded to hundredths, and with tools either the call or the answer.
func TestEvents(t *testing.T) {
	entry := uint64(7)
	st := model.Stats{PromptTokens: 3, GeneratedTokens: 10, PromptDuration: 3 * time.Second, GenDuration: 3 * time.Second,
		StopReason: model.StopEOG, CachedTokens: 2, RestoredTokens: 1, ContextUsed: 15}
	call := &model.Reply{ToolCall: &model.ToolCall{Name: "f", Arguments: json.RawMessage(`{"x":1}`)}}
	tests := []struct {
		name string
		ev   any
		want string
	}{
		{"token", Token("Once"), `{"type":"token","text":"Once"}`},
		{"error", Error(errors.New("boom")), `{"type":"error","message":"boom"}`},
		{"done", Done(Result{Stats: st}, nil), `{"type":"done","prompt_tokens":3,"generated_tokens":10,"prompt_tokens_per_second":1,` +
			`"generated_tokens_per_second":3.33,"stop_reason":"eog","cached_tokens":2,"restored_tokens":1,"context_tokens":15}`},
		{"tool call", Done(Result{Reply: call}, &entry), `{"type":"done","prompt_tokens":0,"generated_tokens":0,"prompt_tokens_per_second":0,` +
			`"generated_tokens_per_second":0,"stop_reason":"","cached_tokens":0,"context_tokens":0,"tool_call":{"name":"f","arguments":{"x":1}},"ledger_entry":7}`},
		{"answer", Done(Result{Reply: &model.Reply{Answer: "hi"}}, nil), `{"type":"done","prompt_tokens":0,"generated_tokens":0,"prompt_tokens_per_second":0,` +
			`"generated_tokens_per_second":0,"stop_reason":"","cached_tokens":0,"context_tokens":0,"answer":"hi"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.ev)
		if err != nil || string(b) != tt.want {
			t.Errorf("%s: %v\n got %s\nwant %s", tt.name, err, b, tt.want)
		}
	}
}
