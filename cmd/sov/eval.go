package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/agents/humaneval"
	"github.com/sovos/sov/agents/sandbox"
	"github.com/sovos/sov/internal/termtext"
)

func evalCommands(a *app) []*cobra.Command {
	c := command("eval", "Benchmarks run in the sandbox", nil, func(cmd *cobra.Command, _ []string) error { return cmd.Help() })
	c.AddCommand(a.evalHumanEvalCmd())
	return guard(evalHint, "the evaluation failed unexpectedly (%v)", c)
}

func evalHint(err error) error {
	if errors.Is(err, humaneval.ErrCanonical) {
		return codeError{exitRejected, err}
	}
	return withFix(err,
		fix{sandbox.ErrUnsupported, ": sov runs generated code only in its sandbox (Linux with Landlock and unprivileged user namespaces)", false},
		fix{humaneval.ErrLang, "", true},
		fix{fs.ErrNotExist, ": pass --data with the folder that holds humaneval/ and humaneval-x/", false})
}

func (a *app) evalHumanEvalCmd() *cobra.Command {
	var (
		canonical, asJSON bool
		lang, data, mdl   string
		cfg               humaneval.Config
	)
	c := command("humaneval", "Run HumanEval (Python) or HumanEval-X (Go) in the sandbox: a model's pass@1, with and without repair", nil, func(cmd *cobra.Command, _ []string) error {
		l, err := humaneval.ParseLang(lang)
		if err != nil {
			return err
		}
		if cfg.Repairs < 0 || cfg.Limit < 0 || cfg.MaxTokens < 0 || cfg.Model.Threads < 0 {
			return usagef("--repair, --limit, --max-tokens and --threads must not be negative")
		}
		if canonical {
			return a.evalCanonical(cmd, data, l, cfg, asJSON)
		}
		cfg.DataDir, cfg.Lang = data, l
		if cfg.Model.Path, err = a.modelPath(mdl); err != nil {
			return err
		}
		rep, err := humaneval.Evaluate(cmd.Context(), cfg, func(pr humaneval.ProblemResult) {
			if !asJSON {
				fmt.Fprintln(a.stdout, termtext.Clean(pr.Line()))
			}
		})
		var ce *humaneval.CanonicalError
		if errors.As(err, &ce) {
			for _, o := range ce.Summary.Failed {
				a.warnf("%s: the canonical solution failed: %v", o.TaskID, o.Result)
			}
		}
		if err != nil {
			return err
		}
		return a.show(asJSON, rep, rep.Render)
	})
	c.Long = `Run HumanEval (Python) or HumanEval-X (Go) in the sandbox.

Without --canonical: first the canonical solutions of the selected problems
(a failure there is the harness's, not the model's: exit 3), then each
problem through the developer and tester roles on the model, greedy: the
model completes the prompt, the tests run in the sandbox, and a failure is
fed back for at most --repair rounds. Prints pass@1 for the first attempt
and after repair, with tokens and time per problem and in total.`
	f := c.Flags()
	f.BoolVar(&canonical, "canonical", false, "only check that every canonical solution passes its tests in the sandbox")
	f.StringVar(&lang, "lang", "python", "python (HumanEval) or go (HumanEval-X)")
	f.StringVar(&data, "data", "../shared/data", "folder holding humaneval/HumanEval.jsonl.gz and humaneval-x/humaneval_go.jsonl.gz")
	f.IntVar(&cfg.Limit, "limit", 0, "only the first N problems (0: all)")
	f.IntVar(&cfg.Workers, "workers", max(1, runtime.NumCPU()/2), "problems run at once (each its own model session)")
	f.IntVar(&cfg.Repairs, "repair", 0, "repair rounds after a failed first attempt")
	f.IntVar(&cfg.MaxTokens, "max-tokens", 0, "tokens per reply (0: 512)")
	// llama.cpp's arithmetic, and so a greedy answer, varies with the thread
	// count: a fixed one keeps a run reproducible, where 0 follows the load.
	f.IntVar(&cfg.Model.Threads, "threads", max(1, runtime.NumCPU()/2), "CPU threads, fixed so that a run is reproducible (0: follow the cores other work leaves free)")
	f.StringVarP(&mdl, "model", "m", "", "model name or GGUF path (default: SOV_MODEL, the configured default, or the only installed model)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON (every attempt, its code, tokens and time)")
	return c
}

func (a *app) evalCanonical(cmd *cobra.Command, data string, l humaneval.Lang, cfg humaneval.Config, asJSON bool) error {
	sum, err := humaneval.CheckCanonical(cmd.Context(), data, l, cfg.Limit, cfg.Workers, func(o humaneval.Outcome) {
		if !o.Passed && !asJSON {
			a.warnf("%s failed: %v", o.TaskID, o.Result)
		}
	})
	if err != nil {
		return err
	}
	if err := a.show(asJSON, sum, func(w io.Writer) {
		fmt.Fprintf(w, "HumanEval %s canonical solutions: %d/%d pass in the sandbox (%v)\n", sum.Lang, sum.Passed, sum.Total, sum.Duration.Round(1e6))
	}); err != nil {
		return err
	}
	if sum.Passed != sum.Total {
		return codeError{exitRejected, fmt.Errorf("%d of %d canonical solutions failed: the harness or the toolchain is at fault, not a model", sum.Total-sum.Passed, sum.Total)}
	}
	return nil
}
