package model

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/sovos/sov/model/grammar"
)

// Tool is a function the model may call: a name, what it does, and the JSON
// Schema of its arguments (an object; empty means no arguments).
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// ToolCall is a call the model chose: a tool of the set and arguments that
// are valid for that tool's schema.
type ToolCall struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// Reply is what Call returns: a tool call, or (ToolCall nil) a final
// answer.
type Reply struct {
	ToolCall *ToolCall
	Answer   string
}

// Tool choices for CompileTools besides the name of one tool, which forces
// a call of that tool.
const (
	ToolAuto     = ""         // a call of any tool, or a final answer
	ToolRequired = "required" // a call of any tool
	ToolNone     = "none"     // a final answer only
)

// ErrUnknownTool is returned by CompileTools for a choice naming no tool.
var ErrUnknownTool = errors.New("no tool of that name")

// Toolset is a compiled set of tools and a choice: one grammar that lets the
// model write exactly one tool call with valid arguments, or a final
// answer, and a validator for each tool's arguments. Immutable; safe for
// concurrent use.
type Toolset struct {
	tools  []Tool
	choice string
	schema *grammar.Schema
	args   map[string]*grammar.Schema
	prompt string
}

var toolName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ParseTools reads a JSON array of tools as OpenAI and MCP describe them
// ([{"name", "description", "parameters"}]) and compiles it for choice.
func ParseTools(data []byte, choice string) (*Toolset, error) {
	var tools []Tool
	if err := json.Unmarshal(data, &tools); err != nil {
		return nil, fmt.Errorf(`not a JSON array of tools ([{"name":…, "description":…, "parameters":{…}}]): %w`, err)
	}
	return CompileTools(tools, choice)
}

// CompileTools checks the tools' schemas and builds the grammar for choice
// (ToolAuto, "auto", ToolRequired, ToolNone, or a tool's name).
func CompileTools(tools []Tool, choice string) (*Toolset, error) {
	if choice == "auto" {
		choice = ToolAuto
	}
	ts := &Toolset{tools: tools, choice: choice, args: map[string]*grammar.Schema{}}
	defs := map[string]json.RawMessage{}
	var branches []string
	for _, t := range tools {
		if !toolName.MatchString(t.Name) {
			return nil, fmt.Errorf("tool name %q: use 1 to 64 letters, digits, '_', '.' or '-'", t.Name)
		}
		if _, dup := ts.args[t.Name]; dup {
			return nil, fmt.Errorf("tool %q is listed twice", t.Name)
		}
		params := t.Parameters
		if len(bytes.TrimSpace(params)) == 0 {
			params = json.RawMessage(`{"type":"object","properties":{},"additionalProperties":false}`)
		}
		s, err := grammar.Compile(params)
		if err != nil {
			return nil, fmt.Errorf("tool %q: %w", t.Name, err)
		}
		ts.args[t.Name] = s
		inlined, err := hoistDefs(params, t.Name, defs)
		if err != nil {
			return nil, fmt.Errorf("tool %q: %w", t.Name, err)
		}
		if choice == ToolAuto || choice == ToolRequired || choice == t.Name {
			name, _ := json.Marshal(t.Name)
			branches = append(branches, fmt.Sprintf(`{"type":"object","properties":{"tool":{"const":%s},"arguments":%s},"required":["tool","arguments"],"additionalProperties":false}`, name, inlined))
		}
	}
	switch {
	case choice == ToolNone || choice == ToolAuto:
		branches = append(branches, `{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"],"additionalProperties":false}`)
	case choice == ToolRequired && len(tools) == 0:
		return nil, errors.New("a tool call is required but no tools are given")
	case len(branches) == 0 && choice != ToolRequired:
		return nil, fmt.Errorf("%w: %q", ErrUnknownTool, choice)
	}
	root := map[string]any{"oneOf": rawList(branches)}
	if len(defs) > 0 {
		root["$defs"] = defs
	}
	doc, err := json.Marshal(root)
	if err != nil {
		return nil, err
	}
	if ts.schema, err = grammar.Compile(doc); err != nil {
		return nil, err
	}
	ts.prompt = toolPrompt(tools, choice)
	return ts, nil
}

func rawList(items []string) []json.RawMessage {
	out := make([]json.RawMessage, len(items))
	for i, s := range items {
		out[i] = json.RawMessage(s)
	}
	return out
}

// hoistDefs moves a tool schema's local definitions ($defs or definitions)
// into defs under names prefixed with the tool's, and rewrites its $refs to
// match, so that the schema can sit inside the combined one.
func hoistDefs(schema json.RawMessage, tool string, defs map[string]json.RawMessage) (json.RawMessage, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(schema))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return schema, nil
	}
	local := map[string]any{}
	for _, k := range []string{"$defs", "definitions"} {
		if m, ok := obj[k].(map[string]any); ok {
			for name, def := range m {
				local["#/"+k+"/"+name] = def
			}
			delete(obj, k)
		}
	}
	if len(local) == 0 {
		return schema, nil
	}
	rename := func(ref string) string {
		return "#/$defs/" + tool + "." + strings.TrimPrefix(strings.TrimPrefix(ref, "#/$defs/"), "#/definitions/")
	}
	var walk func(any) any
	walk = func(x any) any {
		switch t := x.(type) {
		case map[string]any:
			for k, val := range t {
				if ref, ok := val.(string); k == "$ref" && ok {
					if _, known := local[ref]; known {
						t[k] = rename(ref)
					}
					continue
				}
				t[k] = walk(val)
			}
		case []any:
			for i := range t {
				t[i] = walk(t[i])
			}
		}
		return x
	}
	walk(obj)
	for ref, def := range local {
		b, err := json.Marshal(walk(def))
		if err != nil {
			return nil, err
		}
		defs[strings.TrimPrefix(rename(ref), "#/$defs/")] = b
	}
	return json.Marshal(obj)
}

// toolPrompt tells the model what it may call and how to write it. The
// grammar enforces the shape whatever the model makes of this text; the
// text is what lets it choose well.
func toolPrompt(tools []Tool, choice string) string {
	var b strings.Builder
	if choice == ToolNone {
		b.WriteString(`Answer the user. Write {"answer": "..."}.`)
		return b.String()
	}
	b.WriteString("Tools you can call:\n")
	for _, t := range tools {
		if choice != ToolAuto && choice != ToolRequired && choice != t.Name {
			continue
		}
		b.WriteString("- " + t.Name)
		if t.Description != "" {
			b.WriteString(": " + oneLineText(t.Description))
		}
		if len(t.Parameters) > 0 {
			var compact bytes.Buffer
			if json.Compact(&compact, t.Parameters) == nil {
				b.WriteString(" Arguments: " + compact.String())
			}
		}
		b.WriteString("\n")
	}
	b.WriteString(`To call a tool write {"tool": NAME, "arguments": {...}}.`)
	if choice == ToolAuto {
		b.WriteString(` To answer without a tool write {"answer": "..."}.`)
	}
	return b.String()
}

func oneLineText(s string) string { return strings.Join(strings.Fields(s), " ") }

// Call asks the model for its next step with the tools in ts: a tool call
// whose arguments are valid for the tool's schema, or a final answer. The
// tools are described in the system prompt (after the caller's own system
// message, when there is one) and the reply is forced by ts's grammar, so
// any model, however small, returns one of the two. Tool results go back
// as RoleTool messages. The streamed text (fn) is the raw JSON.
//
// A reply that reaches the token limit (Sampling.MaxTokens, or the end of
// the context) unfinished is closed, not cut: the engine takes back its
// last tokens where needed and has the model write the grammar's shortest
// completion, so the reply still validates and Stats.Closed is set (see
// generateClosing). A string argument the model was repeating ends where
// it was cut. Only a limit too small for the shortest whole reply gives an
// IncompleteError.
func (e *Engine) Call(ctx context.Context, msgs []Message, ts *Toolset, s Sampling, fn TokenFunc) (Reply, Stats, error) {
	return e.def.Call(ctx, msgs, ts, s, fn)
}

// Call is Engine.Call in this session.
func (sess *Session) Call(ctx context.Context, msgs []Message, ts *Toolset, s Sampling, fn TokenFunc) (Reply, Stats, error) {
	if ts == nil {
		return Reply{}, Stats{}, errors.New("call: no toolset")
	}
	withTools := make([]Message, 0, len(msgs)+1)
	if len(msgs) > 0 && msgs[0].Role == RoleSystem {
		withTools = append(withTools, Message{Role: RoleSystem, Content: msgs[0].Content + "\n\n" + ts.prompt})
		msgs = msgs[1:]
	} else {
		withTools = append(withTools, Message{Role: RoleSystem, Content: ts.prompt})
	}
	withTools = append(withTools, msgs...)
	s.Grammar = ts.schema.GBNF()
	out, st, err := sess.e.chatClosing(ctx, sess, withTools, s, fn, ts.schema.Completer())
	if err != nil {
		return Reply{}, st, err
	}
	if st.StopReason != StopEOG {
		return Reply{}, st, &IncompleteError{What: "the tool call", StopReason: st.StopReason}
	}
	r, err := ts.Parse([]byte(out))
	return r, st, err
}

// Parse checks a model's raw reply against the toolset: one tool call with
// valid arguments, or an answer where the choice allows it.
func (ts *Toolset) Parse(raw []byte) (Reply, error) {
	if err := ts.schema.Validate(raw); err != nil {
		return Reply{}, fmt.Errorf("model output is not a valid tool call: %w", err)
	}
	var v struct {
		Tool      *string         `json:"tool"`
		Arguments json.RawMessage `json:"arguments"`
		Answer    *string         `json:"answer"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return Reply{}, fmt.Errorf("model output is not a valid tool call: %w", err)
	}
	if v.Tool == nil {
		if v.Answer == nil {
			return Reply{}, errors.New("model output is neither a tool call nor an answer")
		}
		return Reply{Answer: *v.Answer}, nil
	}
	args, ok := ts.args[*v.Tool]
	if !ok {
		return Reply{}, fmt.Errorf("%w: %q", ErrUnknownTool, *v.Tool)
	}
	// Checked against the tool's own schema too: the combined one carries
	// it, but a tool's error should name the tool.
	if err := args.Validate(v.Arguments); err != nil {
		return Reply{}, fmt.Errorf("arguments for tool %q: %w", *v.Tool, err)
	}
	return Reply{ToolCall: &ToolCall{Name: *v.Tool, Arguments: v.Arguments}}, nil
}
