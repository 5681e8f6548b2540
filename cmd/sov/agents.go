package main

import "github.com/spf13/cobra"

// agentsCommands returns the `sov agents` command tree.
func agentsCommands(a *app) []*cobra.Command { return nil }
