package main

import (
	"fmt"
	"io"
	"io/fs"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/agents/humaneval"
	"github.com/sovos/sov/agents/sandbox"
)

func evalCommands(a *app) []*cobra.Command {
	c := command("eval", "Benchmarks run in the sandbox", nil, func(cmd *cobra.Command, _ []string) error { return cmd.Help() })
	c.AddCommand(a.evalHumanEvalCmd())
	return guard(evalHint, "the evaluation failed unexpectedly (%v)", c)
}

func evalHint(err error) error {
	return withFix(err,
		fix{sandbox.ErrUnsupported, ": sov runs generated code only in its sandbox (Linux with Landlock and unprivileged user namespaces)", false},
		fix{humaneval.ErrLang, "", true},
		fix{fs.ErrNotExist, ": pass --data with the folder that holds humaneval/ and humaneval-x/", false})
}

func (a *app) evalHumanEvalCmd() *cobra.Command {
	var (
		canonical, asJSON bool
		lang, data        string
		limit, workers    int
	)
	c := command("humaneval", "Run HumanEval (Python) or HumanEval-X (Go) in the sandbox", nil, func(cmd *cobra.Command, _ []string) error {
		if !canonical {
			return usagef("only the canonical-solution check is built so far: add --canonical")
		}
		l, err := humaneval.ParseLang(lang)
		if err != nil {
			return err
		}
		sum, err := humaneval.CheckCanonical(cmd.Context(), data, l, limit, workers, func(o humaneval.Outcome) {
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
	})
	c.Flags().BoolVar(&canonical, "canonical", false, "check that every canonical solution passes its tests in the sandbox")
	c.Flags().StringVar(&lang, "lang", "python", "python (HumanEval) or go (HumanEval-X)")
	c.Flags().StringVar(&data, "data", "../shared/data", "folder holding humaneval/HumanEval.jsonl.gz and humaneval-x/humaneval_go.jsonl.gz")
	c.Flags().IntVar(&limit, "limit", 0, "only the first N problems (0: all)")
	c.Flags().IntVar(&workers, "workers", max(1, runtime.NumCPU()/2), "problems run at once")
	c.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return c
}
