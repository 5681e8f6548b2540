package main

import "github.com/spf13/cobra"

// walletChainCommands are the network, balance, send and pay commands.
func walletChainCommands(a *app) []*cobra.Command { return nil }
