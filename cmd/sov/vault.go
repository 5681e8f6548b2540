package main

import "github.com/spf13/cobra"

// vaultCommands returns the `sov vault` command tree.
func vaultCommands(a *app) []*cobra.Command { return nil }
