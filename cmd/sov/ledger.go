package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/feeds"
	"github.com/sovos/sov/internal/generate"
	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/wallet"
)

func ledgerCommands(a *app) []*cobra.Command {
	c := command("ledger", "The signed record of model calls, tool calls, permissions, payments and votes", nil, func(cmd *cobra.Command, _ []string) error { return cmd.Help() })
	c.Long = "Every model call, tool call, permission decision, payment and vote is an entry:\n" +
		"an in-toto statement in a DSSE envelope holding hashes, never content, chained\n" +
		"to the one before and covered by signed Merkle checkpoints."
	c.AddCommand(a.ledgerLsCmd(), a.ledgerShowCmd(), a.ledgerVerifyCmd(), a.ledgerExportCmd(), a.ledgerCheckpointCmd(), a.ledgerReplayCmd())
	return guard(ledgerHint, "the ledger failed unexpectedly (%v): run `sov ledger verify`", c)
}

// ledgerHint adds to a library error the command or flag that fixes it.
func ledgerHint(err error) error {
	const pass = ": check SOV_LEDGER_PASSPHRASE, SOV_WALLET_PASSPHRASE or --passphrase-file"
	return withFix(err,
		fix{ledger.ErrNoKey, ": create it with `sov ledger checkpoint`", false},
		fix{ledger.ErrWrongPassphrase, pass, false},
		fix{wallet.ErrWrongPassphrase, pass, false},
		fix{ledger.ErrNoBlob, ": only calls recorded with their input (sov run) can be replayed", false},
		fix{fs.ErrExist, " (choose a new file name)", false},
		fix{new(*generate.ModelMissingError), ": put it back, or pass --model with a copy that has that sha256", false})
}

func (a *app) ledger() *ledger.Ledger { return ledger.Open(a.paths.Sub("ledger")) }

func (a *app) ledgerLsCmd() *cobra.Command {
	var kind string
	var jsonOut bool
	c := command("ls", "List entries (damaged ones too)", nil, func(cmd *cobra.Command, _ []string) error {
		if kind != "" && !slices.Contains(ledger.Kinds, kind) {
			return usagef("--kind %q: one of %s", kind, strings.Join(ledger.Kinds, ", "))
		}
		es, err := a.ledger().Entries()
		if err != nil {
			return err
		}
		es = slices.DeleteFunc(es, func(e ledger.Entry) bool { return kind != "" && e.Kind != kind })
		if jsonOut {
			return writeJSONLines(a.stdout, es)
		}
		return a.show(false, ledger.Listing(es), nil)
	})
	c.Flags().StringVar(&kind, "kind", "", "only entries of this kind: "+strings.Join(ledger.Kinds, "|"))
	c.Flags().BoolVar(&jsonOut, "json", false, "one JSON object per entry")
	return c
}

func (a *app) ledgerShowCmd() *cobra.Command {
	return command("show ID", "Show one entry (ID: its number or a hash prefix)", nargs(1, 1, "an entry's number or hash prefix"), func(cmd *cobra.Command, args []string) error {
		e, err := a.ledger().Get(args[0])
		if err != nil {
			return err
		}
		if e.Err != nil {
			return fmt.Errorf("entry %d is damaged: %v", e.Seq, e.Err)
		}
		return writeJSON(a.stdout, map[string]any{"entry": e, "statement": json.RawMessage(e.Statement())})
	})
}

func (a *app) ledgerVerifyCmd() *cobra.Command {
	return command("verify", "Check the chain, every signature and every checkpoint's Merkle root", nil, func(cmd *cobra.Command, _ []string) error {
		r, err := a.ledger().Verify(cmd.Context())
		if err != nil {
			return err
		}
		a.show(false, r, nil)
		if r.Unsigned > 0 && len(r.Problems) == 0 {
			fmt.Fprintln(a.stderr, "sov: the last entries are not signed yet: run `sov ledger checkpoint` to sign them")
		}
		return r.Err()
	})
}

func (a *app) ledgerExportCmd() *cobra.Command {
	return command("export FILE", "Write the entries as DSSE JSON Lines, and FILE.pub with the public key", nargs(1, 1, "a new file to write"), func(cmd *cobra.Command, args []string) error {
		n, k, err := a.ledger().ExportFile(args[0])
		return a.say(err, "%d entries → %s, public key (ed25519, keyid %s) → %s.pub", n, args[0], k.KeyID, args[0])
	})
}

func (a *app) ledgerCheckpointCmd() *cobra.Command {
	var publish bool
	c := command("checkpoint [--publish]", "Sign the Merkle root of every entry so far (creates the ledger key on first use)", nil, func(cmd *cobra.Command, _ []string) error {
		s, err := ledgerSigner(a, cmd, true)
		if err != nil {
			return err
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
		return (&feedsCLI{app: a}).open(false, func(st *feeds.Store) error {
			pass := a.secret(cmd, "", "publishing key passphrase", "SOV_FEEDS_PASSPHRASE", false)
			ev, rep, err := st.PublishCheckpoint(cmd.Context(), e, k, pass)
			if ev != nil {
				fmt.Fprintf(a.stdout, "published %s (%d targets)\n", ev.ID, len(rep.Targets))
			}
			return feedsHint(err)
		})
	})
	c.Flags().String("passphrase-file", "", "read the wallet (or ledger) passphrase from this file")
	c.Flags().BoolVar(&publish, "publish", false, "also publish it as a signed article through your feeds (sov feeds publish's key and relays)")
	return c
}

// ledgerSigner unlocks the ledger's key (see ledger.Unlock for which one);
// passphrases come from --passphrase-file, the environment or a prompt, and
// only from the environment when cmd is nil (recording, never asking).
func ledgerSigner(a *app, cmd *cobra.Command, create bool) (*ledger.Signer, error) {
	keys := ledger.Keys{Passphrase: func(create bool) ([]byte, error) {
		return a.secret(cmd, "passphrase-file", "ledger passphrase", "SOV_LEDGER_PASSPHRASE", create)()
	}}
	if st := wallet.New(a.paths.Sub("wallet")).Store(); st.Exists() {
		keys.Wallet = func() (ed25519.PrivateKey, error) {
			return st.LedgerKeyWith(wallet.Passphrase(a.secret(cmd, "passphrase-file", "wallet passphrase", "SOV_WALLET_PASSPHRASE", false)))
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
		a.warnf("the ledger entry is unsigned: %v", err)
	}
	return s
}

// recordModelCall writes a model call to the ledger, keeping its input and
// output for replay. Not being able to record is said, never fatal: the
// answer has already been shown.
func (a *app) recordModelCall(ctx context.Context, eng generate.Engine, res generate.Result) *uint64 {
	e, err := generate.Record(context.WithoutCancel(ctx), a.ledger(), ledgerAutoSigner(a), "cli", eng, res, true)
	if err != nil {
		a.warnf("the call was not recorded in the ledger: %v", err)
		return nil
	}
	return &e.Seq
}

// recorded wraps a model so each call is in the ledger by digest only: its
// prompts may hold vault passages, which never leave the vault in the clear.
func (a *app) recorded(m model.LLM) model.LLM {
	return &generate.Recording{LLM: m, Ledger: a.ledger(), Signer: ledgerAutoSigner(a), Principal: "cli",
		OnError: func(err error) { a.warnf("a model call was not recorded in the ledger: %v", err) }}
}

func (a *app) ledgerReplayCmd() *cobra.Command {
	var modelPath string
	c := command("replay ID", "Run a recorded model call again on the CPU and compare the bytes", nargs(1, 1, "an entry's number or hash prefix"), func(cmd *cobra.Command, args []string) error {
		r, err := generate.Replay(cmd.Context(), a.ledger(), args[0], modelPath, nil)
		if err == nil {
			err = r.Err()
		}
		return a.say(err, "%s", r)
	})
	c.Flags().StringVar(&modelPath, "model", "", "the model file, when it moved (it must have the recorded sha256)")
	return c
}
