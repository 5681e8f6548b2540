package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	core "github.com/sovos/sov/app"
	"github.com/sovos/sov/chat/generate"
	"github.com/sovos/sov/internal/ledger"
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

func (a *app) ledgerLsCmd() *cobra.Command {
	var kind string
	var jsonOut bool
	c := command("ls", "List entries (damaged ones too)", nil, func(cmd *cobra.Command, _ []string) error {
		if kind != "" && !slices.Contains(ledger.Kinds, kind) {
			return usagef("--kind %q: one of %s", kind, strings.Join(ledger.Kinds, ", "))
		}
		es, err := a.Ledger().Entries()
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
		e, err := a.Ledger().Get(args[0])
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
		r, err := a.Ledger().Verify(cmd.Context())
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
		n, k, err := a.Ledger().ExportFile(args[0])
		return a.say(err, "%d entries → %s, public key (ed25519, keyid %s) → %s.pub", n, args[0], k.KeyID, args[0])
	})
}

func (a *app) ledgerCheckpointCmd() *cobra.Command {
	var publish bool
	c := command("checkpoint [--publish]", "Sign the Merkle root of every entry so far (creates the ledger key on first use)", nil, func(cmd *cobra.Command, _ []string) error {
		s, err := a.LedgerSigner(core.Passphrases{
			Ledger: func(create bool) ([]byte, error) {
				return a.secret(cmd, "passphrase-file", "ledger passphrase", core.EnvLedgerPassphrase, create)()
			},
			Wallet: a.secret(cmd, "passphrase-file", "wallet passphrase", core.EnvWalletPassphrase, false)}, true)
		if err != nil {
			return err
		}
		e, err := a.Ledger().Checkpoint(cmd.Context(), s)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "checkpoint %d: %v entries, root %s\n", e.Seq, e.Fields["size"], e.Subjects["tree-head"])
		if !publish {
			return nil
		}
		ev, rep, err := a.PublishCheckpoint(cmd.Context(), e, a.secret(cmd, "", "publishing key passphrase", "SOV_FEEDS_PASSPHRASE", false))
		if ev != nil {
			fmt.Fprintf(a.stdout, "published %s (%d targets)\n", ev.ID, len(rep.Targets))
		}
		return feedsHint(err)
	})
	c.Flags().String("passphrase-file", "", "read the wallet (or ledger) passphrase from this file")
	c.Flags().BoolVar(&publish, "publish", false, "also publish it as a signed article through your feeds (sov feeds publish's key and relays)")
	return c
}

func (a *app) ledgerReplayCmd() *cobra.Command {
	var modelPath string
	c := command("replay ID", "Run a recorded model call again on the CPU and compare the bytes", nargs(1, 1, "an entry's number or hash prefix"), func(cmd *cobra.Command, args []string) error {
		r, err := generate.Replay(cmd.Context(), a.Ledger(), args[0], modelPath, nil)
		if err == nil {
			err = r.Err()
		}
		return a.say(err, "%s", r)
	})
	c.Flags().StringVar(&modelPath, "model", "", "the model file, when it moved (it must have the recorded sha256)")
	return c
}
