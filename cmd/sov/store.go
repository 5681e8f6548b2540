package main

import "github.com/spf13/cobra"

// storeCommands returns pull and models.
func storeCommands(a *app) []*cobra.Command { return nil }
