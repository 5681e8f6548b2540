package model

import (
	"context"
	"errors"
	"fmt"

	"github.com/sovos/sov/model/grammar"
)

// Schema is a compiled JSON Schema: its GBNF grammar and its validator.
type Schema struct{ s *grammar.Schema }

// CompileSchema checks a JSON Schema and turns it into a grammar.
func CompileSchema(schema []byte) (*Schema, error) {
	s, err := grammar.Compile(schema)
	if err != nil {
		return nil, err
	}
	return &Schema{s: s}, nil
}

// GBNF is the schema's grammar.
func (s *Schema) GBNF() string { return s.s.GBNF() }

// JSON generates a reply constrained to the schema and validates it before
// returning it. Any model, however small, yields well-formed output; a reply
// cut short (max tokens, full context, cancel) is an error, never half JSON.
func (e *Engine) JSON(ctx context.Context, msgs []Message, schema *Schema, s Sampling, fn TokenFunc) ([]byte, Stats, error) {
	return e.def.JSON(ctx, msgs, schema, s, fn)
}

// JSON is Engine.JSON in this session.
func (sess *Session) JSON(ctx context.Context, msgs []Message, schema *Schema, s Sampling, fn TokenFunc) ([]byte, Stats, error) {
	s.Grammar = schema.GBNF()
	out, st, err := sess.Chat(ctx, msgs, s, fn)
	if err != nil {
		return nil, st, err
	}
	if st.StopReason != StopEOG {
		return nil, st, &IncompleteError{What: "the JSON", StopReason: st.StopReason}
	}
	if err := schema.s.Validate([]byte(out)); err != nil {
		return nil, st, fmt.Errorf("model output does not match the schema: %w", err)
	}
	return []byte(out), st, nil
}

// IncompleteError: structured output (JSON, a tool call) was cut short by
// the token limit, the full context or cancellation, so nothing is
// returned. It matches ErrIncomplete.
type IncompleteError struct {
	What       string // "the JSON", "the tool call"
	StopReason string // StopMaxTokens, StopContext, …
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("structured output incomplete: generation stopped (%s) before %s was complete", e.StopReason, e.What)
}

// Is makes errors.Is(err, ErrIncomplete) hold.
func (e *IncompleteError) Is(target error) bool { return target == ErrIncomplete }

// ErrIncomplete is matched by every *IncompleteError.
var ErrIncomplete = errors.New("structured output incomplete")
