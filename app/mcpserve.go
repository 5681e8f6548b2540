package app

import (
	"context"
	"fmt"
	"net"

	"github.com/sovos/sov/agents"
	"github.com/sovos/sov/agents/mcpserve"
)

// EnvMCPToken, when set, is sov mcp serve's HTTP bearer token instead of
// a random one.
const EnvMCPToken = "SOV_MCP_TOKEN"

// ServeMCPHTTP serves srv over streamable HTTP on the loopback address
// addr until ctx ends. Clients must send EnvMCPToken's bearer token, or
// else a new random one: listening gets the address and that new token
// (empty when EnvMCPToken chose it), to show once.
func (a *App) ServeMCPHTTP(ctx context.Context, srv *mcpserve.Server, addr string, listening func(at net.Addr, newToken string)) error {
	token := a.Getenv(EnvMCPToken)
	if token != "" {
		if err := mcpserve.CheckToken(token); err != nil {
			return fmt.Errorf("%s: %w", EnvMCPToken, err)
		}
	}
	ln, err := mcpserve.Listen(addr)
	if err != nil {
		return err
	}
	fresh := ""
	if token == "" {
		token = mcpserve.NewToken()
		fresh = token
	}
	listening(ln.Addr(), fresh)
	return srv.ServeHTTP(ctx, ln, token)
}

// AgentMCP is the MCP server for agent ag's tools, under its rules, for
// outside clients: the tools' environment as AgentEnv builds it (o.Caller
// is "mcp" when empty; no one approves, so o's approver should be nil),
// each client's calls dispatched and recorded as its own principal.
// closeServer releases the environment and revokes its wallet grant.
func (a *App) AgentMCP(ctx context.Context, ag *agents.Agent, o AgentEnvOptions, version string) (srv *mcpserve.Server, closeServer func(), err error) {
	ts, err := a.AgentTools(ag)
	if err != nil {
		return nil, nil, err
	}
	if o.Caller == "" {
		o.Caller = "mcp"
	}
	// The agent's own MCP servers' tools are served too, once approved
	// (no one is here to approve them: new or changed ones are an error).
	mcpTools, closeMCP, err := a.AgentMCPTools(ctx, ag, nil)
	if err != nil {
		return nil, nil, err
	}
	env, closeEnv, err := a.AgentEnv(ctx, ag, o)
	if err != nil {
		closeMCP()
		return nil, nil, err
	}
	d, err := agents.NewDispatcher(agents.DispatchConfig{Agent: ag, Tools: append(ts, mcpTools...), Env: env})
	if err == nil {
		srv, err = mcpserve.New(d, version)
	}
	if err != nil {
		closeEnv()
		closeMCP()
		return nil, nil, fmt.Errorf("agent %s: %w", ag.Name, err)
	}
	return srv, func() { closeEnv(); closeMCP() }, nil
}
