package main

// `sov build`: a request becomes tested code through the role agents
// (agents/roles); this file is flags, the review at a terminal, rendering
// and exit codes.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/agents/roles"
	"github.com/sovos/sov/agents/sandbox"
	core "github.com/sovos/sov/app"
	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
)

// exitTestsFailed: the build finished and some acceptance test fails.
const exitTestsFailed = 3

func buildCommands(a *app) []*cobra.Command {
	var (
		r              core.BuildRun
		lang, resume   string
		yes, asJSON    bool
		unsafe         bool
		testTimeout    time.Duration
		maxTokens, rep int
	)
	c := command(`build "REQUEST"`, "Turn a request into tested code: product manager, architect, developer and tester agents, sandboxed and resumable", nargs(0, 1, "a request"), func(cmd *cobra.Command, args []string) error {
		switch {
		case resume == "" && len(args) == 0:
			return usagef(`sov build needs a request: sov build "a function that adds two numbers" (or --resume DIR)`)
		case resume != "" && len(args) > 0:
			return usagef("--resume continues the request saved in the folder: give no request with it")
		}
		l, err := roles.ParseLang(lang)
		if err != nil {
			return usageError{err}
		}
		r.Lang, r.Repair, r.MaxTokens, r.TestWall, r.Unsafe, r.Approve = l, rep, maxTokens, testTimeout, unsafe, yes
		if resume != "" {
			r.Dir, r.Resume = resume, true
		} else {
			r.Request = args[0]
			r.Dir = cmp.Or(r.Dir, roles.DefaultDir(args[0]))
		}
		if isTerminal(a.stdin) && isTerminal(a.stderr) {
			r.Review, r.Ask = a.buildReview, a.buildAsk
		}
		r.Events = a.buildEvents()
		rep, err := a.Build(cmd.Context(), r)
		if rep != nil {
			if serr := a.show(asJSON, rep, rep.Render); serr != nil && err == nil {
				err = serr
			}
		}
		switch {
		case errors.Is(err, roles.ErrNeedsReview):
			return codeError{exitNeedsApproval, fmt.Errorf("%w: read %s and %s, then sov build --resume %s --yes (or run it at a terminal)", err, roles.PRDFile, roles.AcceptanceFile, r.Dir)}
		case errors.Is(err, roles.ErrNeedsAnswer):
			return codeError{exitNeedsApproval, fmt.Errorf("%w (the question is in the report): run sov build again with a clearer request, or at a terminal to answer it", err)}
		case errors.Is(err, roles.ErrStopped):
			return codeError{exitNeedsApproval, fmt.Errorf("%w: the artifacts are in %s; sov build --resume %s continues", err, r.Dir, r.Dir)}
		case err != nil:
			return err // guard adds the hint
		case rep.Failed > 0 || rep.Passed == 0:
			return codeError{exitTestsFailed, fmt.Errorf("%d of %d acceptance tests fail (the report says which)", rep.Failed, rep.Passed+rep.Failed)}
		}
		return nil
	})
	c.Long = `Turn a request into tested code with a team of role agents on the local model:
a product manager writes docs/prd.md and docs/acceptance.json (user stories and
acceptance tests as runnable cases), you review them, an architect writes
docs/design.md and docs/tasks.json, a developer writes the code one task at a
time (only inside the build folder), and a tester runs the acceptance cases in
the sandbox, feeding failures back to the developer at most --repair times per
task. The report (.sov/report.json, and printed) says what passes, what does
not, the artifacts, and tokens and time per role.

Every structured artifact is grammar-forced JSON checked against its schema.
At a terminal you approve the PRD and acceptance tests, edit them in $EDITOR,
or stop; headless, --yes approves them, and without it the build stops with
exit 4 and the artifacts on disk. Each step is saved in the folder's .sov/
(with the sha256 of what it produced): --resume DIR continues from the last
completed step, and an artifact you edited re-runs the steps after it.

Code runs only in the sandbox; where it is unavailable the build refuses
unless --unsafe-host. Exit codes: 0 every acceptance test passes, 1 error,
2 usage, 3 some acceptance test fails, 4 needs your review or answer,
130 interrupted.`
	c.Example = `  sov build "a function that returns the nth Fibonacci number" --dir fib
  sov build "word counts of a text" --lang go --yes --json < /dev/null
  sov build --resume fib`
	f := c.Flags()
	f.StringVar(&r.Dir, "dir", "", "the build folder (default: a new folder named after the request)")
	f.StringVar(&lang, "lang", "python", "the language to write: python or go")
	f.BoolVar(&yes, "yes", false, "approve the PRD and acceptance tests without a review (needed headless)")
	jsonFlag(&asJSON, c, "print the report as JSON (progress stays on stderr)")
	f.IntVar(&rep, "repair", roles.DefaultRepair, "repair rounds per task after failing tests")
	f.StringVar(&resume, "resume", "", "continue the build in this folder")
	f.StringVar(&r.ModelName, "model", "", "model name or GGUF path (default: sov's default model)")
	f.BoolVar(&unsafe, "unsafe-host", false, "where the sandbox is unavailable, run the tests on this machine unsandboxed")
	f.IntVar(&maxTokens, "max-tokens", roles.DefaultMaxTokens, "tokens per model reply (a structured reply at the cap is closed validly)")
	f.DurationVar(&testTimeout, "test-timeout", roles.DefaultTestWall, "wall-clock limit of one test run")
	f.IntVar(&r.Engine.ContextSize, "ctx", 0, "context size in tokens (0 = the model's, at most 4096)")
	f.IntVar(&r.Engine.Threads, "threads", 0, "CPU threads (0 = the cores other work leaves free)")
	return guard(buildHint, "the build failed unexpectedly (%v)", c)
}

func buildHint(err error) error {
	return withFix(err,
		fix{sandbox.ErrUnsupported, ": sov build runs generated code only in its sandbox (Linux with Landlock and unprivileged user namespaces); --unsafe-host runs it on this machine unsandboxed", false},
		fix{roles.ErrNotABuild, ": --resume takes a folder an earlier sov build wrote", true},
		fix{roles.ErrIsABuild, ": continue it with --resume, or choose another --dir", true},
		fix{roles.ErrInvalidArtifact, ": fix the file (or delete it to have its step run again), then --resume", false},
		fix{model.ErrPromptTooLong, ": a role's prompt needs a larger context: add --ctx 4096 (or more), then --resume", false})
}

// buildEvents prints a line per step and role call on stderr.
func (a *app) buildEvents() func(roles.Event) {
	return func(e roles.Event) {
		if line := e.Line(); line != "" {
			fmt.Fprintln(a.stderr, termtext.Clean(line))
		}
	}
}

// buildReview shows the PRD and the acceptance cases and asks: approve,
// edit (in $EDITOR, then shown again) or stop.
func (a *app) buildReview(ctx context.Context, d roles.ReviewDocs) (bool, error) {
	for {
		if b, err := os.ReadFile(d.PRD); err == nil {
			d.Text = string(b) // again after an edit
		}
		fmt.Fprintf(a.stderr, "\n%s\n(%s, %s)\n[a]pprove, [e]dit, [s]top? ", termtext.Clean(d.Text), d.PRD, d.Acceptance)
		line, err := prompt.Line(a.stdin)
		if err != nil {
			return false, err
		}
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "a", "approve", "y", "yes":
			return true, nil
		case "s", "stop", "n", "no", "q":
			return false, nil
		case "e", "edit":
			if err := a.edit(ctx, d.PRD, d.Acceptance); err != nil {
				return false, err
			}
			if b, err := os.ReadFile(d.Acceptance); err != nil || !json.Valid(b) {
				a.warnf("%s is not valid JSON; edit it again", d.Acceptance)
			}
		}
	}
}

// buildAsk puts the product manager's question to the person.
func (a *app) buildAsk(_ context.Context, q string) (string, error) {
	fmt.Fprintf(a.stderr, "The product manager asks: %s\n> ", termtext.Clean(q))
	return prompt.Line(a.stdin)
}
