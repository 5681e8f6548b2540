package tools

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
)

// DAORun is dao.run: one pass of the user's DAO delegate (sync, decide,
// cast what the user's policy auto-casts inside its review window, queue
// the rest). It takes no arguments: which votes are cast, and how, is the
// policy's (the user's file), never the model's; so an agent on a
// schedule is the delegate's clock. It is Money (it can cast votes) and
// its result carries proposal titles, outside text, so it taints the run.
type DAORun struct{}

func (DAORun) Spec() model.Tool {
	return spec("dao.run", `{"type":"object","properties":{},"additionalProperties":false}`)
}

func (DAORun) Level() Level { return Money }

func (DAORun) Run(ctx context.Context, env *Env, args json.RawMessage) (Result, error) {
	if err := decodeArgs(args, &struct{}{}); err != nil {
		return Result{}, err
	}
	if env == nil || env.DAO == nil {
		return Result{}, fmt.Errorf("dao.run: the run has no DAO delegate: %w", ErrUnavailable)
	}
	d, err := env.DAO(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("dao.run: %w", err)
	}
	defer d.Close()
	rep, err := d.Run(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("dao.run: %w", err)
	}
	type item struct {
		Proposal string `json:"proposal"`
		Title    string `json:"title"`
		Action   string `json:"action"`
		Choice   string `json:"choice,omitempty"`
	}
	out := struct {
		Synced  int               `json:"synced"`
		Cast    []item            `json:"cast"`
		Waiting []item            `json:"waiting"`
		Queued  []item            `json:"queued"`
		Failed  map[string]string `json:"failed,omitempty"`
	}{Synced: rep.Synced, Failed: rep.Failed}
	for i, v := range rep.Cast {
		out.Cast = append(out.Cast, item{Proposal: rep.CastFor[i], Action: "cast", Choice: v.Choice.String()})
	}
	for _, l := range []struct {
		from []dao.Queued
		to   *[]item
	}{{rep.Waiting, &out.Waiting}, {rep.Queued, &out.Queued}} {
		for _, q := range l.from {
			it := item{Proposal: q.Proposal.Key(), Title: termtext.Clean(q.Proposal.Title), Action: string(q.Decision.Action)}
			if q.Decision.Choice != nil {
				it.Choice = termtext.Clean(q.Decision.Choice.Label(q.Proposal))
			}
			*l.to = append(*l.to, it)
		}
	}
	return Result{Text: jsonText(out), Source: "dao", Tainted: true}, nil
}

// Plan: what the pass may do is fixed by the user's policy; the person
// approving sees that, not anything the model said.
func (DAORun) Plan(ctx context.Context, env *Env, args json.RawMessage) (string, error) {
	return "run one pass of your DAO delegate: cast only what your policy's auto_cast rules allow inside their review window, queue the rest for you", nil
}
