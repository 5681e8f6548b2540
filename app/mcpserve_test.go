package app

import (
	"context"
	"errors"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sovos/sov/agents"
)

func TestAgentMCP(t *testing.T) {
	a, _ := newApp(t, map[string]string{})
	ctx := context.Background()
	tests := []struct {
		name  string
		agent *agents.Agent
		want  error // nil: a server
	}{
		{"workspace tools", &agents.Agent{Name: "helper", Tools: []agents.ToolRule{{Name: "workspace.read"}, {Name: "ledger.note"}}}, nil},
		{"unknown tool", &agents.Agent{Name: "odd", Tools: []agents.ToolRule{{Name: "no.such"}}}, agents.ErrUnknownTool},
	}
	for _, tc := range tests {
		srv, closeSrv, err := a.AgentMCP(ctx, tc.agent, AgentEnvOptions{}, "test")
		if tc.want != nil {
			if !errors.Is(err, tc.want) || srv != nil {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		// The server lists the agent's tools to a client.
		st, ct := mcp.NewInMemoryTransports()
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- srv.Run(sctx, st) }()
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "t"}, nil).Connect(sctx, ct, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := cs.ListTools(sctx, nil)
		if err != nil || len(res.Tools) != 2 {
			t.Errorf("%s: tools %v %v", tc.name, res, err)
		}
		cs.Close()
		cancel()
		<-done
		closeSrv()
	}
}
