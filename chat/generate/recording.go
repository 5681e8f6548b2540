package generate

import (
	"context"
	"encoding/json"

	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/model"
)

// Recording is a model.LLM that records every Chat, JSON and Call in the
// ledger (digests only; nothing kept), for callers whose prompts carry
// private data: vault answers, news digests, agents. Embeddings and
// tokenizing are not model calls in the ledger's sense and pass through.
type Recording struct {
	model.LLM
	Ledger    *ledger.Ledger
	Signer    *ledger.Signer // nil: entries wait for the next checkpoint
	Principal string
	// OnError hears about a call that could not be recorded; the answer
	// is returned all the same.
	OnError func(error)
}

var _ model.LLM = (*Recording)(nil)

func (r *Recording) record(ctx context.Context, msgs []model.Message, constraint any, s model.Sampling, out string, st model.Stats) {
	in, err := json.Marshal(struct {
		Messages   []model.Message `json:"messages"`
		Constraint any             `json:"constraint,omitempty"`
		Sampling   model.Sampling  `json:"sampling"`
	}{msgs, constraint, s})
	if err == nil {
		_, err = RecordCall(context.WithoutCancel(ctx), r.Ledger, r.Signer, r.Principal, r.LLM.Info().Path, in, s, out, st, nil, false)
	}
	if err != nil && r.OnError != nil {
		r.OnError(err)
	}
}

// Chat implements model.LLM.
func (r *Recording) Chat(ctx context.Context, msgs []model.Message, s model.Sampling, fn model.TokenFunc) (string, model.Stats, error) {
	out, st, err := r.LLM.Chat(ctx, msgs, s, fn)
	r.record(ctx, msgs, nil, s, out, st)
	return out, st, err
}

// JSON implements model.LLM.
func (r *Recording) JSON(ctx context.Context, msgs []model.Message, schema *model.Schema, s model.Sampling, fn model.TokenFunc) ([]byte, model.Stats, error) {
	out, st, err := r.LLM.JSON(ctx, msgs, schema, s, fn)
	r.record(ctx, msgs, "schema", s, string(out), st)
	return out, st, err
}

// Call implements model.LLM.
func (r *Recording) Call(ctx context.Context, msgs []model.Message, ts *model.Toolset, s model.Sampling, fn model.TokenFunc) (model.Reply, model.Stats, error) {
	rep, st, err := r.LLM.Call(ctx, msgs, ts, s, fn)
	out, _ := json.Marshal(rep)
	r.record(ctx, msgs, "tools", s, string(out), st)
	return rep, st, err
}
