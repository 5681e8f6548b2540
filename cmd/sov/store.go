package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model/store"
)

// storeCommands returns pull and models; their errors get storeHint's hints.
func storeCommands(a *app) []*cobra.Command {
	cmds := []*cobra.Command{newStorePullCmd(a), newStoreModelsCmd(a)}
	var hint func(c *cobra.Command)
	hint = func(c *cobra.Command) {
		if run := c.RunE; run != nil {
			c.RunE = func(cmd *cobra.Command, args []string) error { return storeHint(run(cmd, args)) }
		}
		for _, sub := range c.Commands() {
			hint(sub)
		}
	}
	for _, c := range cmds {
		hint(c)
	}
	return cmds
}

func newStorePullCmd(a *app) *cobra.Command {
	var opts store.PullOptions
	cmd := &cobra.Command{
		Use:   "pull REF",
		Short: "Download or register a GGUF model",
		Long: `Download or register a GGUF model. REF is one of:
  hf.co/OWNER/REPO:QUANT       the repository's .gguf for that quantisation
  hf.co/OWNER/REPO/FILE.gguf   one file of a Hugging Face repository
  https://HOST/PATH/x.gguf     any URL
  ./local.gguf                 a file on this machine (copied; --link to use it in place)
Downloads resume after an interruption: run the same command again.
SOV_HF_ENDPOINT sets the Hugging Face address (a mirror); HF_TOKEN is sent for gated repositories.`,
		Example: "  sov pull hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M\n  sov pull ./model.gguf --link",
		Args:    exactArgs(1, "sov pull REF [--link] [--sha256 HEX] [--name NAME]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			bar := store.NewPrinter(a.stderr)
			opts.Endpoint, opts.Token, opts.Progress = store.EndpointFromEnv(a.getenv), a.getenv(store.EnvToken), bar.Update
			m, err := store.New(a.paths.Models()).Pull(cmd.Context(), args[0], opts)
			bar.End()
			if err != nil {
				return err
			}
			how := map[bool]string{false: "installed", true: "linked"}[m.Linked]
			fmt.Fprintf(a.stdout, "%s %s: %s, %s parameters, %s, %s (%s)\n", how, m.Name, termtext.Clean(m.Architecture),
				store.FormatParams(m.Parameters), m.Quantization, store.FormatBytes(m.Size), m.Path)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.Link, "link", false, "register a local file in place instead of copying it")
	f.StringVar(&opts.SHA256, "sha256", "", "expected sha256 of the file (hex); the pull fails and keeps nothing on a mismatch")
	f.StringVar(&opts.Name, "name", "", "name for the model (default: the file name without .gguf)")
	return cmd
}

func newStoreModelsCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List installed models (show, rm and default manage them)",
		Args:  exactArgs(0, "sov models [--json] | sov models show|rm|default NAME"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			models, err := store.New(a.paths.Models()).List()
			if err != nil {
				return err
			}
			def, err := store.DefaultFromConfig(a.cfg)
			if err != nil {
				return err
			}
			if asJSON {
				type row struct {
					store.Model
					Default bool `json:"default"`
				}
				rows := make([]row, len(models))
				for i, m := range models {
					rows[i] = row{m, def != "" && m.Name == def}
				}
				return writeJSON(a.stdout, rows)
			}
			if len(models) == 0 {
				fmt.Fprintln(a.stderr, "no models installed: pull one with sov pull hf.co/OWNER/REPO:Q4_K_M, or sov pull ./model.gguf --link")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSIZE\tARCH\tPARAMS\tQUANT\tCONTEXT\tCHAT TEMPLATE")
			for _, m := range models {
				n := m.Name
				if n == def {
					n += " (default)"
				}
				if m.Missing {
					n += " (file missing)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", n, store.FormatBytes(m.Size), termtext.Clean(m.Architecture),
					store.FormatParams(m.Parameters), m.Quantization, m.ContextLength, yesNo(m.ChatTemplate))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON")
	cmd.AddCommand(newStoreShowCmd(a), newStoreRmCmd(a), newStoreDefaultCmd(a))
	return cmd
}

func newStoreShowCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Print a model's GGUF metadata",
		Args:  exactArgs(1, "sov models show NAME [--json]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, f, err := store.New(a.paths.Models()).Show(args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, struct {
					store.Model
					Version  uint32         `json:"gguf_version"`
					Tensors  int            `json:"tensors"`
					Metadata map[string]any `json:"metadata"`
				}{m, f.Version, len(f.Tensors), f.JSONMetadata()})
			}
			w := a.stdout
			fmt.Fprintf(w, "name           %s\npath           %s\n", m.Name, m.Path)
			if m.Linked {
				fmt.Fprintf(w, "linked         yes (sov models rm keeps the file)\n")
			}
			fmt.Fprintf(w, "source         %s\n", termtext.Clean(m.Source))
			fmt.Fprintf(w, "size           %s (%d bytes)\n", store.FormatBytes(m.Size), m.Size)
			if m.SHA256 != "" {
				fmt.Fprintf(w, "sha256         %s\n", m.SHA256)
			}
			fmt.Fprintf(w, "architecture   %s\n", termtext.Clean(f.Architecture()))
			fmt.Fprintf(w, "parameters     %s (%d)\n", store.FormatParams(f.ParameterCount()), f.ParameterCount())
			fmt.Fprintf(w, "quantisation   %s\n", f.Quantization())
			fmt.Fprintf(w, "context        %d\n", f.ContextLength())
			fmt.Fprintf(w, "embedding      %d\n", f.EmbeddingLength())
			fmt.Fprintf(w, "chat template  %s\n", yesNo(f.HasChatTemplate()))
			fmt.Fprintf(w, "gguf           version %d, %d tensors, %d metadata keys\n\nmetadata:\n", f.Version, len(f.Tensors), len(f.KV))
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, kv := range f.KV {
				fmt.Fprintf(tw, "  %s\t%s\n", termtext.Clean(kv.Key), kv.Summary())
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func newStoreRmCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"remove"},
		Short:   "Remove a model (a linked file itself is kept)",
		Args:    exactArgs(1, "sov models rm NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := store.New(a.paths.Models()).Remove(args[0])
			if err != nil {
				return err
			}
			if m.Linked {
				fmt.Fprintf(a.stdout, "removed %s (the linked file %s is kept)\n", m.Name, m.Path)
			} else {
				fmt.Fprintf(a.stdout, "removed %s\n", m.Name)
			}
			if was, err := store.UnsetDefault(a.paths.ConfigFile(), m.Name); err != nil || !was {
				return err
			}
			fmt.Fprintf(a.stderr, "%s was the default model; choose another with sov models default NAME\n", m.Name)
			return nil
		},
	}
}

func newStoreDefaultCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "default [NAME]",
		Short: "Set (or print) the model used when --model and SOV_MODEL are not given",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("usage: sov models default [NAME]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				def, err := store.DefaultFromConfig(a.cfg)
				if err == nil && def == "" {
					fmt.Fprintln(a.stderr, "no default model set: set one with sov models default NAME")
				} else if err == nil {
					fmt.Fprintln(a.stdout, def)
				}
				return err
			}
			choice, err := store.New(a.paths.Models()).Canonical(args[0])
			if err != nil {
				return err
			}
			if err := store.SetDefault(a.paths.ConfigFile(), choice); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "default model: %s\n", choice)
			return nil
		},
	}
}

func yesNo(b bool) string { return map[bool]string{true: "yes", false: "no"}[b] }
