package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/model/gguf"
	"github.com/sovos/sov/model/store"
)

// storeCommands returns pull and models.
func storeCommands(a *app) []*cobra.Command {
	return []*cobra.Command{newStorePullCmd(a), newStoreModelsCmd(a)}
}

// storeArgs makes a wrong number of arguments a usage error (exit 2).
func storeArgs(n int, usage string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("usage: %s", usage)
		}
		return nil
	}
}

func newStorePullCmd(a *app) *cobra.Command {
	var link bool
	var sum, name string
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
		Args:    storeArgs(1, "sov pull REF [--link] [--sha256 HEX] [--name NAME]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s := store.New(a.paths.Models())
			bar := newStoreProgress(a.stderr)
			m, err := s.Pull(cmd.Context(), args[0], store.PullOptions{
				Name:     name,
				Link:     link,
				SHA256:   sum,
				Endpoint: store.EndpointFromEnv(a.getenv),
				Token:    a.getenv(store.EnvToken),
				Progress: bar.update,
			})
			bar.end()
			if err != nil {
				return err
			}
			how := "installed"
			if m.Linked {
				how = "linked"
			}
			fmt.Fprintf(a.stdout, "%s %s: %s, %s parameters, %s, %s (%s)\n", how, m.Name, m.Architecture,
				storeParams(m.Parameters), m.Quantization, store.FormatBytes(m.Size), m.Path)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&link, "link", false, "register a local file in place instead of copying it")
	f.StringVar(&sum, "sha256", "", "expected sha256 of the file (hex); the pull fails and keeps nothing on a mismatch")
	f.StringVar(&name, "name", "", "name for the model (default: the file name without .gguf)")
	return cmd
}

func newStoreModelsCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List installed models (show, rm and default manage them)",
		Args:  storeArgs(0, "sov models [--json] | sov models show|rm|default NAME"),
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
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
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
				tmpl := "no"
				if m.ChatTemplate {
					tmpl = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", n, store.FormatBytes(m.Size), m.Architecture,
					storeParams(m.Parameters), m.Quantization, m.ContextLength, tmpl)
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
		Args:  storeArgs(1, "sov models show NAME [--json]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, f, err := store.New(a.paths.Models()).Show(args[0])
			if err != nil {
				return err
			}
			if asJSON {
				meta := map[string]any{}
				for _, kv := range f.KV {
					meta[kv.Key] = storeJSONValue(kv.Value)
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					store.Model
					Version  uint32         `json:"gguf_version"`
					Tensors  int            `json:"tensors"`
					Metadata map[string]any `json:"metadata"`
				}{m, f.Version, len(f.Tensors), meta})
			}
			w := a.stdout
			fmt.Fprintf(w, "name           %s\n", m.Name)
			fmt.Fprintf(w, "path           %s\n", m.Path)
			if m.Linked {
				fmt.Fprintf(w, "linked         yes (sov models rm keeps the file)\n")
			}
			fmt.Fprintf(w, "source         %s\n", m.Source)
			fmt.Fprintf(w, "size           %s (%d bytes)\n", store.FormatBytes(m.Size), m.Size)
			if m.SHA256 != "" {
				fmt.Fprintf(w, "sha256         %s\n", m.SHA256)
			}
			fmt.Fprintf(w, "architecture   %s\n", f.Architecture())
			fmt.Fprintf(w, "parameters     %s (%d)\n", storeParams(f.ParameterCount()), f.ParameterCount())
			fmt.Fprintf(w, "quantisation   %s\n", f.Quantization())
			fmt.Fprintf(w, "context        %d\n", f.ContextLength())
			fmt.Fprintf(w, "embedding      %d\n", f.EmbeddingLength())
			fmt.Fprintf(w, "chat template  %s\n", map[bool]string{true: "yes", false: "no"}[f.HasChatTemplate()])
			fmt.Fprintf(w, "gguf           version %d, %d tensors, %d metadata keys\n\nmetadata:\n", f.Version, len(f.Tensors), len(f.KV))
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, kv := range f.KV {
				fmt.Fprintf(tw, "  %s\t%s\n", kv.Key, storeShowValue(kv.Value))
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
		Args:    storeArgs(1, "sov models rm NAME"),
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
			if def, _ := store.DefaultFromConfig(a.cfg); def == m.Name {
				if err := store.SetDefault(a.paths.ConfigFile(), ""); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "%s was the default model; choose another with sov models default NAME\n", m.Name)
			}
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
				if err != nil {
					return err
				}
				if def == "" {
					fmt.Fprintln(a.stderr, "no default model set: set one with sov models default NAME")
					return nil
				}
				fmt.Fprintln(a.stdout, def)
				return nil
			}
			// A name, or a path to a GGUF file (validated).
			s := store.New(a.paths.Models())
			choice := args[0]
			if m, err := s.Get(choice); err == nil {
				choice = m.Name
			} else if p, rerr := s.Resolve(choice, nil, ""); rerr == nil {
				choice = p
			} else {
				return rerr
			}
			if err := store.SetDefault(a.paths.ConfigFile(), choice); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "default model: %s\n", choice)
			return nil
		},
	}
}

// storeParams renders a parameter count as e.g. "292.8K", "7.2B".
func storeParams(n uint64) string {
	switch {
	case n >= 1e9:
		return strconv.FormatFloat(float64(n)/1e9, 'f', 1, 64) + "B"
	case n >= 1e6:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + "M"
	case n >= 1e3:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + "K"
	}
	return strconv.FormatUint(n, 10)
}

// storeArrayShown is the longest array printed in full; longer ones (the
// vocabulary, merges, scores) are summarised by their length.
const storeArrayShown = 16

func storeShowValue(v any) string {
	switch x := v.(type) {
	case string:
		return storeShortString(x)
	case gguf.Array:
		if x.Len() > storeArrayShown {
			return fmt.Sprintf("[%d × %s]", x.Len(), x.Type)
		}
		if ss, ok := x.Values.([]string); ok {
			q := make([]string, len(ss))
			for i, s := range ss {
				q[i] = storeShortString(s)
			}
			return "[" + strings.Join(q, ", ") + "]"
		}
		return fmt.Sprint(x.Values)
	}
	return fmt.Sprint(v)
}

// storeShortString quotes s when it has special characters and shortens
// long text (chat templates) to one line.
func storeShortString(s string) string {
	const max = 100
	r := []rune(s)
	short := s
	if len(r) > max {
		short = string(r[:max])
	}
	q := strconv.Quote(short)
	if len(r) > max {
		q += fmt.Sprintf("… (%d characters)", len(r))
	}
	return q
}

func storeJSONValue(v any) any {
	a, ok := v.(gguf.Array)
	if !ok {
		if f, ok := v.(float32); ok {
			// Print 1e-05, not 9.999999747378752e-06.
			d, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
			return d
		}
		return v
	}
	if a.Len() > storeArrayShown {
		return map[string]any{"type": a.Type.String(), "length": a.Len()}
	}
	return a.Values
}

// storeProgress draws pull progress on stderr: a redrawn bar on a terminal,
// plain lines every 10% otherwise.
type storeProgress struct {
	w       io.Writer
	tty     bool
	start   time.Time
	phase   string
	lastPct int
	drawn   bool
	width   int // terminal columns
}

func newStoreProgress(w io.Writer) *storeProgress {
	p := &storeProgress{w: w, lastPct: -1}
	if f, ok := w.(*os.File); ok {
		p.tty = prompt.IsTerminal(f)
		if p.tty {
			p.width, _, _ = term.GetSize(int(f.Fd()))
		}
	}
	return p
}

func (p *storeProgress) update(ev store.Progress) {
	if ev.Phase != p.phase {
		p.phase, p.start, p.lastPct = ev.Phase, time.Now(), -1
		if !p.tty {
			verb := map[string]string{"download": "downloading", "copy": "copying", "verify": "verifying"}[ev.Phase]
			line := fmt.Sprintf("%s %s", verb, ev.File)
			if ev.Total >= 0 {
				line += " (" + store.FormatBytes(ev.Total) + ")"
			}
			if ev.Resumed > 0 {
				line += ", resuming at " + store.FormatBytes(ev.Resumed)
			}
			fmt.Fprintln(p.w, line)
		}
	}
	elapsed := time.Since(p.start)
	var speed float64
	if s := elapsed.Seconds(); s > 0 {
		speed = float64(ev.Done-ev.Resumed) / s
	}
	pct := -1
	if ev.Total > 0 {
		pct = int(ev.Done * 100 / ev.Total)
	}
	if p.tty {
		// Fit the line in the terminal so \r redraws in place: the numbers
		// take at most ~52 columns, the name and the bar share the rest.
		name, width := 24, 20
		if p.width > 0 {
			name = 16
			width = min(max(p.width-1-name-52, 5), 30)
		}
		bar := strings.Repeat("·", width)
		if pct >= 0 {
			n := pct * width / 100
			bar = strings.Repeat("█", n) + strings.Repeat("·", width-n)
		}
		eta := "--"
		if speed > 0 && ev.Total > 0 {
			eta = (time.Duration(float64(ev.Total-ev.Done)/speed) * time.Second).Round(time.Second).String()
		}
		fmt.Fprintf(p.w, "\r%s %s %3d%% %s/%s %s/s ETA %s\x1b[K", storeTrim(ev.File, name), bar, max(pct, 0),
			store.FormatBytes(ev.Done), storeTotal(ev.Total), store.FormatBytes(int64(speed)), eta)
		p.drawn = true
		if ev.Final {
			fmt.Fprintln(p.w)
			p.drawn = false
		}
		return
	}
	if ev.Final {
		fmt.Fprintf(p.w, "%s: done, %s in %s (%s/s)\n", ev.File, store.FormatBytes(ev.Done),
			elapsed.Round(time.Millisecond), store.FormatBytes(int64(speed)))
		return
	}
	if pct >= 0 && pct/10 > p.lastPct/10 && pct < 100 && pct > 0 {
		p.lastPct = pct
		fmt.Fprintf(p.w, "%s: %d%% %s of %s, %s/s\n", ev.File, pct, store.FormatBytes(ev.Done), storeTotal(ev.Total), store.FormatBytes(int64(speed)))
	}
}

// end finishes a bar left half-drawn by a failed transfer.
func (p *storeProgress) end() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func storeTotal(n int64) string {
	if n < 0 {
		return "?"
	}
	return store.FormatBytes(n)
}

func storeTrim(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s + strings.Repeat(" ", n-len(r))
	}
	return string(r[:n-1]) + "…"
}
