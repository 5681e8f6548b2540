package agents

// Dispatch: one tool call made outside a model run (an MCP client's call),
// under the same permission engine and ledger recording as the run loop.
// The gate below is the code both share.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sovos/sov/agents/tools"
	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/model"
)

// gate is what a run and a dispatched call share: the policy's decision,
// the tool run (timeout, panic recovery) and the ledger entries of both,
// by digest only.
type gate struct {
	policy  Policy
	env     *tools.Env
	timeout time.Duration
}

// scope is who a call's ledger entries are filed under and the facts that
// place it (a run's ID and step, or a serving session and call number).
type scope struct {
	principal string
	facts     map[string]any
}

func (s scope) fields(more map[string]any) map[string]any {
	m := make(map[string]any, len(s.facts)+len(more))
	for k, v := range s.facts {
		m[k] = v
	}
	for k, v := range more {
		m[k] = v
	}
	return m
}

// decide is the policy's decision; a verdict sov does not know is a deny,
// so a broken policy fails closed.
func (g *gate) decide(call model.ToolCall, level tools.Level, tainted bool) Decision {
	d := g.policy.Decide(call, level, tainted)
	switch d.Verdict {
	case Allow, Ask, Deny:
		return d
	}
	return Decision{Verdict: Deny, Rule: d.Rule, Reason: fmt.Sprintf("unknown verdict %q treated as deny", d.Verdict)}
}

// refusal is why a refused call was not made, as the caller (a model or
// an MCP client) is told it.
func refusal(d Decision) string {
	reason := d.Reason
	if reason == "" {
		reason = "the agent's rules do not allow it"
	}
	if d.Rule != "" {
		reason += " (rule: " + d.Rule + ")"
	}
	return reason
}

func (g *gate) recordPermission(ctx context.Context, sc scope, call model.ToolCall, d Decision, by string, allowed, tainted bool) (*uint64, error) {
	e, err := g.env.Ledger.Append(context.WithoutCancel(ctx), ledger.Record{
		Kind: ledger.KindPermission, Principal: sc.principal,
		Subjects: map[string]string{"arguments": ledger.SHA256(call.Arguments)},
		Fields: sc.fields(map[string]any{"tool": call.Name, "verdict": string(d.Verdict),
			"rule": d.Rule, "by": by, "allowed": allowed, "tainted": tainted}),
	}, g.env.Signer)
	if err != nil {
		return nil, fmt.Errorf("recording the permission decision in the ledger: %w", err)
	}
	return &e.Seq, nil
}

func (g *gate) recordTool(ctx context.Context, sc scope, call model.ToolCall, t tools.Tool, res tools.Result, callErr error) (*uint64, error) {
	e, err := g.env.Ledger.Append(context.WithoutCancel(ctx), ledger.Record{
		Kind: ledger.KindTool, Principal: sc.principal,
		Subjects: map[string]string{"arguments": ledger.SHA256(call.Arguments), "result": ledger.SHA256([]byte(res.Text))},
		Fields: sc.fields(map[string]any{"tool": call.Name, "level": t.Level().String(),
			"source": res.Source, "tainted": res.Tainted, "failed": callErr != nil}),
	}, g.env.Signer)
	if err != nil {
		return nil, fmt.Errorf("recording the tool call in the ledger: %w", err)
	}
	return &e.Seq, nil
}

// runTool runs one call with a timeout. A panic becomes an error, and a
// tool that ignores its context is left behind when the timeout passes,
// so the caller goes on or ends cleanly either way.
func (g *gate) runTool(ctx context.Context, t tools.Tool, args json.RawMessage) (tools.Result, error) {
	timeout := g.timeout
	if timeout <= 0 {
		timeout = DefaultToolTimeout
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		res tools.Result
		err error
	}
	ch := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- result{err: fmt.Errorf("%w: %v", ErrToolPanicked, p)}
			}
		}()
		res, err := t.Run(tctx, g.env, args)
		ch <- result{res, err}
	}()
	select {
	case out := <-ch:
		if out.err != nil && tctx.Err() != nil && ctx.Err() == nil {
			out.err = fmt.Errorf("%w (%s)", ErrToolTimeout, timeout)
		}
		return out.res, out.err
	case <-tctx.Done():
		if ctx.Err() != nil {
			return tools.Result{}, ctx.Err()
		}
		return tools.Result{}, fmt.Errorf("%w (%s)", ErrToolTimeout, timeout)
	}
}

// taints says a call's result puts outside content in its caller's
// context.
func taints(t tools.Tool, res tools.Result) bool { return t.Level() == tools.Outside || res.Tainted }

// DispatchConfig sets up a Dispatcher: the agent whose tools and rules
// apply, fixed by the person serving them, never by a caller.
type DispatchConfig struct {
	Agent *Agent
	// Tools are the tools available; those the agent lists are served, and
	// a listed tool missing here is an error (ErrUnknownTool).
	Tools []tools.Tool
	// Env is what the tools may use; Env.Ledger is required.
	Env *tools.Env
	// Policy decides each call; nil: the agent's own rules.
	Policy Policy
	// ToolTimeout bounds one call (0: DefaultToolTimeout).
	ToolTimeout time.Duration
}

// Dispatcher makes single tool calls for callers outside a model run (MCP
// clients), each under its own principal with its own taint. No person is
// present: a call the policy says to ask about is refused, with the
// reason, like a headless run's. It is safe for concurrent use.
type Dispatcher struct {
	id    string
	agent string
	gate  gate
	env   tools.Env
	tools map[string]tools.Tool
	order []tools.Tool

	mu      sync.Mutex
	callers map[string]*caller
	calls   int
}

// caller is one principal's state. Its lock is held across a call, so a
// call that taints its caller is seen by that caller's next call.
type caller struct {
	mu      sync.Mutex
	tainted bool
}

// NewDispatcher checks cfg and compiles the agent's rules.
func NewDispatcher(cfg DispatchConfig) (*Dispatcher, error) {
	switch {
	case cfg.Agent == nil:
		return nil, errors.New("agents: no agent whose tools to serve")
	case cfg.Env == nil || cfg.Env.Ledger == nil:
		return nil, errors.New("agents: no ledger to record the calls in")
	}
	d := &Dispatcher{id: newID(), agent: cfg.Agent.Name, env: *cfg.Env, tools: map[string]tools.Tool{}, callers: map[string]*caller{}}
	d.env.Agent = d.agent
	pol := cfg.Policy
	if pol == nil {
		p, err := cfg.Agent.Permissions()
		if err != nil {
			return nil, fmt.Errorf("agent %s: %w", d.agent, err)
		}
		pol = p
	}
	d.gate = gate{policy: pol, env: &d.env, timeout: cfg.ToolTimeout}
	have := map[string]tools.Tool{}
	for _, t := range cfg.Tools {
		have[t.Spec().Name] = t
	}
	for _, rule := range cfg.Agent.Tools {
		if _, dup := d.tools[rule.Name]; dup {
			continue
		}
		t, ok := have[rule.Name]
		if !ok {
			return nil, fmt.Errorf("agent %s: %w: %q", d.agent, ErrUnknownTool, rule.Name)
		}
		t, err := pinTool(t, rule.Set)
		if err != nil {
			return nil, fmt.Errorf("agent %s: %w", d.agent, err)
		}
		d.tools[rule.Name] = t
		d.order = append(d.order, t)
	}
	return d, nil
}

// Agent is the name of the agent whose tools and rules apply.
func (d *Dispatcher) Agent() string { return d.agent }

// Tools are the agent's tools, in the order its file lists them.
func (d *Dispatcher) Tools() []tools.Tool { return append([]tools.Tool(nil), d.order...) }

// Tainted says outside content has reached principal: its write- and
// money-level calls are raised to ask, and so refused.
func (d *Dispatcher) Tainted(principal string) bool {
	c := d.caller(principal)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tainted
}

func (d *Dispatcher) caller(principal string) *caller {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.callers[principal]
	if !ok {
		c = &caller{}
		d.callers[principal] = c
	}
	return c
}

// Dispatched is what came of one call.
type Dispatched struct {
	// Allowed says the tool ran (Decision allowed it).
	Allowed  bool
	Decision Decision
	// Text is what the caller is told: the tool's result as data, or why
	// the call was refused or failed.
	Text   string
	Source string // the result's source ("sov" for a refusal)
	// Failed: refused, or the tool returned an error (MCP's isError).
	Failed bool
	// Err is the tool's error, nil when it succeeded or did not run.
	Err error
	// Tainted says the caller has outside content from now on.
	Tainted bool
}

// Call makes one call for principal (e.g. "mcp:claude-desktop"): the
// policy decides it with principal's taint; "ask" is refused, as no one
// is present to approve; an allowed call runs under the tool timeout;
// the decision and the call are recorded in the ledger by digest. A
// refusal is not an error: Dispatched says why. The error is a ledger
// failure: a decision that cannot be recorded is not acted on, and a
// call that ran and cannot be recorded returns its result with the error.
func (d *Dispatcher) Call(ctx context.Context, principal string, call model.ToolCall) (Dispatched, error) {
	c := d.caller(principal)
	c.mu.Lock()
	defer c.mu.Unlock()
	d.mu.Lock()
	d.calls++
	sc := scope{principal: principal, facts: map[string]any{"serve": d.id, "call": d.calls, "agent": d.agent}}
	d.mu.Unlock()

	t, ok := d.tools[call.Name]
	if !ok {
		// Only listed tools are offered; a client naming another is
		// refused like an unlisted tool in a run.
		dec := Decision{Verdict: Deny, Rule: "unlisted", Reason: fmt.Sprintf("%s is not one of this agent's tools", call.Name)}
		return Dispatched{Decision: dec, Text: "Not done: " + refusal(dec) + ".", Source: "sov", Failed: true, Tainted: c.tainted}, nil
	}
	call = pinCall(t, call)
	dec := d.gate.decide(call, t.Level(), c.tainted)
	by := "policy"
	if dec.Verdict == Ask {
		by = "headless"
		dec.Reason = noApprover(dec)
	}
	allowed := dec.Verdict == Allow
	if _, err := d.gate.recordPermission(ctx, sc, call, dec, by, allowed, c.tainted); err != nil {
		return Dispatched{Decision: dec, Text: "Not done: sov could not record the decision.", Source: "sov", Failed: true, Tainted: c.tainted}, err
	}
	if !allowed {
		return Dispatched{Decision: dec, Text: "Not done: " + refusal(dec) + ".", Source: "sov", Failed: true, Tainted: c.tainted}, nil
	}
	res, err := d.gate.runTool(ctx, t, call.Arguments)
	text := resultText(call.Name, permission{ok: true}, res, err)
	if t.Level() == tools.Money && (errors.Is(err, ErrToolTimeout) || errors.Is(err, ErrToolPanicked)) {
		text += "; it may still have paid: the wallet's own record says whether it did, so do not pay again before checking"
	}
	source := res.Source
	if source == "" {
		source = call.Name
	}
	if taints(t, res) {
		c.tainted = true
	}
	out := Dispatched{Allowed: true, Decision: dec, Text: text, Source: source, Failed: err != nil, Err: err, Tainted: c.tainted}
	if _, lerr := d.gate.recordTool(ctx, sc, call, t, tools.Result{Text: text, Source: source, Tainted: res.Tainted}, err); lerr != nil {
		return out, lerr
	}
	return out, nil
}

// noApprover is an "ask" decision's reason when no one can approve.
func noApprover(d Decision) string {
	r := "no one is present to approve this call, so it is refused"
	if d.Reason != "" {
		r = d.Reason + "; " + r
	}
	return r
}
