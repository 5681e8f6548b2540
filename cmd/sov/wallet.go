package main

import "github.com/spf13/cobra"

// walletCommands returns the `sov wallet` command tree.
func walletCommands(a *app) []*cobra.Command { return nil }
