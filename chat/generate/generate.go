// Package generate is one generation from a prompt: the flow behind
// `sov run`, for the shell, agents and the server to share. It checks a
// Request (a system prompt, a prompt, sampling and at most one constraint on
// the output: a GBNF grammar, a JSON Schema or tools), runs it on a loaded
// model and returns what ran and what came out, for the caller to show and
// to record.
package generate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sovos/sov/model"
)

// Model is what Run needs of a loaded model; every model.LLM is one.
type Model interface {
	Chat(ctx context.Context, msgs []model.Message, s model.Sampling, fn model.TokenFunc) (string, model.Stats, error)
	JSON(ctx context.Context, msgs []model.Message, schema *model.Schema, s model.Sampling, fn model.TokenFunc) ([]byte, model.Stats, error)
	Call(ctx context.Context, msgs []model.Message, ts *model.Toolset, s model.Sampling, fn model.TokenFunc) (model.Reply, model.Stats, error)
}

var _ Model = model.LLM(nil)

// Request is one generation. It is plain data (the schema and tools as
// their JSON, not compiled), so it can be stored or hashed as it is.
type Request struct {
	System string `json:"system,omitempty"`
	Prompt string `json:"prompt"`
	// Sampling includes the seed and, for a GBNF constraint, Grammar.
	Sampling model.Sampling `json:"sampling"`
	// Schema makes the output JSON valid for this JSON Schema.
	Schema json.RawMessage `json:"schema,omitempty"`
	// Tools (a JSON array of {name, description, parameters}) make the
	// output one call of a tool or a final answer.
	Tools json.RawMessage `json:"tools,omitempty"`
	// ToolChoice narrows Tools: "" or "auto", "required", "none", or a
	// tool's name.
	ToolChoice string `json:"tool_choice,omitempty"`
}

// ErrConflict: a request with more than one constraint on the output, or a
// tool choice without tools.
var ErrConflict = errors.New("conflicting output constraints")

// InputError is a part of the request that cannot be used: Field is
// "grammar", "schema", "tools" or a sampling setting ("temperature",
// "top_p", "top_k", "min_p", "max_tokens").
type InputError struct {
	Field string
	Err   error
}

func (e *InputError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Prepared is a checked Request, its schema or tools compiled. Prepare
// before loading a model, so bad input fails fast.
type Prepared struct {
	req    Request
	schema *model.Schema
	tools  *model.Toolset
}

// Prepare checks req and compiles its schema or tools.
func Prepare(req Request) (*Prepared, error) {
	constraints := 0
	for _, set := range []bool{req.Sampling.Grammar != "", len(req.Schema) > 0, len(req.Tools) > 0} {
		if set {
			constraints++
		}
	}
	switch {
	case constraints > 1:
		return nil, fmt.Errorf("%w: a grammar, a schema and tools each become the grammar, give one", ErrConflict)
	case req.ToolChoice != "" && len(req.Tools) == 0:
		return nil, fmt.Errorf("%w: a tool choice needs tools", ErrConflict)
	}
	if err := CheckSampling(req.Sampling); err != nil {
		return nil, err
	}
	p := &Prepared{req: req}
	if err := model.CheckGrammar(req.Sampling.Grammar); err != nil {
		return nil, &InputError{"grammar", err}
	}
	var err error
	if len(req.Schema) > 0 {
		if p.schema, err = model.CompileSchema(req.Schema); err != nil {
			return nil, &InputError{"schema", err}
		}
	}
	if len(req.Tools) > 0 {
		if p.tools, err = model.ParseTools(req.Tools, req.ToolChoice); err != nil {
			return nil, &InputError{"tools", err}
		}
	}
	return p, nil
}

// CheckSampling refuses settings no sampler can use, with an InputError
// naming the setting.
func CheckSampling(s model.Sampling) error {
	bad := func(field, want string) error { return &InputError{field, errors.New(want)} }
	switch {
	case !(s.Temperature >= 0): // NaN too
		return bad("temperature", "must be 0 or more")
	case !(s.TopP >= 0 && s.TopP <= 1):
		return bad("top_p", "must be between 0 and 1")
	case !(s.MinP >= 0 && s.MinP <= 1):
		return bad("min_p", "must be between 0 and 1")
	case s.TopK < 0:
		return bad("top_k", "must not be negative")
	case s.MaxTokens < 0:
		return bad("max_tokens", "must not be negative")
	}
	return nil
}

// Request is the request as given to Prepare.
func (p *Prepared) Request() Request { return p.req }

// Messages are what the model is sent: the system prompt, if any, then the
// prompt as the user's message.
func (p *Prepared) Messages() []model.Message {
	var msgs []model.Message
	if p.req.System != "" {
		msgs = append(msgs, model.Message{Role: model.RoleSystem, Content: p.req.System})
	}
	return append(msgs, model.Message{Role: model.RoleUser, Content: p.req.Prompt})
}

// Result is what a generation produced, with the request as it ran: what a
// caller shows, and what a ledger records.
type Result struct {
	Request  Request
	Messages []model.Message
	// Text is the output as the model wrote it (with Tools, the JSON of the
	// call or answer); after an error, what it wrote until then.
	Text string
	// Reply is set with Tools: the validated call, or the answer (zero
	// after an error).
	Reply *model.Reply
	Stats model.Stats
}

// Run generates on m, passing the text to fn (nil: none) as it comes. On an
// error, cancellation included, the Result still has the Stats and the text
// so far.
func (p *Prepared) Run(ctx context.Context, m Model, fn model.TokenFunc) (Result, error) {
	res := Result{Request: p.req, Messages: p.Messages()}
	var text strings.Builder
	stream := func(s string) error {
		text.WriteString(s)
		if fn == nil {
			return nil
		}
		return fn(s)
	}
	var err error
	switch {
	case p.tools != nil:
		var r model.Reply
		r, res.Stats, err = m.Call(ctx, res.Messages, p.tools, p.req.Sampling, stream)
		res.Reply = &r
	case p.schema != nil:
		_, res.Stats, err = m.JSON(ctx, res.Messages, p.schema, p.req.Sampling, stream)
	default:
		var out string
		out, res.Stats, err = m.Chat(ctx, res.Messages, p.req.Sampling, stream)
		if err == nil {
			text.Reset()
			text.WriteString(out)
		}
	}
	res.Text = text.String()
	return res, err
}
