package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/chat/lazymodel"
	"github.com/sovos/sov/internal/boltfile"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model/store"
	"github.com/sovos/sov/vault"
)

// vaultCLI is what the vault commands share: the app and the flags of the
// one command that runs.
type vaultCLI struct {
	*app
	collection, embed string
	json              bool
	config            vault.Config // [vault], as open read it
}

// vaultCommands returns the `sov vault` command tree.
func vaultCommands(a *app) []*cobra.Command {
	c := &vaultCLI{app: a}
	root := command("vault", "Your private documents, encrypted at rest and searchable", nil, func(cmd *cobra.Command, _ []string) error { return cmd.Help() })
	root.Long = `The vault keeps your files' text, chunks and search index encrypted in one
bbolt file under the data directory. The passphrase comes from
--passphrase-file, else $SOV_VAULT_PASSPHRASE, else a no-echo prompt.`
	root.PersistentFlags().String("passphrase-file", "", "read the vault passphrase from this file (else $SOV_VAULT_PASSPHRASE, else a prompt)")
	root.PersistentFlags().StringVarP(&c.collection, "collection", "c", vault.DefaultCollection, "collection to use")
	root.AddCommand(guard(vaultHint, "the vault database is damaged (%v): restore it from a `sov vault export`, or re-create it and re-add your files",
		c.initCmd(), c.passwdCmd(), c.lockCmd(), c.addCmd(), c.syncCmd(), c.searchCmd(), c.askCmd(), c.reembedCmd(),
		c.lsCmd(), c.rmCmd(), c.statsCmd(), c.exportCmd(), c.importCmd(), c.verifyCmd(), c.compactCmd())...)
	return []*cobra.Command{root}
}

// vaultHint adds to a library error the command or flag that fixes it.
func vaultHint(err error) error {
	return withFix(err,
		fix{vault.ErrBadRecipient, " (check --recipient)", true},
		fix{boltfile.ErrDamaged, ": restore it from a `sov vault export`, or move it aside and re-create the vault (sov vault init)", false},
		fix{new(*vault.NoCollectionError), ": see `sov vault stats` for the names", false},
		fix{vault.ErrWrongPassphrase, " (check SOV_VAULT_PASSPHRASE or --passphrase-file)", false},
		fix{vault.ErrNotInitialised, ": run `sov vault init` first", false},
		fix{vault.ErrExists, ": use `sov vault passwd` to change its passphrase", false},
		fix{vault.ErrEmpty, ": add files with `sov vault add PATH`", false},
		fix{vault.ErrNoMatch, ": see `sov vault ls`", false},
		fix{vault.ErrUnattributed, ": re-add the files named (sov vault add PATH); for the rest, export the vault and import it into a new one", false},
		fix{new(*vault.DamagedError), ": re-add those files (sov vault add PATH) to repair them", false},
		fix{vault.ErrNotCompacted, ": free some space and run `sov vault compact`", false},
		fix{vault.ErrNoChatModel, ": pass --model or set [vault] chat_model in config.toml", false},
		fix{vault.ErrNoEmbedder, ": pass --embed-model or set [vault] embed_model in config.toml", false},
		fix{new(*vault.EmbedModelError), " (--embed-model picks the model; `sov vault reembed --embed-model NEW` switches)", false},
		fix{vault.ErrBadKDF, ": check --kdf-time/--kdf-memory/--kdf-threads", true})
}

func (c *vaultCLI) dir() string { return c.Paths.Sub("vault") }

func (c *vaultCLI) pass(cmd *cobra.Command, confirm bool) vault.Passphrase {
	return c.secret(cmd, "passphrase-file", "vault passphrase", "SOV_VAULT_PASSPHRASE", confirm)
}

// open unlocks the vault for one command and closes it after fn. With
// --embed-model (else [vault] embed_model, for commands with that flag)
// the embedding model is loaded first, before the passphrase is asked.
func (c *vaultCLI) open(cmd *cobra.Command, readOnly bool, fn func(*vault.Vault) error) (err error) {
	if c.config, err = vault.LoadConfig(c.Config); err != nil {
		return err
	}
	o := c.config.Options()
	o.ReadOnly, o.IdleTimeout = readOnly, 0 // one command: no idle timer
	o.BatchFiles, _ = cmd.Flags().GetInt("batch-files")
	if f := cmd.Flags().Lookup("embed-model"); f != nil && !f.Changed {
		c.embed = c.config.EmbedModel
	}
	if c.embed != "" {
		emb := c.lazyModel(c.embed, "embedding model")
		defer emb.Close()
		o.Embedder = emb
	}
	return vault.With(cmd.Context(), c.dir(), c.pass(cmd, false), o, fn)
}

// jsonFlag adds --json to cmd, bound to v.
func jsonFlag(v *bool, cmd *cobra.Command, help string) *cobra.Command {
	cmd.Flags().BoolVar(v, "json", false, help)
	return cmd
}

// embedFlag adds --embed-model to cmd.
func (c *vaultCLI) embedFlag(cmd *cobra.Command) *cobra.Command {
	cmd.Flags().StringVar(&c.embed, "embed-model", "", "embedding model (name or path) for vector search")
	return cmd
}

// kdfFlags adds --kdf-* to cmd, bound to o (zero: [vault], then defaults).
func kdfFlags(cmd *cobra.Command, o *vault.KDFOverride) *cobra.Command {
	cmd.Flags().Uint32Var(&o.Time, "kdf-time", 0, "Argon2id passes (default 3)")
	cmd.Flags().Uint32Var(&o.MemoryMiB, "kdf-memory", 0, "Argon2id memory in MiB (default 64)")
	cmd.Flags().Uint8Var(&o.Threads, "kdf-threads", 0, "Argon2id parallelism (default 4)")
	return cmd
}

func (c *vaultCLI) initCmd() *cobra.Command {
	var o vault.KDFOverride
	return kdfFlags(command("init", "Create the vault and choose its passphrase", nil, func(cmd *cobra.Command, _ []string) error {
		kdf, err := vault.InitConfigured(cmd.Context(), c.Config, c.dir(), c.pass(cmd, true), o)
		return c.say(err, "vault created at %s (Argon2id t=%d m=%d MiB p=%d)", vault.DBPath(c.dir()), kdf.Time, kdf.MemoryKiB/1024, kdf.Threads)
	}), &o)
}

func (c *vaultCLI) passwdCmd() *cobra.Command {
	var o vault.KDFOverride
	cmd := kdfFlags(command("passwd", "Change the vault passphrase (rotates every key and rewrites the file)", nil, func(cmd *cobra.Command, _ []string) error {
		var kdf *vault.KDFOverride // nil keeps the vault's parameters
		if f := cmd.Flags(); f.Changed("kdf-time") || f.Changed("kdf-memory") || f.Changed("kdf-threads") {
			kdf = &o
		}
		next := c.secret(cmd, "new-passphrase-file", "new vault passphrase", "SOV_VAULT_NEW_PASSPHRASE", true)
		return c.say(vault.PasswdConfigured(cmd.Context(), c.Config, c.dir(), c.pass(cmd, false), next, kdf), "vault passphrase changed")
	}), &o)
	cmd.Long = `Change the vault passphrase. The current one comes from the usual sources; the
new one from --new-passphrase-file, else $SOV_VAULT_NEW_PASSPHRASE, else a prompt.`
	cmd.Flags().String("new-passphrase-file", "", "read the new passphrase from this file")
	return cmd
}

func (c *vaultCLI) lockCmd() *cobra.Command {
	return command("lock", "Make running sov processes drop the vault keys from memory", nil, func(cmd *cobra.Command, _ []string) error {
		return c.say(vault.RequestLock(c.dir()), "vault locked: running sov processes drop their keys on next use; keys are never stored on disk")
	})
}

// ingest is add (given paths) and sync (given none).
func (c *vaultCLI) ingest(cmd *cobra.Command, args []string) error {
	return c.open(cmd, false, func(v *vault.Vault) error {
		o := vault.AddOptions{Collection: c.collection}
		if isTerminal(c.stderr) {
			o.Progress = vault.ProgressBar(c.stderr)
		}
		rep, err := v.Ingest(cmd.Context(), args, o)
		rep.Write(c.stdout, c.stderr)
		if err == nil && rep.Err() != nil {
			return fmt.Errorf("%w (listed above): fix them and re-run `%s`", rep.Err(), cmd.CommandPath())
		}
		return err
	})
}

func (c *vaultCLI) addCmd() *cobra.Command {
	cmd := c.embedFlag(command("add PATH...", "Add files and folders (Markdown, text, HTML, PDF, e-mail, vCard, JSON, CSV)", nargs(1, -1, "at least one file or folder"), c.ingest))
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
	return c.embedFlag(command("sync", "Re-index changed files and prune removed ones", nil, c.ingest))
}

func (c *vaultCLI) searchCmd() *cobra.Command {
	var o vault.SearchOptions
	cmd := c.embedFlag(jsonFlag(&c.json, command("search QUERY...", "Search the vault (BM25, fused with vectors when an embedding model is set)", nargs(1, -1, "a query"), func(cmd *cobra.Command, args []string) error {
		if o.K <= 0 || o.K > 1000 {
			return usagef("-k must be between 1 and 1000")
		}
		return c.open(cmd, true, func(v *vault.Vault) error {
			o.Collection = c.collection
			resp, err := v.Search(cmd.Context(), strings.Join(args, " "), o)
			if err != nil {
				return err
			}
			c.warn(resp.Warnings)
			if c.json {
				return resp.WriteJSON(termtext.JSONWriter{W: c.stdout}, c.stderr)
			}
			open, end := "**", "**" // bold on a terminal
			if isTerminal(c.stdout) {
				open, end = "\x1b[1;33m", "\x1b[0m"
			}
			resp.Write(c.stdout, open, end)
			return nil
		})
	}), "print one JSON object per result (source, lines, score, text)"))
	cmd.Flags().IntVarP(&o.K, "k", "k", 10, "number of results")
	return cmd
}

// warn prints the records that failed authentication and were skipped.
func (c *vaultCLI) warn(records []string) {
	for _, s := range records {
		c.warnf("%s", s)
	}
}

func (c *vaultCLI) askCmd() *cobra.Command {
	var name string
	var maxTok int
	var o vault.AskOptions
	cmd := c.embedFlag(jsonFlag(&c.json, command("ask QUESTION...", "Answer a question from the vault, citing passages as [1], [2]", nargs(1, -1, "a question"), func(cmd *cobra.Command, args []string) error {
		o.Collection = c.collection
		return c.open(cmd, true, func(v *vault.Vault) error {
			o.MinBM25, o.MinCosine = c.config.AskMinBM25, c.config.AskMinCosine
			chat := c.lazyModel(cmp.Or(name, c.config.ChatModel), "chat model") // loaded only when a passage is relevant
			defer chat.Close()
			ans, err := v.Ask(cmd.Context(), strings.Join(args, " "), chat.JSONAnswerer(maxTok), o)
			if err != nil {
				return err
			}
			return c.show(c.json, ans, ans.Write)
		})
	}), "print the answer and its sources as JSON"))
	cmd.Flags().IntVarP(&o.K, "k", "k", 4, "passages to give the model")
	cmd.Flags().StringVar(&name, "model", "", "chat model (name or GGUF path; default: [vault] chat_model, then the default model)")
	cmd.Flags().IntVar(&maxTok, "max-tokens", 512, "longest answer in tokens")
	return cmd
}

func (c *vaultCLI) reembedCmd() *cobra.Command {
	return c.embedFlag(command("reembed", "Replace every vector of the collection with the embedding model's (--embed-model, else [vault] embed_model)", nil, func(cmd *cobra.Command, _ []string) error {
		return c.open(cmd, false, func(v *vault.Vault) error {
			rep, err := v.Reembed(cmd.Context(), c.collection, nil)
			return c.say(err, "re-embedded %d chunks with %s", rep.Chunks, rep.Model)
		})
	}))
}

func (c *vaultCLI) lsCmd() *cobra.Command {
	return jsonFlag(&c.json, command("ls", "List the documents in the vault", nil, func(cmd *cobra.Command, _ []string) error {
		return c.open(cmd, true, func(v *vault.Vault) error {
			docs, warn, err := v.List(cmd.Context(), c.collection)
			if err != nil {
				return err
			}
			c.warn(warn)
			switch {
			case c.json:
				return writeJSONLines(c.stdout, docs)
			case len(docs) == 0:
				fmt.Fprintln(c.stdout, "the vault is empty: add files with `sov vault add PATH`")
			default:
				vault.RenderDocs(c.stdout, docs, store.FormatBytes)
			}
			return nil
		})
	}), "one JSON object per document")
}

func (c *vaultCLI) rmCmd() *cobra.Command {
	return command("rm PATH...", "Remove documents (or everything under a folder); their bytes leave the file too", nargs(1, -1, "a file or folder"), func(cmd *cobra.Command, args []string) error {
		return c.open(cmd, false, func(v *vault.Vault) error {
			n, err := v.Remove(cmd.Context(), c.collection, args)
			return c.say(err, "removed %d document(s)", n)
		})
	})
}

func (c *vaultCLI) verifyCmd() *cobra.Command {
	return command("verify", "List the files whose records are damaged, exit 3 if any (re-adding a file repairs it)", nil, func(cmd *cobra.Command, _ []string) error {
		return c.open(cmd, true, func(v *vault.Vault) error {
			rep, err := v.Verify(cmd.Context(), c.collection)
			rep.Write(c.stdout)
			return err
		})
	})
}

func (c *vaultCLI) compactCmd() *cobra.Command {
	return command("compact", "Rewrite the vault file without its freed space (removed and replaced data)", nil, func(cmd *cobra.Command, _ []string) error {
		return c.open(cmd, false, func(v *vault.Vault) error {
			r, err := v.Compact(cmd.Context())
			return c.say(err, "vault compacted: %s → %s", store.FormatBytes(r.Before), store.FormatBytes(r.After))
		})
	})
}

func (c *vaultCLI) statsCmd() *cobra.Command {
	return jsonFlag(&c.json, command("stats", "Show what the vault holds", nil, func(cmd *cobra.Command, _ []string) error {
		return c.open(cmd, true, func(v *vault.Vault) error {
			st, err := v.Stats(cmd.Context(), c.collection)
			if err != nil {
				return err
			}
			if !c.json {
				c.warn(st.Warnings)
			}
			return c.show(c.json, st, func(w io.Writer) { st.Render(w, store.FormatBytes) })
		})
	}), "print JSON")
}

// exportPass reads the export passphrase (for scrypt age recipients).
func (c *vaultCLI) exportPass(cmd *cobra.Command, confirm bool) vault.Passphrase {
	return c.secret(cmd, "export-passphrase-file", "export passphrase", "SOV_VAULT_EXPORT_PASSPHRASE", confirm)
}

func (c *vaultCLI) exportCmd() *cobra.Command {
	var keys []string
	var force bool
	cmd := command("export FILE", "Write an age-encrypted archive of the vault's documents", nargs(1, 1, "one output file, e.g. FILE.age"), func(cmd *cobra.Command, args []string) error {
		if _, err := os.Stat(args[0]); err == nil && !force {
			return fmt.Errorf("%s exists: choose another name or pass --force", args[0])
		}
		recips, err := vault.Recipients(keys, nil) // a bad key is reported before any prompt
		if err != nil {
			return err
		}
		return c.open(cmd, true, func(v *vault.Vault) error {
			n, err := v.ExportFileWith(cmd.Context(), args[0], c.collection, recips, c.exportPass(cmd, true))
			return c.say(err, "exported %d document(s) to %s", n, args[0])
		})
	})
	cmd.Long = `Write the collection's documents (text, chunks, metadata) to FILE encrypted with
age: to --recipient age1… keys, or else with an export passphrase from
--export-passphrase-file, $SOV_VAULT_EXPORT_PASSPHRASE or a prompt.`
	cmd.Flags().StringSliceVar(&keys, "recipient", nil, "age public key (age1…) to encrypt to; repeatable")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite FILE")
	cmd.Flags().String("export-passphrase-file", "", "read the export passphrase from this file")
	return cmd
}

func (c *vaultCLI) importCmd() *cobra.Command {
	var idFile string
	cmd := command("import FILE", "Import an archive made by `sov vault export`", nargs(1, 1, "one archive, e.g. FILE.age"), func(cmd *cobra.Command, args []string) error {
		f, err := os.Open(args[0])
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		ids, err := vault.Identities(idFile, c.exportPass(cmd, false))
		if err != nil {
			return err
		}
		return c.open(cmd, false, func(v *vault.Vault) error {
			coll := "" // the archive's own collection unless -c is given
			if cmd.Flags().Changed("collection") {
				coll = c.collection
			}
			n, err := v.Import(cmd.Context(), f, coll, ids...)
			return c.say(err, "imported %d document(s)", n)
		})
	})
	cmd.Flags().StringVar(&idFile, "identity", "", "age identity file (for exports made with --recipient)")
	cmd.Flags().String("export-passphrase-file", "", "read the export passphrase from this file")
	return cmd
}

// lazyModel is the model name (or path; "" = the default model) loaded on
// first use, its calls recorded in the ledger; vault ask and news use it.
func (a *app) lazyModel(name, what string) *lazymodel.Model {
	return &lazymodel.Model{What: what, Path: func() (string, error) { return a.modelPath(name) }, Wrap: a.Recorded("cli"), DigestDir: a.Ledger().Dir()}
}
