// Command sov is the terminal-first, self-sovereign AI environment.
//
// This package is thin: it parses flags, resolves paths and configuration,
// calls the package APIs (model, vault, feeds, wallet, agents, tui) and maps
// errors to exit codes. Business logic lives in those packages.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/internal/buildinfo"
	"github.com/sovos/sov/internal/config"
	"github.com/sovos/sov/internal/paths"
)

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// app is what every subcommand needs; it replaces global state.
type app struct {
	paths  paths.Paths
	cfg    *config.File
	stdin  *os.File
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// usageError marks errors caused by how sov was called (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// exactArgs wants n positional arguments and shows usage otherwise.
func exactArgs(n int, usage string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("usage: %s", usage)
		}
		return nil
	}
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return exitCode(ctx, a.stderr, err)
}

func exitCode(ctx context.Context, stderr io.Writer, err error) int {
	if err == nil {
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitOK
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		fmt.Fprintln(stderr, "sov: interrupted")
		return exitInterrupted
	}
	fmt.Fprintln(stderr, "sov:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitError
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "sov",
		Short:         "sov — a self-sovereign AI environment in your terminal",
		Long:          "sov runs a local model and your own agents on your machine.\nWith no subcommand it opens the interactive shell.",
		Version:       buildinfo.String(version),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.init()
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see sov --help)", err)}
	})
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	for _, add := range []func(*app) []*cobra.Command{
		modelCommands,
		storeCommands,
		shellCommands,
		vaultCommands,
		feedsCommands,
		walletCommands,
		agentsCommands,
		ledgerCommands,
	} {
		for _, c := range add(a) {
			root.AddCommand(c)
		}
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see sov --help)", err)}
	})
	// Unknown subcommands and bad arguments are usage errors too.
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef("unknown command %q (see sov --help)", args[0])
		}
		return nil
	}
	configureShellRoot(a, root)
	root.AddCommand(newManCmd(root))
	return root
}

// init resolves paths and loads the configuration once per invocation.
func (a *app) init() error {
	if a.cfg != nil {
		return nil
	}
	p, err := paths.FromEnv(a.getenv)
	if err != nil {
		return err
	}
	cfg, err := config.Load(p.ConfigFile())
	if err != nil {
		return err
	}
	a.paths, a.cfg = p, cfg
	return nil
}
