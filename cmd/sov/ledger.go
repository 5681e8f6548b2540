package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/internal/conversation"
	"github.com/sovos/sov/internal/events"
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
					if err := json.NewEncoder(a.stdout).Encode(ledgerView(e)); err != nil {
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

// ledgerView is an entry as --json and show print it.
func ledgerView(e ledger.Entry) map[string]any {
	v := map[string]any{"id": e.Seq, "hash": e.Hash}
	if e.Err != nil {
		v["error"] = e.Err.Error()
		return v
	}
	v["time"], v["kind"], v["principal"], v["prev"] = e.Time, e.Kind, e.Principal, e.Prev
	v["subjects"], v["fields"], v["keyids"] = e.Subjects, e.Fields, e.KeyIDs
	return v
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
			return writeJSON(a.stdout, map[string]any{"entry": ledgerView(e), "statement": json.RawMessage(e.Statement())})
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
	c := &cobra.Command{
		Use: "checkpoint", Short: "Sign the Merkle root of every entry so far (creates the ledger key on first use)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := ledgerSigner(a, cmd, true)
			if err != nil {
				return ledgerHint(err)
			}
			e, err := a.ledger().Checkpoint(cmd.Context(), s)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "checkpoint %d: %v entries, root %s\n", e.Seq, e.Fields["size"], e.Subjects["tree-head"])
			return nil
		},
	}
	c.Flags().String("passphrase-file", "", "read the wallet (or ledger) passphrase from this file")
	return c
}

// ledgerSigner unlocks the ledger key: the wallet's ledger key when the
// ledger's key comes from the wallet (or, with create, when a wallet
// exists and the ledger has no key yet), otherwise a local key under its
// own passphrase. Passphrases come from the flag file, the environment or a
// prompt; with interactive false only the environment is used.
func ledgerSigner(a *app, cmd *cobra.Command, create bool) (*ledger.Signer, error) {
	l := a.ledger()
	k, err := l.LoadKey()
	if err != nil && !(create && errors.Is(err, ledger.ErrNoKey)) {
		return nil, err
	}
	var file string
	if cmd != nil {
		file, _ = cmd.Flags().GetString("passphrase-file")
	}
	secret := func(env, label string, confirm bool) ([]byte, error) {
		if cmd == nil && a.getenv(env) == "" {
			return nil, prompt.ErrNoSecret
		}
		return prompt.Secret(prompt.Source{Env: env, File: file, Prompt: label, Confirm: confirm, Getenv: a.getenv, Stdin: a.stdin, Stderr: a.stderr})
	}
	st := wallet.New(a.paths.Sub("wallet")).Store()
	if k.Source == ledger.SourceWallet || (k.KeyID == "" && st.Exists()) {
		pass, err := secret("SOV_WALLET_PASSPHRASE", "Wallet passphrase: ", false)
		if err != nil {
			return nil, err
		}
		defer seal.Wipe(pass)
		keys, err := st.Unlock(pass)
		if err != nil {
			return nil, err
		}
		priv, err := keys.LedgerKey()
		if err != nil {
			return nil, err
		}
		if k.KeyID == "" {
			if err := l.AdoptKey(priv.Public().(ed25519.PublicKey)); err != nil {
				return nil, err
			}
		}
		return l.Signer(priv)
	}
	pass, err := secret("SOV_LEDGER_PASSPHRASE", "Ledger passphrase: ", k.KeyID == "")
	if err != nil {
		return nil, err
	}
	defer seal.Wipe(pass)
	if k.KeyID == "" {
		kdf, err := seal.DefaultKDF()
		if err != nil {
			return nil, err
		}
		return l.CreateLocalKey(pass, kdf)
	}
	return l.UnlockLocalKey(pass)
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

// recordShellCalls records each finished answer of the shell.
func (a *app) recordShellCalls(ctx context.Context, sub *events.Subscription[conversation.Event], path *atomic.Pointer[string]) (failed int) {
	l, s := a.ledger(), ledgerAutoSigner(a)
	for ev := range sub.C {
		p := path.Load()
		if !ev.Final() || p == nil {
			continue
		}
		in, err := json.Marshal(struct {
			Messages []model.Message `json:"messages"`
			Sampling model.Sampling  `json:"sampling"`
		}{ev.Input, ev.Sampling})
		if err == nil {
			_, err = generate.RecordCall(context.WithoutCancel(ctx), l, s, "tui", *p, in, ev.Sampling, ev.Answer.Content, ev.Stats, nil, false)
		}
		if err != nil {
			failed++
		}
	}
	return failed
}

func ledgerReplayCmd(a *app) *cobra.Command {
	var modelPath string
	c := &cobra.Command{
		Use: "replay ID", Short: "Run a recorded model call again on the CPU and compare the bytes", Args: exactArgs(1, "sov ledger replay ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			load := func(ctx context.Context, o model.Options) (generate.Model, func(), error) {
				o.TrimMemory = true
				eng, err := model.Load(ctx, o)
				if err != nil {
					return nil, nil, err
				}
				return eng, func() { eng.Close() }, nil
			}
			r, err := generate.Replay(cmd.Context(), a.ledger(), args[0], modelPath, load)
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
	case errors.Is(err, ledger.ErrWrongPassphrase), errors.Is(err, wallet.ErrWrongPassphrase):
		return fmt.Errorf("%w: check SOV_LEDGER_PASSPHRASE, SOV_WALLET_PASSPHRASE or --passphrase-file", err)
	}
	return err
}
