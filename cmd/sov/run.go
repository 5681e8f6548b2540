package main

import (
	"github.com/spf13/cobra"
)

// runHeadless is `sov run`: the prompt comes from args or stdin and tokens
// stream to stdout. The shell calls it when stdin or stdout is not a TTY.
// flags are the run flags registered by addRunFlags on cmd.
func (a *app) runHeadless(cmd *cobra.Command, args []string) error {
	return usagef("sov run is not built yet")
}

// addRunFlags registers the generation flags (--model, --system, --temp, …)
// on cmd; `sov run` and the root command (for the non-TTY fallback) use it.
func addRunFlags(cmd *cobra.Command) {}
