package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/model"
)

// LedgerNote is ledger.note: a note in the user's ledger under the agent's
// name. Like every ledger entry it holds hashes and small facts, never
// content: the note's sha256 and its topic, so a note cannot carry vault
// text into the (unencrypted) ledger.
type LedgerNote struct{}

const (
	maxNote  = 1000
	maxTopic = 32
)

func (LedgerNote) Spec() model.Tool {
	return spec("ledger.note", fmt.Sprintf(`{"type":"object","properties":{
"text":{"type":"string","minLength":1,"maxLength":%d},
"topic":{"type":"string","maxLength":%d}},
"required":["text"],"additionalProperties":false}`, maxNote, maxTopic))
}

func (LedgerNote) Level() Level { return Write }

// validTopic: a short label of lower-case letters, digits and '-', so the
// one clear-text field stays a label.
func validTopic(s string) bool {
	if len(s) > maxTopic {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func (LedgerNote) Run(ctx context.Context, env *Env, args json.RawMessage) (Result, error) {
	var a struct {
		Text  string `json:"text"`
		Topic string `json:"topic"`
	}
	if err := decodeArgs(args, &a); err != nil {
		return Result{}, err
	}
	a.Topic = strings.ToLower(strings.TrimSpace(a.Topic))
	switch {
	case strings.TrimSpace(a.Text) == "":
		return Result{}, fmt.Errorf("%w: text is empty", ErrBadArguments)
	case len([]rune(a.Text)) > maxNote:
		return Result{}, fmt.Errorf("%w: text longer than %d characters", ErrBadArguments, maxNote)
	case !validTopic(a.Topic):
		return Result{}, fmt.Errorf("%w: topic must be up to %d lower-case letters, digits or '-', e.g. \"summary\"", ErrBadArguments, maxTopic)
	}
	if env == nil || env.Ledger == nil || env.Agent == "" {
		return Result{}, fmt.Errorf("ledger.note: the run has no ledger: %w", ErrUnavailable)
	}
	fields := map[string]any{"source": "agent", "action": "note", "agent": env.Agent, "chars": len([]rune(a.Text))}
	if a.Topic != "" {
		fields["topic"] = a.Topic
	}
	e, err := env.Ledger.Append(ctx, ledger.Record{
		Kind:      ledger.KindNote,
		Principal: "agent:" + env.Agent,
		Subjects:  map[string]string{"note": ledger.SHA256([]byte(a.Text))},
		Fields:    fields,
	}, env.Signer)
	if err != nil {
		return Result{}, fmt.Errorf("ledger.note: %w", err)
	}
	return Result{Text: fmt.Sprintf("noted as ledger entry %d (%s)", e.Seq, e.Hash[:12]), Source: "ledger"}, nil
}
