package main

// `sov mcp serve`: an agent's tools for outside MCP clients.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/agents"
	"github.com/sovos/sov/agents/mcpserve"
	core "github.com/sovos/sov/app"
	"github.com/sovos/sov/internal/termtext"
)

func mcpCommands(a *app) []*cobra.Command {
	c := &cobra.Command{Use: "mcp", Short: "Model Context Protocol: your agents' tools for other MCP clients", Args: nargs(0, 0, "")}
	var name, addr string
	serve := command("serve", "Serve an agent's tools, under its rules, to an MCP client (stdio, or HTTP on loopback)", nil, func(cmd *cobra.Command, _ []string) error {
		if name == "" {
			return usagef("sov mcp serve needs --agent NAME: the agent whose tools and rules are served")
		}
		ag, err := a.Agents().Get(name)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		// stdin may be the MCP channel: secrets come from the environment.
		srv, closeSrv, err := a.AgentMCP(ctx, ag, a.EnvSecrets("mcp"), cmp.Or(version, "dev"))
		if err != nil {
			return err
		}
		defer closeSrv()
		srv.OnCall = func(principal, tool string, got agents.Dispatched) {
			fmt.Fprintln(a.stderr, termtext.Clean(fmt.Sprintf("sov: %s %s: %s", principal, tool, mcpserve.Outcome(got))))
		}
		if addr == "" {
			err = srv.ServeStdio(ctx)
		} else {
			err = a.ServeMCPHTTP(ctx, srv, addr, func(at net.Addr, token string) {
				fmt.Fprintf(a.stderr, "sov: serving agent %s's tools at http://%s/mcp\n", ag.Name, at)
				if token != "" {
					fmt.Fprintf(a.stderr, "sov: bearer token (shown once; set %s to choose one): %s\n", core.EnvMCPToken, token)
				}
			})
		}
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return nil // exit 130 (interrupted)
		}
		return err
	})
	serve.Long = `Serve the tools an agent file lists to an outside MCP client, under that
file's rules: the client cannot widen them. "ask" calls are refused (no one
is present to approve), and after a client receives outside content (feeds)
its write and money calls are refused too. Each client is recorded in the
ledger as mcp:NAME.

With no --http, one client speaks on stdin and stdout. With --http, sov
serves stateless streamable HTTP on a loopback address; each request needs
"Authorization: Bearer TOKEN": $` + core.EnvMCPToken + `, or a random token
printed once on stderr. Secrets come from SOV_VAULT_PASSPHRASE and
SOV_WALLET_PASSPHRASE.`
	serve.Flags().StringVar(&name, "agent", "", "the agent whose tools and rules are served (required)")
	serve.Flags().StringVar(&addr, "http", "", "serve HTTP on this loopback address, e.g. 127.0.0.1:8765 (default: stdio)")
	c.AddCommand(serve)
	return guard(mcpHint, "sov mcp failed (%v)", c)
}

// mcpHint adds the CLI's way out to the errors of sov mcp.
func mcpHint(err error) error {
	return withFix(err,
		fix{mcpserve.ErrNotLoopback, " (--http takes 127.0.0.1:PORT)", true},
		fix{mcpserve.ErrBadAddress, " (--http takes 127.0.0.1:PORT)", true},
		fix{mcpserve.ErrWeakToken, " (unset " + core.EnvMCPToken + " for a random token)", true},
		fix{agents.ErrBadName, "", true},
		fix{agents.ErrNotFound, " (sov agents ls lists them; sov agents new NAME makes one)", true},
		fix{core.ErrVaultLocked, ": set SOV_VAULT_PASSPHRASE (sov mcp serve never prompts: stdin may be the MCP channel)", false})
}
