package main

// The helpers every command tree shares: building commands, checking
// arguments, turning library errors into hints and exit codes, reading
// secrets and writing output.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/internal/termtext"
)

// usageError marks errors caused by how sov was called (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// command is a command with its one-line help; nil args takes none.
func command(use, short string, args cobra.PositionalArgs, run func(*cobra.Command, []string) error) *cobra.Command {
	if args == nil {
		args = nargs(0, 0, "")
	}
	return &cobra.Command{Use: use, Short: short, Args: args, RunE: run}
}

// nargs wants lo to hi positional arguments (hi < 0: no limit); another
// count is a usage error saying what is needed and showing the use line.
func nargs(lo, hi int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case hi >= 0 && len(args) > hi && cmd.HasAvailableSubCommands():
			return usagef("unknown command %q (see %s --help)", args[hi], cmd.CommandPath())
		case hi >= 0 && len(args) > hi:
			return usagef("unexpected argument %q: usage: %s", args[hi], cmd.UseLine())
		case len(args) < lo:
			return usagef("%s needs %s: usage: %s", cmd.CommandPath(), what, cmd.UseLine())
		}
		return nil
	}
}

// fix is the CLI's way out of a library error, whose messages name no
// command or flag.
type fix struct {
	match any    // a sentinel error, or a **T for errors.As
	hint  string // added to the message
	usage bool   // sov was called wrong: exit 2
}

// withFix adds the hint of the first fix that err matches.
func withFix(err error, fixes ...fix) error {
	for _, f := range fixes {
		if target, ok := f.match.(error); ok && !errors.Is(err, target) || !ok && !errors.As(err, f.match) {
			continue
		}
		if f.usage {
			return usagef("%w%s", err, f.hint)
		}
		return fmt.Errorf("%w%s", err, f.hint)
	}
	return err
}

// guard wraps cmds and their subcommands: their errors go through hint,
// and a panic (bbolt panics on some corruption of its file) becomes the
// damaged error, never a crash.
func guard(hint func(error) error, damaged string, cmds ...*cobra.Command) []*cobra.Command {
	for _, c := range cmds {
		guard(hint, damaged, c.Commands()...)
		if run := c.RunE; run != nil {
			c.RunE = func(cmd *cobra.Command, args []string) (err error) {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf(damaged, r)
					}
				}()
				return hint(run(cmd, args))
			}
		}
	}
	return cmds
}

// secret reads the secret called name from the file that cmd's --flag
// names (no flag: none), else $env, else a no-echo prompt; with confirm,
// one being chosen (see prompt.Console.Passphrase).
func (a *app) secret(cmd *cobra.Command, flag, name, env string, confirm bool) func() ([]byte, error) {
	return func() ([]byte, error) {
		var file string
		if flag != "" {
			file, _ = cmd.Flags().GetString(flag)
		}
		p, err := prompt.Console{Getenv: a.getenv, Stdin: a.stdin, Stderr: a.stderr}.Passphrase(name, env, file, confirm)
		if errors.Is(err, prompt.ErrNoSecret) && flag != "" {
			return nil, fmt.Errorf("%w (or use --%s)", err, flag)
		}
		return p, err
	}
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(termtext.JSONWriter{W: w}) // C1 and bidi escaped too
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeJSONLines writes each of vs as one line of JSON (JSON Lines).
func writeJSONLines[T any](w io.Writer, vs []T) error {
	enc := json.NewEncoder(termtext.JSONWriter{W: w})
	enc.SetEscapeHTML(false)
	for _, v := range vs {
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return nil
}

// show writes v to stdout: as JSON with asJSON, else as text (render's,
// or v's String() when render is nil) cleaned of control characters.
func (a *app) show(asJSON bool, v any, render func(io.Writer)) error {
	if asJSON {
		return writeJSON(a.stdout, v)
	}
	var b strings.Builder
	if render != nil {
		render(&b)
	} else {
		b.WriteString(v.(fmt.Stringer).String())
	}
	_, err := io.WriteString(a.stdout, termtext.Clean(b.String()))
	return err
}

// say prints the message, cleaned of control characters, on stdout when err
// is nil, and returns err.
func (a *app) say(err error, format string, args ...any) error {
	if err == nil {
		fmt.Fprintln(a.stdout, termtext.Clean(fmt.Sprintf(format, args...)))
	}
	return err
}

// warnf prints a warning on stderr, cleaned of control characters.
func (a *app) warnf(format string, args ...any) {
	fmt.Fprintln(a.stderr, "sov: warning:", termtext.Clean(fmt.Sprintf(format, args...)))
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && prompt.IsTerminal(f)
}

// edit opens files in the user's $VISUAL or $EDITOR (vi without either)
// at this terminal and waits for it to exit.
func (a *app) edit(ctx context.Context, files ...string) error {
	editor := cmp.Or(a.getenv("VISUAL"), a.getenv("EDITOR"), "vi")
	script := editor
	for i := range files {
		script += fmt.Sprintf(` "$%d"`, i+1)
	}
	ed := exec.CommandContext(ctx, "sh", append([]string{"-c", script, "sh"}, files...)...)
	ed.Stdin, ed.Stdout, ed.Stderr = a.stdin, a.stdout, a.stderr
	if err := ed.Run(); err != nil {
		return fmt.Errorf("editor %s: %w", editor, err)
	}
	return nil
}
