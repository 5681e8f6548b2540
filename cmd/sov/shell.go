package main

import "github.com/spf13/cobra"

// shellCommands returns commands owned by the interactive shell.
func shellCommands(a *app) []*cobra.Command { return nil }

// configureShellRoot makes `sov` with no subcommand open the shell.
func configureShellRoot(a *app, root *cobra.Command) {}
