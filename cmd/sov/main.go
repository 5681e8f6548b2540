// Command sov is the terminal-first, self-sovereign AI environment.
//
// This package is thin: it parses flags, resolves paths and configuration,
// calls the package APIs (model, vault, feeds, wallet, tui) and maps errors
// to exit codes. Business logic lives in those packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	core "github.com/sovos/sov/app"
	"github.com/sovos/sov/feeds"
	"github.com/sovos/sov/internal/buildinfo"
	"github.com/sovos/sov/internal/nodump"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/vault"
)

// version is set at release time (goreleaser: -X main.version=…).
var version = ""

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitRejected    = 3 // some items were rejected or damaged (feeds sync/import, vault verify/export)
	exitInterrupted = 130
)

// app is what every subcommand needs; it replaces global state. The
// services come from the composition root, loaded before a command runs.
type app struct {
	*core.App
	stdin  *os.File
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	// sov holds keys (vault, wallet, feeds, ledger): a core file would
	// write them to disk in plaintext.
	if err := nodump.Disable(); err != nil {
		fmt.Fprintln(os.Stderr, "sov: warning: core dumps stay enabled:", err)
	}
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
	// Errors embed outside text (file names, relay and RPC replies): clean once here.
	fmt.Fprintln(stderr, "sov:", termtext.Clean(err.Error()))
	var ce codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	if errors.As(err, new(*feeds.RejectedError)) || errors.As(err, new(*vault.DamagedError)) {
		return exitRejected
	}
	return exitError
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "sov",
		Short:         "sov — a self-sovereign AI environment in your terminal",
		Long:          "sov runs a local model and your own agents on your machine.\nWith no subcommand it opens the interactive shell.",
		Version:       buildinfo.String(version, model.LlamaCommit),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.init()
		},
		Args: nargs(0, 0, ""), // an unknown subcommand is a usage error too
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see sov --help)", err)}
	})
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.AddCommand(newRunCmd(a))
	for _, add := range []func(*app) []*cobra.Command{storeCommands, vaultCommands, feedsCommands, walletCommands, ledgerCommands, agentsCommands, mcpCommands, serveCommands, daoCommands, brandCommands, evalCommands, buildCommands} {
		root.AddCommand(add(a)...)
	}
	configureShellRoot(a, root)
	// __man writes the man pages (goreleaser's before hook packs them).
	root.AddCommand(&cobra.Command{Use: "__man DIR", Short: "Write man pages for every command into DIR", Hidden: true, Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			return doc.GenManTree(root, &doc.GenManHeader{Title: "SOV", Section: "1", Source: "sov " + version}, args[0])
		},
	})
	return root
}

// init loads the paths, the configuration and the services once per
// invocation.
func (a *app) init() (err error) {
	if a.App == nil {
		a.App, err = core.Load(a.getenv)
	}
	if err == nil {
		a.Warn = func(msg string) { a.warnf("%s", msg) }
	}
	return err
}
