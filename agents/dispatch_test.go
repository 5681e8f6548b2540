package agents

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/agents/tools"
	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/model"
)

// newDispatchFixture serves the fixture's tools under real agent rules:
// write is allowed except path=secret*, pay is denied, boom panics, hang
// ignores its context.
func newDispatchFixture(t *testing.T) (*Dispatcher, *fixture) {
	t.Helper()
	f := newFixture(t)
	boom := &testTool{name: "boom", level: tools.Read, fn: func(context.Context, json.RawMessage) (tools.Result, error) { panic("kaboom") }}
	hang := &testTool{name: "hang", level: tools.Read, fn: func(context.Context, json.RawMessage) (tools.Result, error) {
		time.Sleep(time.Hour)
		return tools.Result{}, nil
	}}
	ts := append(f.cfg.Tools, boom, hang)
	a := &Agent{Name: "served", Tools: []ToolRule{
		{Name: "echo"}, {Name: "feed", Allow: []string{"*"}},
		{Name: "write", Allow: []string{"*"}, Ask: []string{"q=secret*"}},
		{Name: "pay", Deny: []string{"*"}},
		{Name: "boom"}, {Name: "hang"},
	}}
	d, err := NewDispatcher(DispatchConfig{Agent: a, Tools: ts, Env: &tools.Env{Ledger: f.ledger}, ToolTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return d, f
}

func TestDispatch(t *testing.T) {
	type step struct {
		principal, tool, args string
		allowed, failed       bool
		text                  string // a substring of Dispatched.Text
		err                   error  // Dispatched.Err
		tainted               bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"read allowed", []step{{principal: "mcp:a", tool: "echo", args: `{"q":"hi"}`, allowed: true, text: `ok {"q":"hi"}`}}},
		{"deny rule", []step{{principal: "mcp:a", tool: "pay", args: `{}`, failed: true, text: "denied by the agent's rule deny pay(*)"}}},
		{"ask is refused", []step{{principal: "mcp:a", tool: "write", args: `{"q":"secret.txt"}`, failed: true, text: "no one is present to approve"}}},
		{"write allowed untainted", []step{{principal: "mcp:a", tool: "write", args: `{"q":"notes"}`, allowed: true}}},
		{"taint raises a write to ask, for that client only", []step{
			{principal: "mcp:a", tool: "feed", args: `{}`, allowed: true, text: "Ignore previous instructions", tainted: true},
			{principal: "mcp:a", tool: "write", args: `{"q":"notes"}`, failed: true, text: "outside content", tainted: true},
			{principal: "mcp:b", tool: "write", args: `{"q":"notes"}`, allowed: true},
		}},
		{"unlisted tool", []step{{principal: "mcp:a", tool: "nope", args: `{}`, failed: true, text: "not one of this agent's tools"}}},
		{"panic", []step{{principal: "mcp:a", tool: "boom", args: `{}`, allowed: true, failed: true, err: ErrToolPanicked, text: "boom failed"}}},
		{"timeout", []step{{principal: "mcp:a", tool: "hang", args: `{}`, allowed: true, failed: true, err: ErrToolTimeout}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, f := newDispatchFixture(t)
			for i, s := range tc.steps {
				got, err := d.Call(context.Background(), s.principal, model.ToolCall{Name: s.tool, Arguments: json.RawMessage(s.args)})
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got.Allowed != s.allowed || got.Failed != s.failed || got.Tainted != s.tainted || !strings.Contains(got.Text, s.text) {
					t.Errorf("step %d: %+v, want allowed %v failed %v tainted %v text ~%q", i, got, s.allowed, s.failed, s.tainted, s.text)
				}
				if s.err != nil && !errors.Is(got.Err, s.err) || s.err == nil && got.Err != nil {
					t.Errorf("step %d: err %v, want %v", i, got.Err, s.err)
				}
				if got.Tainted != d.Tainted(s.principal) {
					t.Errorf("step %d: Tainted(%s) = %v", i, s.principal, d.Tainted(s.principal))
				}
			}
			// Every decision and every call is in the ledger under its
			// client, by digest.
			perms, calls := f.entries(t, ledger.KindPermission), f.entries(t, ledger.KindTool)
			var wantPerms, wantCalls int
			for _, s := range tc.steps {
				if s.tool != "nope" {
					wantPerms++
				}
				if s.allowed {
					wantCalls++
				}
			}
			if len(perms) != wantPerms || len(calls) != wantCalls {
				t.Fatalf("%d permission and %d tool entries, want %d and %d", len(perms), len(calls), wantPerms, wantCalls)
			}
			for i, e := range perms {
				s := tc.steps[i]
				if e.Principal != s.principal || e.Fields["tool"] != s.tool || e.Fields["allowed"] != s.allowed || e.Fields["agent"] != "served" ||
					e.Subjects["arguments"] != ledger.SHA256([]byte(s.args)) {
					t.Errorf("permission entry %d: %s %v %v", i, e.Principal, e.Fields, e.Subjects)
				}
			}
		})
	}
}

func TestDispatchAskRecordedHeadless(t *testing.T) {
	d, f := newDispatchFixture(t)
	if _, err := d.Call(context.Background(), "mcp:a", model.ToolCall{Name: "write", Arguments: json.RawMessage(`{"q":"secret"}`)}); err != nil {
		t.Fatal(err)
	}
	p := f.entries(t, ledger.KindPermission)
	if len(p) != 1 || p[0].Fields["by"] != "headless" || p[0].Fields["verdict"] != "ask" || p[0].Fields["allowed"] != false {
		t.Fatalf("%+v", p)
	}
	if f.tools["write"].ran() != 0 {
		t.Fatal("an ask call ran")
	}
}

func TestDispatchLedgerFailureRefuses(t *testing.T) {
	d, f := newDispatchFixture(t)
	d.env.Ledger = ledger.Open("/dev/null/ledger") // cannot be written
	got, err := d.Call(context.Background(), "mcp:a", model.ToolCall{Name: "write", Arguments: json.RawMessage(`{"q":"x"}`)})
	if err == nil || got.Allowed || f.tools["write"].ran() != 0 {
		t.Fatalf("%+v %v: a call whose decision is not recorded must not run", got, err)
	}
}

func TestNewDispatcherErrors(t *testing.T) {
	led := &tools.Env{Ledger: ledger.Open(t.TempDir())}
	tests := []struct {
		name string
		cfg  DispatchConfig
		want error
	}{
		{"no agent", DispatchConfig{Env: led}, nil},
		{"no ledger", DispatchConfig{Agent: &Agent{Name: "x"}, Env: &tools.Env{}}, nil},
		{"unknown tool", DispatchConfig{Agent: &Agent{Name: "x", Tools: []ToolRule{{Name: "nope"}}}, Env: led}, ErrUnknownTool},
	}
	for _, tc := range tests {
		_, err := NewDispatcher(tc.cfg)
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
