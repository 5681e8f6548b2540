package agents

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sovos/sov/agents/tools"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/model/grammar"
)

// Pinned arguments: an agent file can fix some of a tool's arguments
// (set = { collection = "notes" }). The model is not offered them, and
// every call carries the file's values before anything else sees it: the
// loop guard, the permission rules, the tool, the events and the ledger.
// A small model then cannot pick the wrong collection, and no model can
// pick another.

// pinned is a tool with some arguments fixed.
type pinned struct {
	tools.Tool
	set  map[string]json.RawMessage
	spec model.Tool
}

// pinTool fixes set's arguments of t; no set: t itself. Each pinned
// argument must be one of t's, with a value its schema accepts.
func pinTool(t tools.Tool, set map[string]any) (tools.Tool, error) {
	if len(set) == 0 {
		return t, nil
	}
	spec := t.Spec()
	var schema map[string]json.RawMessage
	if err := json.Unmarshal(spec.Parameters, &schema); err != nil {
		return nil, fmt.Errorf("%s's schema: %w", spec.Name, err)
	}
	var props map[string]json.RawMessage
	if err := json.Unmarshal(schema["properties"], &props); err != nil || props == nil {
		return nil, fmt.Errorf("%s takes no arguments to set", spec.Name)
	}
	var required []string
	if r, ok := schema["required"]; ok {
		if err := json.Unmarshal(r, &required); err != nil {
			return nil, fmt.Errorf("%s's schema: required: %w", spec.Name, err)
		}
	}
	p := pinned{Tool: t, set: map[string]json.RawMessage{}}
	var notes []string
	for _, k := range slices.Sorted(maps.Keys(set)) {
		prop, ok := props[k]
		if !ok {
			return nil, fmt.Errorf("%s has no argument %q (it has %s)", spec.Name, k, strings.Join(slices.Sorted(maps.Keys(props)), ", "))
		}
		v, err := json.Marshal(set[k])
		if err != nil {
			return nil, fmt.Errorf("%s: set %s: %w", spec.Name, k, err)
		}
		if err := grammar.Validate(prop, v); err != nil {
			return nil, fmt.Errorf("%s: set %s = %s: %w", spec.Name, k, v, err)
		}
		p.set[k] = v
		delete(props, k)
		required = slices.DeleteFunc(required, func(r string) bool { return r == k })
		notes = append(notes, fmt.Sprintf("%s is always %s", k, v))
	}
	var err error
	if schema["properties"], err = json.Marshal(props); err != nil {
		return nil, err
	}
	if len(required) > 0 {
		schema["required"], _ = json.Marshal(required)
	} else {
		delete(schema, "required")
	}
	if spec.Parameters, err = json.Marshal(schema); err != nil {
		return nil, err
	}
	spec.Description += " (Set by the user: " + strings.Join(notes, "; ") + ".)"
	p.spec = spec
	return p, nil
}

func (p pinned) Spec() model.Tool { return p.spec }

// pin is args with the pinned values in place of whatever the model
// wrote for them.
func (p pinned) pin(args json.RawMessage) json.RawMessage {
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(args, &m); err != nil || m == nil {
		m = map[string]json.RawMessage{}
	}
	maps.Copy(m, p.set)
	out, err := json.Marshal(m)
	if err != nil {
		return args
	}
	return out
}

func (p pinned) Run(ctx context.Context, env *tools.Env, args json.RawMessage) (tools.Result, error) {
	return p.Tool.Run(ctx, env, p.pin(args))
}

func (p pinned) Plan(ctx context.Context, env *tools.Env, args json.RawMessage) (string, error) {
	if pl, ok := p.Tool.(Planner); ok {
		return pl.Plan(ctx, env, p.pin(args))
	}
	return "", nil
}

// pinCall is call with t's pinned arguments in place.
func pinCall(t tools.Tool, call model.ToolCall) model.ToolCall {
	if p, ok := t.(pinned); ok {
		call.Arguments = p.pin(call.Arguments)
	}
	return call
}

// checkPins checks each tool's set against the tool's schema.
func checkPins(a *Agent, lookup ToolLookup) error {
	for i, r := range a.Tools {
		if len(r.Set) == 0 {
			continue
		}
		t, ok := lookup(r.Name)
		if !ok {
			continue // checkTools names it, or it is an MCP tool, checked when its server is listed
		}
		if _, err := pinTool(t, r.Set); err != nil {
			return &RuleError{fmt.Sprintf("tools[%d].set", i), err}
		}
	}
	return nil
}
