package tui

import (
	"context"
	"fmt"
	"os"

	tea "charm.land/bubbletea/v2"
)

// Run opens the shell on the terminal in/out and returns when the user
// quits. A running answer is stopped and saved before Run returns.
func Run(ctx context.Context, opts Options, in, out *os.File, env []string) error {
	app, err := New(ctx, opts)
	if err != nil {
		return err
	}
	p := tea.NewProgram(app,
		tea.WithContext(ctx),
		tea.WithInput(in),
		tea.WithOutput(out),
		tea.WithEnvironment(env),
	)
	_, err = p.Run()
	app.Shutdown()
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("shell: %w", err)
	}
	return ctx.Err()
}
