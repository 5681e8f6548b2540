package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model/gguf"
	"github.com/sovos/sov/model/store"
)

// storeCommands returns pull, models and doctor; their errors get
// storeHint's hints.
func storeCommands(a *app) []*cobra.Command {
	return guard(storeHint, "the model store failed unexpectedly (%v)", a.pullCmd(), a.modelsCmd(), a.doctorCmd())
}

// storeHint adds what to run or pass to the model store's errors, which
// name no command or flag.
func storeHint(err error) error {
	var missing *store.MissingError
	var taken *store.NameTakenError
	var differs *store.InstalledMismatchError
	switch {
	case errors.As(err, &missing):
		return fmt.Errorf("%w: pull it again, or remove it with sov models rm %s", err, missing.Model.Name)
	case errors.As(err, &differs):
		return fmt.Errorf("%w: check the --sha256 value, or remove it with sov models rm %s and pull it again", err, differs.Model.Name)
	case errors.As(err, &taken):
		return fmt.Errorf("%w: choose another with --name, or remove it first with sov models rm %s", err, taken.Name)
	}
	return withFix(err,
		fix{store.ErrNoModel, ": pull one with sov pull hf.co/OWNER/REPO:Q4_K_M (e.g. sov pull hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M), or register a local file with sov pull ./model.gguf --link", false},
		fix{store.ErrNoneChosen, ": pass --model NAME, set " + store.EnvModel + ", or run sov models default NAME", false},
		fix{store.ErrNotFound, ": see sov models for the names, or pull one with sov pull hf.co/OWNER/REPO:Q4_K_M", false},
		fix{store.ErrNoSuchFile, ", or pull one with sov pull hf.co/OWNER/REPO:QUANT", false},
		fix{store.ErrLinkRemote, ": drop --link to download it", false},
		fix{store.ErrNoFileName, " with --name", false},
		fix{store.ErrBadSHA256, " for --sha256", false},
		fix{store.ErrChecksum, ": check the file or the --sha256 value, and pull again", false},
		fix{store.ErrInterrupted, ": run the same sov pull again to resume", false},
		fix{gguf.ErrNotGGUF, ", e.g. one from sov pull hf.co/OWNER/REPO:Q4_K_M", false})
}

// modelPath picks the model file (--model's value, see App.ModelPath),
// with what to do when there is none.
func (a *app) modelPath(flag string) (string, error) {
	p, err := a.ModelPath(flag)
	return p, storeHint(err)
}

// setDraft sets *dst to --draft-model's file ("" without one).
func (a *app) setDraft(dst *string, flag string) (err error) {
	if *dst, err = a.DraftModelPath(flag); err != nil {
		return fmt.Errorf("--draft-model: %w", storeHint(err))
	}
	return nil
}

func (a *app) pullCmd() *cobra.Command {
	var opts store.PullOptions
	cmd := command("pull REF", "Download or register a GGUF model", nargs(1, 1, "a model reference"), func(cmd *cobra.Command, args []string) error {
		bar := store.NewPrinter(a.stderr)
		opts.Endpoint, opts.Token, opts.Progress = store.EndpointFromEnv(a.getenv), a.getenv(store.EnvToken), bar.Update
		m, err := a.Models().Pull(cmd.Context(), args[0], opts)
		bar.End()
		how := map[bool]string{false: "installed", true: "linked"}[m.Linked]
		return a.say(err, "%s %s: %s", how, m.Name, termtext.Clean(m.Summary()))
	})
	cmd.Long = `Download or register a GGUF model. REF is one of:
  hf.co/OWNER/REPO:QUANT       the repository's .gguf for that quantisation
  hf.co/OWNER/REPO/FILE.gguf   one file of a Hugging Face repository
  https://HOST/PATH/x.gguf     any URL
  ./local.gguf                 a file on this machine (copied; --link to use it in place)
Downloads resume after an interruption: run the same command again.
SOV_HF_ENDPOINT sets the Hugging Face address (a mirror); HF_TOKEN is sent for gated repositories.`
	cmd.Example = "  sov pull hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M\n  sov pull ./model.gguf --link"
	cmd.Flags().BoolVar(&opts.Link, "link", false, "register a local file in place instead of copying it")
	cmd.Flags().StringVar(&opts.SHA256, "sha256", "", "expected sha256 of the file (hex); the pull fails and keeps nothing on a mismatch")
	cmd.Flags().StringVar(&opts.Name, "name", "", "name for the model (default: the file name without .gguf)")
	return cmd
}

func (a *app) modelsCmd() *cobra.Command {
	var asJSON bool
	cmd := command("models", "List installed models (show, rm and default manage them)", nil, func(cmd *cobra.Command, _ []string) error {
		l, err := a.ModelListing()
		if err == nil && len(l) == 0 && !asJSON {
			fmt.Fprintln(a.stderr, "no models installed: pull one with sov pull hf.co/OWNER/REPO:Q4_K_M, or sov pull ./model.gguf --link")
			return nil
		}
		if err != nil {
			return err
		}
		return a.show(asJSON, l, nil)
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON")
	cmd.AddCommand(a.modelsShowCmd(), a.modelsRmCmd(), a.modelsDefaultCmd())
	return cmd
}

func (a *app) modelsShowCmd() *cobra.Command {
	var asJSON bool
	cmd := command("show NAME", "Print a model's GGUF metadata", nargs(1, 1, "a model name"), func(cmd *cobra.Command, args []string) error {
		m, f, err := a.Models().Show(args[0])
		if err != nil {
			return err
		}
		return a.show(asJSON, store.NewDetails(m, f), nil)
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func (a *app) modelsRmCmd() *cobra.Command {
	cmd := command("rm NAME", "Remove a model (a linked file itself is kept)", nargs(1, 1, "a model name"), func(cmd *cobra.Command, args []string) error {
		m, wasDefault, err := a.RemoveModel(args[0])
		kept := map[bool]string{true: " (the linked file " + m.Path + " is kept)"}[m.Linked]
		if err := a.say(err, "removed %s%s", m.Name, kept); err != nil || !wasDefault {
			return err
		}
		fmt.Fprintf(a.stderr, "%s was the default model; choose another with sov models default NAME\n", m.Name)
		return nil
	})
	cmd.Aliases = []string{"remove"}
	return cmd
}

func (a *app) modelsDefaultCmd() *cobra.Command {
	return command("default [NAME]", "Set (or print) the model used when --model and SOV_MODEL are not given", nargs(0, 1, ""), func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			def, err := store.DefaultFromConfig(a.Config)
			if err == nil && def == "" {
				fmt.Fprintln(a.stderr, "no default model set: set one with sov models default NAME")
			} else if err == nil {
				fmt.Fprintln(a.stdout, def)
			}
			return err
		}
		choice, err := a.Models().Canonical(args[0])
		if err == nil {
			err = store.SetDefault(a.Paths.ConfigFile(), choice)
		}
		return a.say(err, "default model: %s", choice)
	})
}

func (a *app) doctorCmd() *cobra.Command {
	var asJSON bool
	cmd := command("doctor", "Show the llama.cpp build, devices, paths and installed models", nil, func(cmd *cobra.Command, _ []string) error {
		d := a.Doctor()
		if len(d.Models) == 0 && d.ModelsErr == nil && !asJSON {
			defer fmt.Fprintln(a.stderr, "pull a model with sov pull hf.co/OWNER/REPO:QUANT, or sov pull ./model.gguf --link")
		}
		return a.show(asJSON, d, nil)
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
