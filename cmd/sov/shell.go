package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/internal/conversation"
	"github.com/sovos/sov/internal/events"
	"github.com/sovos/sov/internal/generate"
	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/model/store"
	"github.com/sovos/sov/tui"
)

// shellCommands returns commands owned by the interactive shell (none: the
// shell is the root command itself).
func shellCommands(a *app) []*cobra.Command { return nil }

// configureShellRoot makes `sov` with no subcommand open the shell. The root
// shares `sov run`'s flags because without a terminal it behaves as `sov run`.
func configureShellRoot(a *app, root *cobra.Command) {
	p := addRunFlags(root)
	f := root.Flags()
	f.BoolP("continue", "c", false, "reopen the last session")
	f.String("session", "", "reopen the session with this ID (or a unique prefix of it)")
	root.RunE = func(cmd *cobra.Command, args []string) error {
		out, _ := a.stdout.(*os.File)
		if out == nil || !prompt.IsTerminal(a.stdin) || !prompt.IsTerminal(out) {
			fmt.Fprintln(a.stderr, "sov: not a terminal: running as `sov run` (use `sov run` directly in scripts)")
			return a.runHeadless(cmd.Context(), p, args)
		}
		return a.runShell(cmd, p, out)
	}
}

// shellSessionTimeout bounds the wait for a sessions database held by
// another sov: the shell must never hang on it.
const shellSessionTimeout = 700 * time.Millisecond

func (a *app) runShell(cmd *cobra.Command, p *runFlags, out *os.File) error {
	if err := p.check(); err != nil {
		return err
	}
	if p.schema != "" || p.grammar != "" || p.tools != "" || p.json || p.promptCache {
		return usagef("--schema, --grammar, --tools, --json and --prompt-cache are for `sov run`, not the shell")
	}
	cont, _ := cmd.Flags().GetBool("continue")
	sessID, _ := cmd.Flags().GetString("session")
	if cont && sessID != "" {
		return usagef("--continue and --session cannot be combined: pick one")
	}
	cfg := tui.DefaultConfig()
	if err := a.cfg.Section("tui", &cfg); err != nil {
		return err
	}
	// Every answer is recorded in the ledger by a must-deliver subscriber:
	// the digest of what the model was sent, never the conversation itself.
	var loaded atomic.Pointer[string]
	evs := conversation.NewEvents()
	unrecorded := make(chan int, 1)
	go func() {
		sub := evs.Subscribe(cmd.Context(), "ledger", events.MustDeliver, 64)
		unrecorded <- generate.RecordTurns(cmd.Context(), sub.C, a.ledger(), ledgerAutoSigner(a), "tui", func() string {
			if p := loaded.Load(); p != nil {
				return *p
			}
			return ""
		})
	}()
	defer func() {
		evs.Close() // the recorder drains what is left, then says how many failed
		if n := <-unrecorded; n > 0 {
			fmt.Fprintf(a.stderr, "sov: warning: %d answers could not be recorded in the ledger (see sov ledger verify)\n", n)
		}
	}()
	opts := tui.Options{
		Events:   evs,
		Config:   cfg,
		Sampling: p.sampling,
		System:   p.system,
		NoColor:  a.getenv("NO_COLOR") != "",
		Loader: func(ctx context.Context, path string, progress func(float32) bool) (tui.Chatter, error) {
			loaded.Store(&path)
			eng, err := model.Load(ctx, model.Options{Path: path, ContextSize: p.ctx, Threads: p.threads,
				GPULayers: p.gpuLayers, Progress: progress, TrimMemory: true, Sessions: tui.EngineSessions})
			if err != nil {
				return nil, err // not a typed nil in the interface
			}
			return eng, nil
		},
		Models: func() ([]tui.ModelEntry, error) { return shellModels(a) },
	}

	st, err := conversation.Open(a.paths.Sub("tui"), shellSessionTimeout)
	var locked *conversation.LockedError
	switch {
	case errors.As(err, &locked) && (cont || sessID != ""):
		return fmt.Errorf("%v, or start sov without --continue/--session for an unsaved chat", err)
	case errors.As(err, &locked):
		opts.StoreNote = err.Error() + ". This chat will not be saved."
	case err != nil:
		return err
	default:
		defer st.Close()
		opts.Store = st
	}
	if st != nil {
		switch {
		case sessID != "":
			if opts.SessionID, err = st.Resolve(sessID); err != nil {
				return usagef("--session: %v (/sessions in the shell lists them)", err)
			}
		case cont:
			if opts.SessionID, err = st.Last(); err != nil {
				return fmt.Errorf("find the last session: %w", err)
			}
			if opts.SessionID == "" {
				opts.Notice = "No saved session to continue yet: this is a new one."
			}
		}
	}

	path, err := resolveModelPath(a, p.model)
	switch {
	case err == nil:
		opts.ModelPath = path
	case p.model != "":
		return err
	default:
		// No model yet: the shell opens anyway and explains how to get one.
		opts.NoModel = err.Error()
	}
	env := os.Environ()
	return tui.Run(cmd.Context(), opts, a.stdin, out, env)
}

// shellModels lists installed models for /model.
func shellModels(a *app) ([]tui.ModelEntry, error) {
	list, err := store.New(a.paths.Models()).List()
	if err != nil {
		return nil, err
	}
	var out []tui.ModelEntry
	for _, m := range list {
		if !m.Missing {
			out = append(out, tui.ModelEntry{Name: m.Name, Path: m.Path})
		}
	}
	return out, nil
}
