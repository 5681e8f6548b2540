package roles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sovos/sov/agents"
	"github.com/sovos/sov/agents/tools"
	"github.com/sovos/sov/model"
)

// A planning role (product manager, architect) is an agent on sov's run
// loop: its own prompt, one tool, transcript and ledger entries as any
// agent's. The tool's arguments are the role's artifact, so the engine's
// grammar for the tool's JSON Schema forces a valid document from any
// model; the role's first step is forced to call it, and once it has
// handed a document over the next step may only answer.

// answerTokens caps the closing answer after the artifact is handed over.
const answerTokens = 32

// role is one planning role's run.
type role struct {
	name   string // "pm", "architect": the agent is "build-" + name
	prompt string
	tool   string // the hand-over tool's name
	desc   string
	schema string
	input  string
	// accept checks the arguments in Go; an error goes back to the model.
	accept func(json.RawMessage) error
}

// Usage is what one role spent.
type Usage struct {
	Role   string        `json:"role"`
	Tokens int           `json:"tokens"`
	Calls  int           `json:"model_calls"`
	Wall   time.Duration `json:"wall"`
}

// handover is the role's one tool.
type handover struct {
	r   *role
	got json.RawMessage
}

func (h *handover) Spec() model.Tool {
	return model.Tool{Name: h.r.tool, Description: h.r.desc, Parameters: json.RawMessage(h.r.schema)}
}

func (h *handover) Level() tools.Level { return tools.Read } // it changes nothing: the pipeline writes the files

func (h *handover) Run(_ context.Context, _ *tools.Env, args json.RawMessage) (tools.Result, error) {
	if err := h.r.accept(args); err != nil {
		return tools.Result{}, fmt.Errorf("%w: %v", tools.ErrBadArguments, err)
	}
	h.got = append(json.RawMessage(nil), args...)
	return tools.Result{Text: "received; answer with one short sentence", Source: "sov"}, nil
}

// forced is the role's model: the hand-over tool until it has a document,
// then a short answer only.
type forced struct {
	inner       agents.Caller
	call, reply *model.Toolset
	h           *handover
}

func (f *forced) Call(ctx context.Context, msgs []model.Message, _ *model.Toolset, s model.Sampling, fn model.TokenFunc) (model.Reply, model.Stats, error) {
	if f.h.got != nil {
		s.MaxTokens = min(max(s.MaxTokens, 1), answerTokens)
		return f.inner.Call(ctx, msgs, f.reply, s, fn)
	}
	return f.inner.Call(ctx, msgs, f.call, s, fn)
}

// ErrRoleFailed: a role ended without handing over its document.
var ErrRoleFailed = errors.New("the role did not produce its document")

// RoleError says which role failed and how its run ended.
type RoleError struct {
	Role   string
	Status agents.Status
	Err    error
}

func (e *RoleError) Error() string {
	return fmt.Sprintf("%s: %v (run %s: %v)", e.Role, ErrRoleFailed, e.Status, e.Err)
}
func (e *RoleError) Unwrap() []error { return []error{ErrRoleFailed, e.Err} }

// run runs the role on the agents' loop and returns its document.
func (b *builder) runRole(ctx context.Context, r *role) (json.RawMessage, Usage, error) {
	u := Usage{Role: r.name}
	h := &handover{r: r}
	call, err := model.CompileTools([]model.Tool{h.Spec()}, r.tool)
	if err != nil {
		return nil, u, fmt.Errorf("%s: %w", r.name, err)
	}
	reply, err := model.CompileTools(nil, model.ToolNone)
	if err != nil {
		return nil, u, err
	}
	m, release, err := b.cfg.Model(r.name)
	if err != nil {
		return nil, u, err
	}
	defer release()
	ag := &agents.Agent{
		Name:   "build-" + r.name,
		Prompt: r.prompt,
		Tools:  []agents.ToolRule{{Name: r.tool, Allow: []string{"*"}}},
		Budget: agents.Budget{Steps: 4, Tokens: 4*b.cfg.MaxTokens + 16_000, Wall: b.cfg.RoleWall, StepTokens: b.cfg.MaxTokens},
	}
	out := agents.Run(ctx, agents.RunConfig{
		Agent: ag, Model: &forced{inner: m, call: call, reply: reply, h: h}, ModelPath: b.cfg.ModelPath,
		Tools: []tools.Tool{h}, Env: &tools.Env{Workspace: b.cfg.Dir, Ledger: b.cfg.Ledger, Signer: b.cfg.Signer},
		Events: b.agentEvents(r.name, h), Input: r.input, Transcript: b.cfg.Transcripts,
	})
	u.Tokens, u.Calls, u.Wall = out.Tokens, out.Steps, out.Wall
	if h.got == nil {
		if out.Status == agents.StatusInterrupted {
			return nil, u, context.Canceled
		}
		return nil, u, &RoleError{Role: r.name, Status: out.Status, Err: out.Err}
	}
	// The document is handed over: how the closing answer went does not
	// matter, but an interrupted build stops here.
	if err := ctx.Err(); err != nil {
		return nil, u, err
	}
	return h.got, u, nil
}

func (b *builder) agentEvents(role string, h *handover) agents.Sink {
	if b.cfg.Events == nil {
		return nil
	}
	return func(e agents.Event) {
		switch {
		case e.Type == agents.EventModelCall:
			// The short answer after the hand-over is capped on purpose:
			// only the document's reaching the cap is news.
			b.emit(Event{Type: "model_call", Role: role, Tokens: e.PromptTokens + e.GenTokens, Closed: e.Closed && h.got == nil})
		case e.Type == agents.EventToolResult && e.Source != "sov":
			// The document was refused (by its check): the model is told and tries again.
			b.emit(Event{Type: "model_call", Role: role, Message: e.Text})
		}
	}
}
