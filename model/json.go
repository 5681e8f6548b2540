package model

import (
	"context"
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
	s.Grammar = schema.GBNF()
	out, st, err := e.Chat(ctx, msgs, s, fn)
	if err != nil {
		return nil, st, err
	}
	if st.StopReason != StopEOG {
		return nil, st, fmt.Errorf("structured output stopped early (%s) before the JSON was complete: raise --max-tokens or --ctx", st.StopReason)
	}
	if err := schema.s.Validate([]byte(out)); err != nil {
		return nil, st, fmt.Errorf("model output does not match the schema: %w", err)
	}
	return []byte(out), st, nil
}
