package main

import (
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// version is set at release time (goreleaser: -X main.version=…).
var version = ""

// newManCmd writes the man pages (goreleaser's before hook packs them); it
// is hidden from --help.
func newManCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:    "__man DIR",
		Short:  "Write man pages for every command into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			return doc.GenManTree(root, &doc.GenManHeader{Title: "SOV", Section: "1", Source: "sov " + version}, args[0])
		},
	}
}
