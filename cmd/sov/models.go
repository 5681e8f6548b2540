package main

import "github.com/spf13/cobra"

// modelCommands returns run, pull, models and doctor.
func modelCommands(a *app) []*cobra.Command { return nil }
