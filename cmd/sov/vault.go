package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/sovos/sov/internal/config"
	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/internal/seal"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/model/store"
	"github.com/sovos/sov/vault"
)

// vaultCommands returns the `sov vault` command tree.
func vaultCommands(a *app) []*cobra.Command {
	root := &cobra.Command{
		Use:   "vault",
		Short: "Your private documents, encrypted at rest and searchable",
		Long: `The vault keeps your files' text, chunks and search index encrypted in one
bbolt file under the data directory. The passphrase comes from
--passphrase-file, else $SOV_VAULT_PASSPHRASE, else a no-echo prompt.`,
		Args: vaultNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.PersistentFlags().String("passphrase-file", "", "read the vault passphrase from this file (else $SOV_VAULT_PASSPHRASE, else a prompt)")
	root.PersistentFlags().StringP("collection", "c", vault.DefaultCollection, "collection to use")
	for _, c := range []*cobra.Command{
		vaultInitCmd(a), vaultPasswdCmd(a), vaultLockCmd(a),
		vaultAddCmd(a), vaultSyncCmd(a), vaultSearchCmd(a), vaultAskCmd(a),
		vaultLsCmd(a), vaultRmCmd(a), vaultStatsCmd(a),
		vaultExportCmd(a), vaultImportCmd(a),
	} {
		c.RunE = vaultNoPanic(c.RunE)
		root.AddCommand(c)
	}
	return []*cobra.Command{root}
}

// vaultNoPanic turns a panic (bbolt panics on some structural corruption of
// the database file) into a one-line error instead of a crash.
func vaultNoPanic(run func(*cobra.Command, []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("the vault database is damaged (%v): restore it from a `sov vault export`, or re-create it and re-add your files", r)
			}
		}()
		return run(cmd, args)
	}
}

// vaultNoArgs rejects arguments as a usage error (exit 2).
func vaultNoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q (see sov %s --help)", args[0], strings.TrimPrefix(cmd.CommandPath(), "sov "))
	}
	return nil
}

func vaultDir(a *app) string { return a.paths.Sub("vault") }

func vaultLoadConfig(a *app) (vault.Config, error) { return vault.LoadConfig(a.cfg) }

func vaultPassphrase(a *app, cmd *cobra.Command, confirm bool) ([]byte, error) {
	file, _ := cmd.Flags().GetString("passphrase-file")
	p, err := prompt.Secret(prompt.Source{
		Env: "SOV_VAULT_PASSPHRASE", File: file, Prompt: "Vault passphrase: ", Confirm: confirm,
		Getenv: a.getenv, Stdin: a.stdin, Stderr: a.stderr,
	})
	if err != nil {
		return nil, fmt.Errorf("vault passphrase: %w", err)
	}
	return p, nil
}

func vaultKDFFlags(cmd *cobra.Command) {
	cmd.Flags().Uint32("kdf-time", 0, "Argon2id passes (default 3)")
	cmd.Flags().Uint32("kdf-memory", 0, "Argon2id memory in MiB (default 64)")
	cmd.Flags().Uint8("kdf-threads", 0, "Argon2id parallelism (default 4)")
}

// vaultKDF picks Argon2id parameters: flags, then config, then defaults.
func vaultKDF(cmd *cobra.Command, vc vault.Config) (*seal.KDF, error) {
	k, err := seal.DefaultKDF()
	if err != nil {
		return nil, err
	}
	if vc.KDFTime > 0 {
		k.Time = vc.KDFTime
	}
	if vc.KDFMemoryMiB > 0 {
		k.MemoryKiB = vc.KDFMemoryMiB * 1024
	}
	if vc.KDFThreads > 0 {
		k.Threads = vc.KDFThreads
	}
	if t, _ := cmd.Flags().GetUint32("kdf-time"); t > 0 {
		k.Time = t
	}
	if m, _ := cmd.Flags().GetUint32("kdf-memory"); m > 0 {
		k.MemoryKiB = m * 1024
	}
	if p, _ := cmd.Flags().GetUint8("kdf-threads"); p > 0 {
		k.Threads = p
	}
	if err := k.Validate(); err != nil {
		return nil, usagef("%v: check --kdf-time/--kdf-memory/--kdf-threads", err)
	}
	return &k, nil
}

// vaultOpen unlocks the vault with the user's passphrase.
func vaultOpen(a *app, cmd *cobra.Command, readOnly bool, mod ...func(*vault.Options)) (*vault.Vault, error) {
	vc, err := vaultLoadConfig(a)
	if err != nil {
		return nil, err
	}
	dir := vaultDir(a)
	if !vault.Exists(dir) {
		return nil, vault.ErrNotInitialised
	}
	pass, err := vaultPassphrase(a, cmd, false)
	if err != nil {
		return nil, err
	}
	defer seal.Wipe(pass)
	return vaultOpenWith(a, cmd, vc, pass, readOnly, mod...)
}

func vaultOpenWith(a *app, cmd *cobra.Command, vc vault.Config, pass []byte, readOnly bool, mod ...func(*vault.Options)) (*vault.Vault, error) {
	dir := vaultDir(a)
	// A CLI command is short-lived: no idle timer.
	o := vault.Options{ReadOnly: readOnly, OpenTimeout: time.Duration(vc.OpenTimeoutSeconds) * time.Second}
	for _, m := range mod {
		m(&o)
	}
	return vault.Open(cmd.Context(), dir, pass, o)
}

func vaultCollection(cmd *cobra.Command) string {
	c, _ := cmd.Flags().GetString("collection")
	return c
}

func vaultInitCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the vault and choose its passphrase",
		Args:  vaultNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			vc, err := vaultLoadConfig(a)
			if err != nil {
				return err
			}
			kdf, err := vaultKDF(cmd, vc)
			if err != nil {
				return err
			}
			dir := vaultDir(a)
			if vault.Exists(dir) {
				return vault.ErrExists
			}
			pass, err := vaultPassphrase(a, cmd, true)
			if err != nil {
				return err
			}
			defer seal.Wipe(pass)
			if err := vault.Init(cmd.Context(), dir, pass, vault.Options{KDF: kdf}); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "vault created at %s (Argon2id t=%d m=%d MiB p=%d)\n", vault.DBPath(dir), kdf.Time, kdf.MemoryKiB/1024, kdf.Threads)
			return nil
		},
	}
	vaultKDFFlags(cmd)
	return cmd
}

func vaultPasswdCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "passwd",
		Short: "Change the vault passphrase (re-wraps the keys; data is not re-encrypted)",
		Long: `Change the vault passphrase. The current one comes from the usual sources; the
new one from --new-passphrase-file, else $SOV_VAULT_NEW_PASSPHRASE, else a prompt.`,
		Args: vaultNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			vc, err := vaultLoadConfig(a)
			if err != nil {
				return err
			}
			if !vault.Exists(vaultDir(a)) {
				return vault.ErrNotInitialised
			}
			oldPass, err := vaultPassphrase(a, cmd, false)
			if err != nil {
				return err
			}
			defer seal.Wipe(oldPass)
			v, err := vaultOpenWith(a, cmd, vc, oldPass, false)
			if err != nil {
				return err
			}
			defer v.Close()
			file, _ := cmd.Flags().GetString("new-passphrase-file")
			newPass, err := prompt.Secret(prompt.Source{
				Env: "SOV_VAULT_NEW_PASSPHRASE", File: file, Prompt: "New vault passphrase: ", Confirm: true,
				Getenv: a.getenv, Stdin: a.stdin, Stderr: a.stderr,
			})
			if err != nil {
				return fmt.Errorf("new vault passphrase: %w", err)
			}
			defer seal.Wipe(newPass)
			var kdf *seal.KDF
			if cmd.Flags().Changed("kdf-time") || cmd.Flags().Changed("kdf-memory") || cmd.Flags().Changed("kdf-threads") {
				if kdf, err = vaultKDF(cmd, vc); err != nil {
					return err
				}
				kdf.Salt = nil
			}
			if err := v.Passwd(oldPass, newPass, kdf); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "vault passphrase changed")
			return nil
		},
	}
	cmd.Flags().String("new-passphrase-file", "", "read the new passphrase from this file")
	vaultKDFFlags(cmd)
	return cmd
}

func vaultLockCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "lock",
		Short: "Make running sov processes drop the vault keys from memory",
		Args:  vaultNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir := vaultDir(a)
			if !vault.Exists(dir) {
				return vault.ErrNotInitialised
			}
			if err := vault.RequestLock(dir); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "vault locked: running sov processes drop their keys on next use; keys are never stored on disk")
			return nil
		},
	}
}

// vaultProgress draws a one-line progress bar on a terminal.
func vaultProgress(a *app) func(vault.Progress) {
	f, ok := a.stderr.(*os.File)
	if !ok || !prompt.IsTerminal(f) {
		return nil
	}
	last := time.Time{}
	return func(p vault.Progress) {
		if p.Done < p.Total && time.Since(last) < 100*time.Millisecond {
			return
		}
		last = time.Now()
		const width = 30
		fill := 0
		if p.Total > 0 {
			fill = p.Done * width / p.Total
		}
		fmt.Fprintf(f, "\r[%s%s] %d/%d files  %.1f MB", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), p.Done, p.Total, float64(p.Bytes)/1e6)
		if p.Done == p.Total {
			fmt.Fprintln(f)
		}
	}
}

// vaultEmbedder loads the configured embedding model, or returns nil.
func vaultEmbedder(a *app, cmd *cobra.Command) (vault.Embedder, func(), error) {
	vc, err := vaultLoadConfig(a)
	if err != nil {
		return nil, nil, err
	}
	name := vc.EmbedModel
	if f := cmd.Flags().Lookup("embed-model"); f != nil && f.Changed {
		name = f.Value.String()
	}
	if name == "" {
		return nil, func() {}, nil
	}
	path, err := vaultResolveModel(a, name)
	if err != nil {
		return nil, nil, err
	}
	eng, err := model.Load(cmd.Context(), model.Options{Path: path})
	if err != nil {
		return nil, nil, fmt.Errorf("load embedding model: %w", err)
	}
	return eng, func() { eng.Close() }, nil
}

func vaultResolveModel(a *app, name string) (string, error) {
	if name != "" {
		if _, err := os.Stat(name); err == nil {
			return filepath.Abs(name)
		}
	}
	cfg := a.cfg
	if cfg == nil {
		cfg = &config.File{}
	}
	return store.ResolveFor(a.paths, cfg, name, a.getenv)
}

func vaultAddCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add PATH...",
		Short: "Add files and folders (Markdown, text, HTML, PDF, e-mail, vCard, JSON, CSV)",
		Long: `Add files and folders to the vault. Folders are walked recursively; hidden
files and folders are left out. Unsupported and binary files are skipped
and listed with the reason. Unchanged files are no-ops, changed ones are
re-indexed. Each file is committed whole or not at all, so an interrupted
add can simply be re-run.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("add needs at least one file or folder: sov vault add PATH...")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			emb, closeEmb, err := vaultEmbedder(a, cmd)
			if err != nil {
				return err
			}
			defer closeEmb()
			batch, _ := cmd.Flags().GetInt("batch-files")
			return withVaultOpts(a, cmd, false, func(o *vault.Options) { o.Embedder, o.BatchFiles = emb, batch }, func(v *vault.Vault) error {
				rep, err := v.Add(cmd.Context(), args, vault.AddOptions{Collection: vaultCollection(cmd), Progress: vaultProgress(a)})
				vaultPrintReport(a, rep)
				if err != nil {
					return err
				}
				if len(rep.Failed) > 0 {
					return fmt.Errorf("%d file(s) could not be indexed (listed above): fix them and re-run `sov vault add`", len(rep.Failed))
				}
				return nil
			})
		},
	}
	cmd.Flags().String("embed-model", "", "embedding model (name or path) for vector search")
	cmd.Flags().Int("batch-files", 0, "files per transaction (default 256)")
	_ = cmd.Flags().MarkHidden("batch-files")
	return cmd
}

func vaultPrintReport(a *app, rep vault.AddReport) {
	fmt.Fprintf(a.stdout, "added %d, updated %d, unchanged %d", rep.Added, rep.Updated, rep.Unchanged)
	if rep.Removed > 0 {
		fmt.Fprintf(a.stdout, ", removed %d", rep.Removed)
	}
	fmt.Fprintf(a.stdout, ", skipped %d (%d chunks, %.1f MB of text)\n", len(rep.Skipped), rep.Chunks, float64(rep.Bytes)/1e6)
	for _, s := range rep.Skipped {
		fmt.Fprintf(a.stdout, "  skipped %s: %s\n", s.Path, s.Reason)
	}
	for _, s := range rep.Failed {
		fmt.Fprintf(a.stderr, "  failed %s: %s\n", s.Path, s.Reason)
	}
}

func vaultSyncCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Re-index changed files and prune removed ones",
		Args:  vaultNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			emb, closeEmb, err := vaultEmbedder(a, cmd)
			if err != nil {
				return err
			}
			defer closeEmb()
			return withVaultOpts(a, cmd, false, func(o *vault.Options) { o.Embedder = emb }, func(v *vault.Vault) error {
				rep, err := v.Sync(cmd.Context(), vault.AddOptions{Collection: vaultCollection(cmd), Progress: vaultProgress(a)})
				vaultPrintReport(a, rep)
				if err != nil {
					return err
				}
				if len(rep.Failed) > 0 {
					return fmt.Errorf("%d file(s) could not be re-indexed (listed above): fix them and re-run `sov vault sync`", len(rep.Failed))
				}
				return nil
			})
		},
	}
	cmd.Flags().String("embed-model", "", "embedding model (name or path) for vector search")
	return cmd
}

// vaultSearchJSON is one line of `search --json`.
type vaultSearchJSON struct {
	Source  string  `json:"source"`
	Lines   [2]int  `json:"lines"`
	Score   float64 `json:"score"`
	Text    string  `json:"text"`
	Heading string  `json:"heading,omitempty"`
	Chunk   uint64  `json:"chunk"`
}

func vaultSearchCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "search QUERY...",
		Short: "Search the vault (BM25, fused with vectors when an embedding model is set)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("search needs a query: sov vault search WORDS")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			k, _ := cmd.Flags().GetInt("k")
			if k <= 0 || k > 1000 {
				return usagef("-k must be between 1 and 1000")
			}
			asJSON, _ := cmd.Flags().GetBool("json")
			emb, closeEmb, err := vaultEmbedder(a, cmd)
			if err != nil {
				return err
			}
			defer closeEmb()
			return withVaultOpts(a, cmd, true, func(o *vault.Options) { o.Embedder = emb }, func(v *vault.Vault) error {
				resp, err := v.Search(cmd.Context(), strings.Join(args, " "), vault.SearchOptions{Collection: vaultCollection(cmd), K: k})
				if err != nil {
					return err
				}
				for _, w := range resp.Warnings {
					fmt.Fprintln(a.stderr, "sov: warning:", w)
				}
				if asJSON {
					enc := json.NewEncoder(a.stdout)
					enc.SetEscapeHTML(false)
					for _, r := range resp.Results {
						if err := enc.Encode(vaultSearchJSON{Source: r.Source, Lines: [2]int{r.Start, r.End}, Score: r.Score, Text: r.Text, Heading: r.Heading, Chunk: r.Chunk}); err != nil {
							return err
						}
					}
					if resp.Mode == vault.ModeLexical {
						fmt.Fprintln(a.stderr, "lexical-only search (no embedding model configured)")
					}
					return nil
				}
				if resp.Mode == vault.ModeLexical {
					fmt.Fprintln(a.stdout, "lexical-only search (no embedding model configured)")
				}
				if len(resp.Results) == 0 {
					fmt.Fprintln(a.stdout, "no matches")
					return nil
				}
				tty := false
				if f, ok := a.stdout.(*os.File); ok {
					tty = prompt.IsTerminal(f)
				}
				for i, r := range resp.Results {
					fmt.Fprintf(a.stdout, "%d. %s:%d-%d", i+1, r.Source, r.Start, r.End)
					if r.Heading != "" {
						fmt.Fprintf(a.stdout, "  § %s", r.Heading)
					}
					fmt.Fprintf(a.stdout, "  (score %.3f)\n   %s\n", r.Score, vaultPassage(r, 320, tty))
				}
				return nil
			})
		},
	}
	cmd.Flags().IntP("k", "k", 10, "number of results")
	cmd.Flags().Bool("json", false, "print one JSON object per result (source, lines, score, text)")
	cmd.Flags().String("embed-model", "", "embedding model (name or path) for vector search")
	return cmd
}

// vaultPassage returns up to max bytes of the chunk around its first
// highlight, on one line, with matches marked (bold on a terminal,
// **like this** otherwise).
func vaultPassage(r vault.Result, max int, tty bool) string {
	text := r.Text
	start := 0
	if len(r.Highlights) > 0 && r.Highlights[0][0] > max/3 {
		start = r.Highlights[0][0] - max/3
	}
	for start > 0 && start < len(text) && text[start]&0xC0 == 0x80 {
		start--
	}
	end := min(len(text), start+max)
	for end < len(text) && text[end]&0xC0 == 0x80 {
		end++
	}
	open, close := "**", "**"
	if tty {
		open, close = "\x1b[1;33m", "\x1b[0m"
	}
	var b strings.Builder
	if start > 0 {
		b.WriteString("…")
	}
	pos := start
	for _, h := range r.Highlights {
		if h[0] < pos || h[1] > end {
			continue
		}
		b.WriteString(text[pos:h[0]])
		b.WriteString(open + text[h[0]:h[1]] + close)
		pos = h[1]
	}
	b.WriteString(text[pos:end])
	if end < len(text) {
		b.WriteString("…")
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

func vaultAskCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ask QUESTION...",
		Short: "Answer a question from the vault, citing passages as [1], [2]",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("ask needs a question: sov vault ask WORDS")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			k, _ := cmd.Flags().GetInt("k")
			asJSON, _ := cmd.Flags().GetBool("json")
			maxTok, _ := cmd.Flags().GetInt("max-tokens")
			emb, closeEmb, err := vaultEmbedder(a, cmd)
			if err != nil {
				return err
			}
			defer closeEmb()
			return withVaultOpts(a, cmd, true, func(o *vault.Options) { o.Embedder = emb }, func(v *vault.Vault) error {
				vc, err := vaultLoadConfig(a)
				if err != nil {
					return err
				}
				name, _ := cmd.Flags().GetString("model")
				if name == "" {
					name = vc.ChatModel
				}
				var eng *model.Engine
				gen := func(ctx context.Context, system, user string, onToken func(string) error) (string, error) {
					path, err := vaultResolveModel(a, name)
					if err != nil {
						return "", err
					}
					if eng == nil {
						if eng, err = model.Load(ctx, model.Options{Path: path}); err != nil {
							return "", fmt.Errorf("load chat model: %w", err)
						}
					}
					msgs := []model.Message{{Role: model.RoleSystem, Content: system}, {Role: model.RoleUser, Content: user}}
					var fn model.TokenFunc
					if onToken != nil {
						fn = func(p string) error { return onToken(p) }
					}
					text, _, err := eng.Chat(ctx, msgs, model.Sampling{MaxTokens: maxTok, RepeatPenalty: 1.1}, fn)
					return text, err
				}
				defer func() {
					if eng != nil {
						eng.Close()
					}
				}()
				var onToken func(string) error
				if !asJSON {
					onToken = func(p string) error { _, err := io.WriteString(a.stdout, p); return err }
				}
				ans, err := v.Ask(cmd.Context(), strings.Join(args, " "), gen, vault.AskOptions{Collection: vaultCollection(cmd), K: k, OnToken: onToken})
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(a.stdout)
					enc.SetEscapeHTML(false)
					return enc.Encode(ans)
				}
				if ans.NotFound {
					fmt.Fprintln(a.stdout, ans.Text)
					return nil
				}
				fmt.Fprintln(a.stdout)
				fmt.Fprintln(a.stdout, "\nSources:")
				for i, s := range ans.Sources {
					fmt.Fprintf(a.stdout, "[%d] %s:%d-%d\n", i+1, s.Source, s.Start, s.End)
				}
				return nil
			})
		},
	}
	cmd.Flags().IntP("k", "k", 4, "passages to give the model")
	cmd.Flags().String("model", "", "chat model (name or GGUF path; default: [vault] chat_model, then the default model)")
	cmd.Flags().String("embed-model", "", "embedding model (name or path) for vector search")
	cmd.Flags().Int("max-tokens", 256, "longest answer in tokens")
	cmd.Flags().Bool("json", false, "print the answer and its sources as JSON")
	return cmd
}

func vaultLsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the documents in the vault",
		Args:  vaultNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, _ := cmd.Flags().GetBool("json")
			return withVault(a, cmd, true, func(v *vault.Vault) error {
				docs, warn, err := v.List(cmd.Context(), vaultCollection(cmd))
				if err != nil {
					return err
				}
				for _, w := range warn {
					fmt.Fprintln(a.stderr, "sov: warning:", w)
				}
				enc := json.NewEncoder(a.stdout)
				for _, d := range docs {
					if asJSON {
						if err := enc.Encode(d); err != nil {
							return err
						}
						continue
					}
					fmt.Fprintf(a.stdout, "%-8s %6d chunks %10s  %s\n", d.Kind, d.Chunks, store.FormatBytes(d.Size), d.Path)
				}
				if !asJSON && len(docs) == 0 {
					fmt.Fprintln(a.stdout, "the vault is empty: add files with `sov vault add PATH`")
				}
				return nil
			})
		},
	}
	cmd.Flags().Bool("json", false, "one JSON object per document")
	return cmd
}

func vaultRmCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "rm PATH...",
		Short: "Remove documents (or everything under a folder) from the vault",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("rm needs a file or folder: sov vault rm PATH...")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return withVault(a, cmd, false, func(v *vault.Vault) error {
				n, err := v.Remove(cmd.Context(), vaultCollection(cmd), args)
				if err != nil {
					return err
				}
				if n == 0 {
					return fmt.Errorf("nothing in the vault matches %s: see `sov vault ls`", strings.Join(args, " "))
				}
				fmt.Fprintf(a.stdout, "removed %d document(s)\n", n)
				return nil
			})
		},
	}
}

func vaultStatsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Show what the vault holds",
		Args:  vaultNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withVault(a, cmd, true, func(v *vault.Vault) error {
				st, err := v.Stats(cmd.Context(), vaultCollection(cmd))
				if err != nil {
					return err
				}
				if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
					return json.NewEncoder(a.stdout).Encode(st)
				}
				for _, w := range st.Warnings {
					fmt.Fprintln(a.stderr, "sov: warning:", w)
				}
				mode := "lexical-only"
				if st.Vectors {
					mode = "lexical + vectors"
				}
				fmt.Fprintf(a.stdout, "vault       %s (%s)\ncollections %s\ncollection  %s: %d documents, %d chunks, %s of text, %d index segments, %s\nkdf         Argon2id t=%d m=%d MiB p=%d\n",
					st.Path, store.FormatBytes(st.FileBytes), strings.Join(st.Collections, ", "), st.Collection, st.Docs, st.Chunks,
					store.FormatBytes(st.TextBytes), st.Segments, mode, st.KDFTime, st.KDFMemKiB/1024, st.KDFThreads)
				return nil
			})
		},
	}
	cmd.Flags().Bool("json", false, "print JSON")
	return cmd
}

// fromExportSecret reads the export passphrase and builds an age scrypt
// recipient or identity from it; the passphrase is wiped afterwards.
func fromExportSecret[T any](a *app, cmd *cobra.Command, confirm bool, build func(string) (T, error)) (T, error) {
	pass, err := vaultExportSecret(a, cmd, confirm)
	if err != nil {
		var zero T
		return zero, err
	}
	defer seal.Wipe(pass)
	return build(string(pass))
}

// vaultExportSecret reads the export passphrase (for scrypt age recipients).
func vaultExportSecret(a *app, cmd *cobra.Command, confirm bool) ([]byte, error) {
	file, _ := cmd.Flags().GetString("export-passphrase-file")
	p, err := prompt.Secret(prompt.Source{
		Env: "SOV_VAULT_EXPORT_PASSPHRASE", File: file, Prompt: "Export passphrase: ", Confirm: confirm,
		Getenv: a.getenv, Stdin: a.stdin, Stderr: a.stderr,
	})
	if err != nil {
		return nil, fmt.Errorf("export passphrase: %w", err)
	}
	return p, nil
}

func vaultExportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export FILE",
		Short: "Write an age-encrypted archive of the vault's documents",
		Long: `Write the collection's documents (text, chunks, metadata) to FILE encrypted with
age: to --recipient age1… keys, or else with an export passphrase from
--export-passphrase-file, $SOV_VAULT_EXPORT_PASSPHRASE or a prompt.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("export needs one output file: sov vault export FILE.age")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			out := args[0]
			if _, err := os.Stat(out); err == nil {
				if force, _ := cmd.Flags().GetBool("force"); !force {
					return fmt.Errorf("%s exists: choose another name or pass --force", out)
				}
			}
			var recips []age.Recipient
			keys, _ := cmd.Flags().GetStringSlice("recipient")
			for _, k := range keys {
				r, err := age.ParseX25519Recipient(k)
				if err != nil {
					return usagef("--recipient %q is not an age public key (age1…): %v", k, err)
				}
				recips = append(recips, r)
			}
			return withVault(a, cmd, true, func(v *vault.Vault) error {
				if len(recips) == 0 {
					r, err := fromExportSecret(a, cmd, true, age.NewScryptRecipient)
					if err != nil {
						return err
					}
					recips = append(recips, r)
				}
				tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
				if err != nil {
					return fmt.Errorf("export: %w", err)
				}
				defer os.Remove(tmp.Name())
				n, err := v.Export(cmd.Context(), tmp, vaultCollection(cmd), recips...)
				if err == nil {
					err = tmp.Sync()
				}
				if cerr := tmp.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return vaultDiskErr(err)
				}
				if err := os.Rename(tmp.Name(), out); err != nil {
					return fmt.Errorf("export: %w", err)
				}
				fmt.Fprintf(a.stdout, "exported %d document(s) to %s\n", n, out)
				return nil
			})
		},
	}
	cmd.Flags().StringSlice("recipient", nil, "age public key (age1…) to encrypt to; repeatable")
	cmd.Flags().String("export-passphrase-file", "", "read the export passphrase from this file")
	cmd.Flags().Bool("force", false, "overwrite FILE")
	return cmd
}

func vaultDiskErr(err error) error {
	if errors.Is(err, vault.ErrDiskFull) {
		return err
	}
	return fmt.Errorf("export: %w", err)
}

func vaultImportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import an archive made by `sov vault export`",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("import needs one archive: sov vault import FILE.age")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			defer f.Close()
			var ids []age.Identity
			if idFile, _ := cmd.Flags().GetString("identity"); idFile != "" {
				kf, err := os.Open(idFile)
				if err != nil {
					return fmt.Errorf("identity: %w", err)
				}
				ids, err = age.ParseIdentities(kf)
				kf.Close()
				if err != nil {
					return fmt.Errorf("identity %s: %v: pass an age identity file (AGE-SECRET-KEY-…)", idFile, err)
				}
			} else {
				id, err := fromExportSecret(a, cmd, false, age.NewScryptIdentity)
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return withVault(a, cmd, false, func(v *vault.Vault) error {
				coll := ""
				if cmd.Flags().Changed("collection") {
					coll = vaultCollection(cmd)
				}
				n, err := v.Import(cmd.Context(), f, coll, ids...)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "imported %d document(s)\n", n)
				return nil
			})
		},
	}
	cmd.Flags().String("identity", "", "age identity file (for exports made with --recipient)")
	cmd.Flags().String("export-passphrase-file", "", "read the export passphrase from this file")
	return cmd
}

// withVault unlocks the vault for one command and closes it after fn.
func withVault(a *app, cmd *cobra.Command, readOnly bool, fn func(*vault.Vault) error) error {
	return withVaultOpts(a, cmd, readOnly, nil, fn)
}

func withVaultOpts(a *app, cmd *cobra.Command, readOnly bool, mod func(*vault.Options), fn func(*vault.Vault) error) error {
	var mods []func(*vault.Options)
	if mod != nil {
		mods = append(mods, mod)
	}
	v, err := vaultOpen(a, cmd, readOnly, mods...)
	if err != nil {
		return err
	}
	defer v.Close()
	return fn(v)
}
