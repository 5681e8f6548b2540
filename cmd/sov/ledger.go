package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/feeds"
	"github.com/sovos/sov/internal/generate"
	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/internal/seal"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/wallet"
)

func ledgerCommands(a *app) []*cobra.Command {
	c := &cobra.Command{
		Use:   "ledger",
		Short: "The signed record of model calls, tool calls, permissions, payments and votes",
		Long: "Every model call, tool call, permission decision, payment and vote is an entry:\n" +
			"an in-toto statement in a DSSE envelope holding hashes, never content, chained\n" +
			"to the one before and covered by signed Merkle checkpoints.",
	}
	c.AddCommand(ledgerLsCmd(a), ledgerShowCmd(a), ledgerVerifyCmd(a), ledgerExportCmd(a), ledgerCheckpointCmd(a), ledgerReplayCmd(a))
	return []*cobra.Command{c}
}

func (a *app) ledger() *ledger.Ledger { return ledger.Open(a.paths.Sub("ledger")) }

func ledgerLsCmd(a *app) *cobra.Command {
	var kind string
	var jsonOut bool
	c := &cobra.Command{
		Use: "ls", Short: "List entries (damaged ones too)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kind != "" && !strings.Contains(" "+strings.Join(ledger.Kinds, " ")+" ", " "+kind+" ") {
				return usagef("--kind %q: one of %s", kind, strings.Join(ledger.Kinds, ", "))
			}
			es, err := a.ledger().Entries()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			if !jsonOut {
				fmt.Fprintln(tw, "ID\tTIME\tKIND\tBY\tSIGNED\tHASH")
			}
			for _, e := range es {
				if kind != "" && e.Kind != kind {
					continue
				}
				if jsonOut {
					if err := json.NewEncoder(a.stdout).Encode(e); err != nil {
						return err
					}
					continue
				}
				if e.Err != nil {
					fmt.Fprintf(tw, "%d\t-\tdamaged\t-\t-\t%s\n", e.Seq, termtext.Clean(e.Err.Error()))
					continue
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%v\t%s\n", e.Seq, e.Time.Local().Format("2006-01-02 15:04:05"), e.Kind, termtext.Clean(e.Principal), e.Signed(), e.Hash[:12])
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&kind, "kind", "", "only entries of this kind: "+strings.Join(ledger.Kinds, "|"))
	c.Flags().BoolVar(&jsonOut, "json", false, "one JSON object per entry")
	return c
}

func ledgerShowCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use: "show ID", Short: "Show one entry (ID: its number or a hash prefix)", Args: exactArgs(1, "sov ledger show ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := a.ledger().Get(args[0])
			if err != nil {
				return err
			}
			if e.Err != nil {
				return fmt.Errorf("entry %d is damaged: %v", e.Seq, e.Err)
			}
			return writeJSON(a.stdout, map[string]any{"entry": e, "statement": json.RawMessage(e.Statement())})
		},
	}
}

func ledgerVerifyCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use: "verify", Short: "Check the chain, every signature and every checkpoint's Merkle root", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.ledger().Verify(cmd.Context())
			if err != nil {
				return err
			}
			for _, p := range r.Problems {
				fmt.Fprintln(a.stdout, termtext.Clean(p.Error()))
			}
			key := "no key yet"
			if r.KeyID != "" {
				key = "key " + r.KeyID[:16] + "…"
			}
			fmt.Fprintf(a.stdout, "%d entries (%s): %d signed, %d covered by a later signature, %d not yet signed; %d checkpoints; root %s\n",
				r.Entries, key, r.Signed, r.Covered, r.Unsigned, r.Checkpoints, r.Root)
			if r.Unsigned > 0 && len(r.Problems) == 0 {
				fmt.Fprintln(a.stderr, "sov: the last entries are not signed yet: run `sov ledger checkpoint` to sign them")
			}
			return r.Err()
		},
	}
}

func ledgerExportCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use: "export FILE", Short: "Write the entries as DSSE JSON Lines, and FILE.pub with the public key", Args: exactArgs(1, "sov ledger export FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			l := a.ledger()
			k, err := l.LoadKey()
			if err != nil {
				return ledgerHint(err)
			}
			pub, err := k.PublicPEM()
			if err != nil {
				return err
			}
			f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return fmt.Errorf("export: %w (choose a new file name)", err)
			}
			n, err := l.Export(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.WriteFile(args[0]+".pub", pub, 0o644)
			}
			if err != nil {
				os.Remove(args[0])
				return err
			}
			fmt.Fprintf(a.stdout, "%d entries → %s, public key (ed25519, keyid %s) → %s.pub\n", n, args[0], k.KeyID, args[0])
			return nil
		},
	}
}

func ledgerCheckpointCmd(a *app) *cobra.Command {
	var publish bool
	c := &cobra.Command{
		Use: "checkpoint [--publish]", Short: "Sign the Merkle root of every entry so far (creates the ledger key on first use)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := ledgerSigner(a, cmd, true)
			if err != nil {
				return ledgerHint(err)
			}
			l := a.ledger()
			e, err := l.Checkpoint(cmd.Context(), s)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "checkpoint %d: %v entries, root %s\n", e.Seq, e.Fields["size"], e.Subjects["tree-head"])
			if !publish {
				return nil
			}
			k, err := l.LoadKey()
			if err != nil {
				return err
			}
			art := feeds.Article{Topics: []string{"sov-ledger"}, Slug: fmt.Sprintf("sov-ledger-checkpoint-%d", e.Seq)}
			if art.Title, art.Body, err = ledger.CheckpointText(e, k); err != nil {
				return err
			}
			f := &feedsCLI{app: a}
			return f.open(false, func(st *feeds.Store) error {
				ev, rep, err := st.PublishArticle(cmd.Context(), art, f.pass(false), feeds.PublishTargets{})
				if ev != nil {
					fmt.Fprintf(a.stdout, "published %s (%d targets)\n", ev.ID, len(rep.Targets))
				}
				return feedsHint(cmd, err)
			})
		},
	}
	c.Flags().String("passphrase-file", "", "read the wallet (or ledger) passphrase from this file")
	c.Flags().BoolVar(&publish, "publish", false, "also publish it as a signed article through your feeds (sov feeds publish's key and relays)")
	return c
}

// ledgerSigner unlocks the ledger's key (see ledger.Unlock for which one);
// passphrases come from --passphrase-file, the environment or a prompt, and
// only from the environment when cmd is nil (recording, never asking).
func ledgerSigner(a *app, cmd *cobra.Command, create bool) (*ledger.Signer, error) {
	var file string
	if cmd != nil {
		file, _ = cmd.Flags().GetString("passphrase-file")
	}
	secret := func(name, env string, confirm bool) ([]byte, error) {
		if cmd == nil && a.getenv(env) == "" {
			return nil, prompt.ErrNoSecret
		}
		return prompt.Console{Getenv: a.getenv, Stdin: a.stdin, Stderr: a.stderr}.Passphrase(name, env, file, confirm)
	}
	keys := ledger.Keys{Passphrase: func(create bool) ([]byte, error) { return secret("ledger passphrase", "SOV_LEDGER_PASSPHRASE", create) }}
	if st := wallet.New(a.paths.Sub("wallet")).Store(); st.Exists() {
		keys.Wallet = func() (ed25519.PrivateKey, error) {
			pass, err := secret("wallet passphrase", "SOV_WALLET_PASSPHRASE", false)
			if err != nil {
				return nil, err
			}
			defer seal.Wipe(pass)
			k, err := st.Unlock(pass)
			if err != nil {
				return nil, err
			}
			return k.LedgerKey()
		}
	}
	return a.ledger().Unlock(keys, create)
}

// ledgerAutoSigner signs new entries when the passphrase is in the
// environment; otherwise entries are written unsigned until the next
// checkpoint. A wrong passphrase is said once, and the entry still written.
func ledgerAutoSigner(a *app) *ledger.Signer {
	s, err := ledgerSigner(a, nil, false)
	if err != nil && !errors.Is(err, prompt.ErrNoSecret) && !errors.Is(err, ledger.ErrNoKey) {
		fmt.Fprintf(a.stderr, "sov: warning: the ledger entry is unsigned: %v\n", err)
	}
	return s
}

// recordModelCall writes a model call to the ledger, keeping its input and
// output for replay. Not being able to record is said, never fatal: the
// answer has already been shown.
func (a *app) recordModelCall(ctx context.Context, eng generate.Engine, res generate.Result) *uint64 {
	e, err := generate.Record(context.WithoutCancel(ctx), a.ledger(), ledgerAutoSigner(a), "cli", eng, res, true)
	if err != nil {
		fmt.Fprintf(a.stderr, "sov: warning: the call was not recorded in the ledger: %v\n", err)
		return nil
	}
	return &e.Seq
}

// recorded wraps a model so each call is in the ledger by digest only: its
// prompts may hold vault passages, which never leave the vault in the clear.
func (a *app) recorded(m model.LLM) model.LLM {
	return &generate.Recording{LLM: m, Ledger: a.ledger(), Signer: ledgerAutoSigner(a), Principal: "cli",
		OnError: func(err error) {
			fmt.Fprintf(a.stderr, "sov: warning: a model call was not recorded in the ledger: %v\n", err)
		}}
}

func ledgerReplayCmd(a *app) *cobra.Command {
	var modelPath string
	c := &cobra.Command{
		Use: "replay ID", Short: "Run a recorded model call again on the CPU and compare the bytes", Args: exactArgs(1, "sov ledger replay ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := generate.Replay(cmd.Context(), a.ledger(), args[0], modelPath, nil)
			switch {
			case errors.Is(err, ledger.ErrNoBlob):
				return fmt.Errorf("%w: only calls recorded with their input (sov run) can be replayed", err)
			case err != nil:
				return runHint(err)
			case r.Identical:
				fmt.Fprintf(a.stdout, "entry %d: identical: %d bytes, sha256 %s\n", r.Entry.Seq, len(r.Output), r.Entry.Subjects["output"])
				return nil
			case r.FirstDiff >= 0:
				return fmt.Errorf("entry %d: differing bytes from offset %d (%d bytes recorded, %d now)", r.Entry.Seq, r.FirstDiff, len(r.Recorded), len(r.Output))
			}
			return fmt.Errorf("entry %d: differing bytes: sha256 %s, recorded %s", r.Entry.Seq, ledger.SHA256(r.Output), r.Entry.Subjects["output"])
		},
	}
	c.Flags().StringVar(&modelPath, "model", "", "the model file, when it moved (it must have the recorded sha256)")
	return c
}

func ledgerHint(err error) error {
	switch {
	case errors.Is(err, ledger.ErrNoKey):
		return fmt.Errorf("%w: create it with `sov ledger checkpoint`", err)
	case errors.Is(err, prompt.ErrNoSecret):
		return fmt.Errorf("%w (or use --passphrase-file)", err)
	case errors.Is(err, ledger.ErrWrongPassphrase), errors.Is(err, wallet.ErrWrongPassphrase):
		return fmt.Errorf("%w: check SOV_LEDGER_PASSPHRASE, SOV_WALLET_PASSPHRASE or --passphrase-file", err)
	}
	return err
}
