package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/internal/lazymodel"
	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/internal/seal"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model/store"
	"github.com/sovos/sov/vault"
)

// vaultCLI is what the vault commands share: the app and the flags of the
// one command that runs.
type vaultCLI struct {
	*app
	passFile, collection, embed string
	json                        bool
}

// vaultCommands returns the `sov vault` command tree.
func vaultCommands(a *app) []*cobra.Command {
	c := &vaultCLI{app: a}
	root := vaultCmd("vault", "Your private documents, encrypted at rest and searchable", nil, func(cmd *cobra.Command, _ []string) error { return cmd.Help() })
	root.Long = `The vault keeps your files' text, chunks and search index encrypted in one
bbolt file under the data directory. The passphrase comes from
--passphrase-file, else $SOV_VAULT_PASSPHRASE, else a no-echo prompt.`
	root.PersistentFlags().StringVar(&c.passFile, "passphrase-file", "", "read the vault passphrase from this file (else $SOV_VAULT_PASSPHRASE, else a prompt)")
	root.PersistentFlags().StringVarP(&c.collection, "collection", "c", vault.DefaultCollection, "collection to use")
	root.AddCommand(vaultGuard(vaultHint, "the vault database is damaged (%v): restore it from a `sov vault export`, or re-create it and re-add your files",
		c.initCmd(), c.passwdCmd(), c.lockCmd(), c.addCmd(), c.syncCmd(), c.searchCmd(), c.askCmd(),
		c.lsCmd(), c.rmCmd(), c.statsCmd(), c.exportCmd(), c.importCmd())...)
	return []*cobra.Command{root}
}

// vaultCmd is a command with its one-line help; args nil takes none. The
// feeds commands are built with it too.
func vaultCmd(use, short string, args cobra.PositionalArgs, run func(*cobra.Command, []string) error) *cobra.Command {
	if args == nil {
		args = vaultArgs(0, 0, "")
	}
	return &cobra.Command{Use: use, Short: short, Args: args, RunE: run}
}

// vaultArgs wants lo to hi arguments (hi < 0: no limit); another count is
// a usage error naming what is needed.
func vaultArgs(lo, hi int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch path := cmd.CommandPath(); {
		case hi == 0 && len(args) > 0:
			return usagef("unexpected argument %q (see %s --help)", args[0], path)
		case len(args) < lo || hi >= 0 && len(args) > hi:
			return usagef("%s needs %s (see %s --help)", path, what, path)
		}
		return nil
	}
}

// vaultGuard wraps the commands of the vault and feeds trees: their errors
// get hint's one-line fix, and a panic (bbolt panics on some structural
// corruption of its file) becomes the damaged error.
func vaultGuard(hint func(*cobra.Command, error) error, damaged string, cmds ...*cobra.Command) []*cobra.Command {
	for _, c := range cmds {
		run := c.RunE
		c.RunE = func(cmd *cobra.Command, args []string) (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf(damaged, r)
				}
			}()
			if err = run(cmd, args); err != nil {
				err = hint(cmd, err)
			}
			return err
		}
	}
	return cmds
}

// vaultFix is the fix for one library error: the command or flag to use.
type vaultFix struct {
	err   error
	hint  string
	usage bool // how sov was called: exit 2
}

// vaultFixFor adds the hint of the first fix whose error err wraps.
func vaultFixFor(fixes []vaultFix, err error) error {
	for _, f := range fixes {
		switch {
		case !errors.Is(err, f.err):
		case f.usage:
			return usagef("%w%s", err, f.hint)
		default:
			return fmt.Errorf("%w%s", err, f.hint)
		}
	}
	return err
}

// vaultHint adds to a library error the command or flag that fixes it.
func vaultHint(cmd *cobra.Command, err error) error {
	var noColl *vault.NoCollectionError
	var failed *vault.FailedError
	switch {
	case errors.As(err, &noColl):
		return fmt.Errorf("%w: see `sov vault stats` for the names", err)
	case errors.As(err, &failed):
		return fmt.Errorf("%w (listed above): fix them and re-run `%s`", err, cmd.CommandPath())
	case errors.Is(err, vault.ErrBadRecipient):
		return usagef("--recipient %w", err)
	}
	return vaultFixFor([]vaultFix{
		{vault.ErrWrongPassphrase, " (check SOV_VAULT_PASSPHRASE or --passphrase-file)", false},
		{vault.ErrNotInitialised, ": run `sov vault init` first", false},
		{vault.ErrExists, ": use `sov vault passwd` to change its passphrase", false},
		{vault.ErrEmpty, ": add files with `sov vault add PATH`", false},
		{vault.ErrNoMatch, ": see `sov vault ls`", false},
		{vault.ErrNoChatModel, ": pass --model or set [vault] chat_model in config.toml", false},
		{vault.ErrBadKDF, ": check --kdf-time/--kdf-memory/--kdf-threads", true},
	}, err)
}

// vaultSecret reads a secret from the file *file names (flag --flag), else
// $env, else a no-echo prompt; the feeds commands use it too.
func vaultSecret(a *app, file *string, flag, name, env string, confirm bool) func() ([]byte, error) {
	return func() ([]byte, error) {
		p, err := prompt.Console{Getenv: a.getenv, Stdin: a.stdin, Stderr: a.stderr}.Passphrase(name, env, *file, confirm)
		if errors.Is(err, prompt.ErrNoSecret) {
			return nil, fmt.Errorf("%w (or use --%s)", err, flag)
		}
		return p, err
	}
}

// vaultModel is the model name (or path; "" = the default model) loaded on
// first use; `sov news` uses it too. Its calls are recorded in the ledger.
func vaultModel(a *app, name, what string) *lazymodel.Model {
	return &lazymodel.Model{What: what, Path: func() (string, error) { return resolveModelPath(a, name) }, Wrap: a.recorded}
}

// vaultJSON writes v as JSON, indented by indent ("" = one line).
func vaultJSON(w io.Writer, indent string, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", indent)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// vaultSay prints the message on w when err is nil, and returns err.
func vaultSay(w io.Writer, err error, format string, a ...any) error {
	if err == nil {
		fmt.Fprintf(w, format+"\n", a...)
	}
	return err
}

func (c *vaultCLI) dir() string { return c.paths.Sub("vault") }

func (c *vaultCLI) pass(confirm bool) vault.Passphrase {
	return vaultSecret(c.app, &c.passFile, "passphrase-file", "vault passphrase", "SOV_VAULT_PASSPHRASE", confirm)
}

// config is [vault] and the open options of a short-lived command (no
// idle timer).
func (c *vaultCLI) config() (vault.Config, vault.Options, error) {
	vc, err := vault.LoadConfig(c.cfg)
	o := vc.Options()
	o.IdleTimeout = 0
	return vc, o, err
}

// open unlocks the vault for one command and closes it after fn. With
// --embed-model (else [vault] embed_model, for commands with that flag)
// the embedding model is loaded first, before the passphrase is asked.
func (c *vaultCLI) open(cmd *cobra.Command, readOnly bool, fn func(*vault.Vault) error) error {
	vc, o, err := c.config()
	if err != nil {
		return err
	}
	o.ReadOnly = readOnly
	o.BatchFiles, _ = cmd.Flags().GetInt("batch-files")
	if f := cmd.Flags().Lookup("embed-model"); f != nil && !f.Changed {
		c.embed = vc.EmbedModel
	}
	if c.embed != "" {
		emb := vaultModel(c.app, c.embed, "embedding model")
		defer emb.Close()
		if err := emb.Load(cmd.Context()); err != nil {
			return err
		}
		o.Embedder = emb
	}
	v, err := vault.OpenWith(cmd.Context(), c.dir(), c.pass(false), o)
	if err != nil {
		return err
	}
	defer v.Close()
	return fn(v)
}

// flags adds --json (with its help, when not "") and --embed-model.
func (c *vaultCLI) flags(cmd *cobra.Command, json string, embed bool) *cobra.Command {
	if json != "" {
		cmd.Flags().BoolVar(&c.json, "json", false, json)
	}
	if embed {
		cmd.Flags().StringVar(&c.embed, "embed-model", "", "embedding model (name or path) for vector search")
	}
	return cmd
}

// vaultKDFCmd adds --kdf-* to cmd, bound to o (zero: [vault], then defaults).
func vaultKDFCmd(cmd *cobra.Command, o *vault.KDFOverride) *cobra.Command {
	cmd.Flags().Uint32Var(&o.Time, "kdf-time", 0, "Argon2id passes (default 3)")
	cmd.Flags().Uint32Var(&o.MemoryMiB, "kdf-memory", 0, "Argon2id memory in MiB (default 64)")
	cmd.Flags().Uint8Var(&o.Threads, "kdf-threads", 0, "Argon2id parallelism (default 4)")
	return cmd
}

func (c *vaultCLI) initCmd() *cobra.Command {
	var o vault.KDFOverride
	return vaultKDFCmd(vaultCmd("init", "Create the vault and choose its passphrase", nil, func(cmd *cobra.Command, _ []string) error {
		vc, _, err := c.config()
		if err != nil {
			return err
		}
		kdf, err := vc.KDF(o)
		if err == nil {
			err = vault.InitWith(cmd.Context(), c.dir(), c.pass(true), vault.Options{KDF: kdf})
		}
		if err != nil {
			return err
		}
		return vaultSay(c.stdout, nil, "vault created at %s (Argon2id t=%d m=%d MiB p=%d)", vault.DBPath(c.dir()), kdf.Time, kdf.MemoryKiB/1024, kdf.Threads)
	}), &o)
}

func (c *vaultCLI) passwdCmd() *cobra.Command {
	var o vault.KDFOverride
	var newFile string
	cmd := vaultKDFCmd(vaultCmd("passwd", "Change the vault passphrase (re-wraps the keys; data is not re-encrypted)", nil, func(cmd *cobra.Command, _ []string) error {
		vc, opts, err := c.config()
		var kdf *seal.KDF // nil keeps the vault's parameters
		if f := cmd.Flags(); err == nil && (f.Changed("kdf-time") || f.Changed("kdf-memory") || f.Changed("kdf-threads")) {
			kdf, err = vc.KDF(o)
		}
		next := vaultSecret(c.app, &newFile, "new-passphrase-file", "new vault passphrase", "SOV_VAULT_NEW_PASSPHRASE", true)
		if err == nil {
			err = vault.PasswdWith(cmd.Context(), c.dir(), c.pass(false), next, kdf, opts)
		}
		return vaultSay(c.stdout, err, "vault passphrase changed")
	}), &o)
	cmd.Long = `Change the vault passphrase. The current one comes from the usual sources; the
new one from --new-passphrase-file, else $SOV_VAULT_NEW_PASSPHRASE, else a prompt.`
	cmd.Flags().StringVar(&newFile, "new-passphrase-file", "", "read the new passphrase from this file")
	return cmd
}

func (c *vaultCLI) lockCmd() *cobra.Command {
	return vaultCmd("lock", "Make running sov processes drop the vault keys from memory", nil, func(cmd *cobra.Command, _ []string) error {
		return vaultSay(c.stdout, vault.RequestLock(c.dir()), "vault locked: running sov processes drop their keys on next use; keys are never stored on disk")
	})
}

// ingest is add (given paths) and sync (given none); re-running either
// retries what failed.
func (c *vaultCLI) ingest(cmd *cobra.Command, args []string) error {
	return c.open(cmd, false, func(v *vault.Vault) error {
		o := vault.AddOptions{Collection: c.collection, Progress: vaultProgress(c.stderr)}
		var rep vault.AddReport
		var err error
		if len(args) > 0 {
			rep, err = v.Add(cmd.Context(), args, o)
		} else {
			rep, err = v.Sync(cmd.Context(), o)
		}
		rep.Write(c.stdout, c.stderr)
		if err != nil {
			return err
		}
		return rep.Err()
	})
}

func (c *vaultCLI) addCmd() *cobra.Command {
	cmd := c.flags(vaultCmd("add PATH...", "Add files and folders (Markdown, text, HTML, PDF, e-mail, vCard, JSON, CSV)", vaultArgs(1, -1, "at least one file or folder"), c.ingest), "", true)
	cmd.Long = `Add files and folders to the vault. Folders are walked recursively; hidden
files and folders are left out. Unsupported and binary files are skipped
and listed with the reason. Unchanged files are no-ops, changed ones are
re-indexed. Each file is committed whole or not at all, so an interrupted
add can simply be re-run.`
	cmd.Flags().Int("batch-files", 0, "files per transaction (default 256)")
	_ = cmd.Flags().MarkHidden("batch-files")
	return cmd
}

func (c *vaultCLI) syncCmd() *cobra.Command {
	return c.flags(vaultCmd("sync", "Re-index changed files and prune removed ones", nil, c.ingest), "", true)
}

// vaultProgress draws a one-line progress bar when w is a terminal.
func vaultProgress(w io.Writer) func(vault.Progress) {
	f, ok := w.(*os.File)
	if !ok || !prompt.IsTerminal(f) {
		return nil
	}
	last := time.Time{}
	return func(p vault.Progress) {
		if p.Done == p.Total || time.Since(last) >= 100*time.Millisecond {
			last = time.Now()
			fmt.Fprintf(f, "\r%s", p)
		}
		if p.Done == p.Total {
			fmt.Fprintln(f)
		}
	}
}

func (c *vaultCLI) searchCmd() *cobra.Command {
	var o vault.SearchOptions
	cmd := c.flags(vaultCmd("search QUERY...", "Search the vault (BM25, fused with vectors when an embedding model is set)", vaultArgs(1, -1, "a query"), func(cmd *cobra.Command, args []string) error {
		if o.K <= 0 || o.K > 1000 {
			return usagef("-k must be between 1 and 1000")
		}
		return c.open(cmd, true, func(v *vault.Vault) error {
			o.Collection = c.collection
			resp, err := v.Search(cmd.Context(), strings.Join(args, " "), o)
			if err != nil {
				return err
			}
			vaultWarn(c.stderr, resp.Warnings)
			if c.json {
				return resp.WriteJSON(c.stdout, c.stderr)
			}
			open, end := "**", "**" // bold on a terminal
			if f, ok := c.stdout.(*os.File); ok && prompt.IsTerminal(f) {
				open, end = "\x1b[1;33m", "\x1b[0m"
			}
			resp.Write(c.stdout, open, end)
			return nil
		})
	}), "print one JSON object per result (source, lines, score, text)", true)
	cmd.Flags().IntVarP(&o.K, "k", "k", 10, "number of results")
	return cmd
}

// vaultWarn prints the records that failed authentication and were
// skipped.
func vaultWarn(w io.Writer, warnings []string) {
	for _, s := range warnings {
		fmt.Fprintln(w, "sov: warning:", termtext.Clean(s))
	}
}

func (c *vaultCLI) askCmd() *cobra.Command {
	var name string
	var maxTok int
	var o vault.AskOptions
	cmd := c.flags(vaultCmd("ask QUESTION...", "Answer a question from the vault, citing passages as [1], [2]", vaultArgs(1, -1, "a question"), func(cmd *cobra.Command, args []string) error {
		vc, _, err := c.config()
		if err != nil {
			return err
		}
		if name == "" {
			name = vc.ChatModel
		}
		chat := vaultModel(c.app, name, "chat model") // loaded only when a passage is relevant
		defer chat.Close()
		o.Collection = c.collection
		if !c.json {
			o.OnToken = func(p string) error { _, err := io.WriteString(c.stdout, termtext.Clean(p)); return err }
		}
		return c.open(cmd, true, func(v *vault.Vault) error {
			ans, err := v.Ask(cmd.Context(), strings.Join(args, " "), chat.Answerer(maxTok), o)
			switch {
			case err != nil:
				return err
			case c.json:
				return vaultJSON(c.stdout, "", ans)
			}
			ans.Write(c.stdout)
			return nil
		})
	}), "print the answer and its sources as JSON", true)
	cmd.Flags().IntVarP(&o.K, "k", "k", 4, "passages to give the model")
	cmd.Flags().StringVar(&name, "model", "", "chat model (name or GGUF path; default: [vault] chat_model, then the default model)")
	cmd.Flags().IntVar(&maxTok, "max-tokens", 256, "longest answer in tokens")
	return cmd
}

func (c *vaultCLI) lsCmd() *cobra.Command {
	return c.flags(vaultCmd("ls", "List the documents in the vault", nil, func(cmd *cobra.Command, _ []string) error {
		return c.open(cmd, true, func(v *vault.Vault) error {
			docs, warn, err := v.List(cmd.Context(), c.collection)
			if err != nil {
				return err
			}
			vaultWarn(c.stderr, warn)
			switch {
			case c.json:
				for _, d := range docs {
					if err := vaultJSON(c.stdout, "", d); err != nil {
						return err
					}
				}
			case len(docs) == 0:
				fmt.Fprintln(c.stdout, "the vault is empty: add files with `sov vault add PATH`")
			default:
				vault.RenderDocs(c.stdout, docs, store.FormatBytes)
			}
			return nil
		})
	}), "one JSON object per document", false)
}

func (c *vaultCLI) rmCmd() *cobra.Command {
	return vaultCmd("rm PATH...", "Remove documents (or everything under a folder) from the vault", vaultArgs(1, -1, "a file or folder"), func(cmd *cobra.Command, args []string) error {
		return c.open(cmd, false, func(v *vault.Vault) error {
			n, err := v.Remove(cmd.Context(), c.collection, args)
			return vaultSay(c.stdout, err, "removed %d document(s)", n)
		})
	})
}

func (c *vaultCLI) statsCmd() *cobra.Command {
	return c.flags(vaultCmd("stats", "Show what the vault holds", nil, func(cmd *cobra.Command, _ []string) error {
		return c.open(cmd, true, func(v *vault.Vault) error {
			st, err := v.Stats(cmd.Context(), c.collection)
			switch {
			case err != nil:
				return err
			case c.json:
				return vaultJSON(c.stdout, "", st)
			}
			vaultWarn(c.stderr, st.Warnings)
			st.Render(c.stdout, store.FormatBytes)
			return nil
		})
	}), "print JSON", false)
}

// exportPass adds --export-passphrase-file to cmd and returns the reader
// of the export passphrase (for scrypt age recipients).
func (c *vaultCLI) exportPass(cmd *cobra.Command, confirm bool) vault.Passphrase {
	file := cmd.Flags().String("export-passphrase-file", "", "read the export passphrase from this file")
	return vaultSecret(c.app, file, "export-passphrase-file", "export passphrase", "SOV_VAULT_EXPORT_PASSPHRASE", confirm)
}

func (c *vaultCLI) exportCmd() *cobra.Command {
	var keys []string
	var force bool
	var pass vault.Passphrase
	cmd := vaultCmd("export FILE", "Write an age-encrypted archive of the vault's documents", vaultArgs(1, 1, "one output file, e.g. FILE.age"), func(cmd *cobra.Command, args []string) error {
		if _, err := os.Stat(args[0]); err == nil && !force {
			return fmt.Errorf("%s exists: choose another name or pass --force", args[0])
		}
		recips, err := vault.Recipients(keys, nil) // a bad key is reported before any prompt
		if err != nil {
			return err
		}
		return c.open(cmd, true, func(v *vault.Vault) error {
			if len(recips) == 0 { // the export passphrase, asked after the vault's
				if recips, err = vault.Recipients(nil, pass); err != nil {
					return err
				}
			}
			n, err := v.ExportFile(cmd.Context(), args[0], c.collection, recips...)
			return vaultSay(c.stdout, err, "exported %d document(s) to %s", n, args[0])
		})
	})
	cmd.Long = `Write the collection's documents (text, chunks, metadata) to FILE encrypted with
age: to --recipient age1… keys, or else with an export passphrase from
--export-passphrase-file, $SOV_VAULT_EXPORT_PASSPHRASE or a prompt.`
	cmd.Flags().StringSliceVar(&keys, "recipient", nil, "age public key (age1…) to encrypt to; repeatable")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite FILE")
	pass = c.exportPass(cmd, true)
	return cmd
}

func (c *vaultCLI) importCmd() *cobra.Command {
	var idFile string
	var pass vault.Passphrase
	cmd := vaultCmd("import FILE", "Import an archive made by `sov vault export`", vaultArgs(1, 1, "one archive, e.g. FILE.age"), func(cmd *cobra.Command, args []string) error {
		f, err := os.Open(args[0])
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		ids, err := vault.Identities(idFile, pass)
		if err != nil {
			return err
		}
		return c.open(cmd, false, func(v *vault.Vault) error {
			coll := "" // the archive's own collection unless -c is given
			if cmd.Flags().Changed("collection") {
				coll = c.collection
			}
			n, err := v.Import(cmd.Context(), f, coll, ids...)
			return vaultSay(c.stdout, err, "imported %d document(s)", n)
		})
	})
	cmd.Flags().StringVar(&idFile, "identity", "", "age identity file (for exports made with --recipient)")
	pass = c.exportPass(cmd, false)
	return cmd
}
