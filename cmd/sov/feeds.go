package main

import "github.com/spf13/cobra"

// feedsCommands returns the `sov feeds` command tree.
func feedsCommands(a *app) []*cobra.Command { return nil }
