package main

// sov dao: the DAO delegate's commands (flags, rendering, exit codes; the
// delegate itself is agents/dao, put together in app/dao.go).

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/agents/dao/governor"
	core "github.com/sovos/sov/app"
	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/wallet"
)

func daoCommands(a *app) []*cobra.Command {
	c := &cobra.Command{Use: "dao", Short: "Your DAO delegate: a policy you write, proposals triaged and decided by it, votes through a revocable alias key", Args: nargs(0, 0, "")}
	pol := &cobra.Command{Use: "policy", Short: "The delegate's policy file ($SOV_HOME/dao/policy.toml)", Args: nargs(0, 0, "")}
	pol.AddCommand(
		command("new", "Write a commented policy template and print its path", nil, a.daoPolicyNew),
		a.daoPolicyShowCmd(),
		command("edit", "Open the policy in $VISUAL or $EDITOR, then check it", nil, a.daoPolicyEdit),
	)
	alias := &cobra.Command{Use: "alias", Short: "The alias key that signs the delegate's Snapshot votes", Args: nargs(0, 0, "")}
	alias.AddCommand(a.daoAliasAuthorizeCmd(), command("revoke", "Stop voting with the alias key (sov signs nothing with it again)", nil, a.daoAliasRevoke))
	c.AddCommand(pol, alias,
		command("sync", "Fetch the active proposals of what the policy follows", nil, a.daoSync),
		a.daoProposalsCmd(), a.daoShowCmd(), a.daoExplainCmd(), a.daoVoteCmd(), a.daoRunCmd())
	return guard(daoHint, "the DAO delegate's state is damaged: %v", c)
}

// daoHint adds the command that gets out of each library error.
func daoHint(err error) error {
	var re *wallet.RefusedError
	if errors.As(err, &re) && re.Call != "" {
		return fmt.Errorf("%w (to let the delegate cast such votes unattended: sov wallet policy --allow-call %s)", err, re.Call)
	}
	return withFix(err,
		fix{new(*wallet.RevertError), " (the Governor refused the vote; nothing was sent)", false},
		fix{dao.ErrNoPolicy, ": write one with `sov dao policy new`", false},
		fix{dao.ErrPolicyExists, ": change it with `sov dao policy edit`", false},
		fix{new(*dao.PolicyError), " (fix it with `sov dao policy edit`)", false},
		fix{dao.ErrNoAlias, ": authorise it once with `sov dao alias authorize`", false},
		fix{dao.ErrAliasRevoked, ": authorise it again with `sov dao alias authorize`", false},
		fix{dao.ErrUnknownProposal, ": run `sov dao sync`, then see `sov dao proposals`", false},
		fix{dao.ErrNoDecision, ": give a CHOICE (sov dao vote ID CHOICE)", true},
		fix{dao.ErrInvalidChoice, "", true},
		fix{dao.ErrBusy, ": wait for it to finish", false},
		fix{dao.ErrHub, " (check [snapshot] hub in the policy; nothing was voted)", false},
		fix{wallet.ErrNoWallet, ": create one with `sov wallet init`", false},
		fix{new(*governor.UnknownChainError), " (`sov wallet networks add NAME --rpc URL`)", false},
		fix{governor.ErrNoVotePath, ": run `sov wallet addresses` once so sov knows your main account", false})
}

func (a *app) delegate(cmd *cobra.Command, o core.DAOOptions) (*dao.Delegate, *dao.SnapshotVoter, error) {
	o.Caller = "cli"
	o.Wallet, o.Approve, o.Interactive = walletPassphrase(a, cmd, false), walletApprover(a), prompt.IsTerminal(a.stdin)
	o.Feeds = a.secret(cmd, "", "publishing key passphrase (the DAO rationale log)", core.EnvFeedsPassphrase, false)
	return a.DAODelegate(cmd.Context(), o)
}

// daoReader is the delegate without a model, for the commands that only
// read its state or vote as told.
func (a *app) daoReader(cmd *cobra.Command) (*dao.Delegate, error) {
	d, _, err := a.delegate(cmd, core.DAOOptions{NoModel: true})
	return d, err
}

// daoFind is the synced proposal id names, with its stored decision
// (nil: none) and the delegate that holds it.
func (a *app) daoFind(cmd *cobra.Command, id string) (dao.Proposal, *dao.Decision, *dao.Delegate, error) {
	d, err := a.daoReader(cmd)
	if err != nil {
		return dao.Proposal{}, nil, nil, err
	}
	p, dec, err := d.Find(id)
	return p, dec, d, err
}

// daoConfirm asks the user at a terminal before what signs (unless yes);
// without a terminal it needs --yes.
func (a *app) daoConfirm(yes bool, what, question, declined string) error {
	if yes {
		return nil
	}
	if !prompt.IsTerminal(a.stdin) {
		return codeError{exitNeedsApproval, errors.New(what + " needs your confirmation: run it at a terminal, or pass --yes")}
	}
	ok, err := walletAsk(a, question)
	if err != nil || !ok {
		return cmp.Or(err, errors.New("declined: "+declined))
	}
	return nil
}

func (a *app) daoPolicyNew(_ *cobra.Command, _ []string) error {
	p := a.DAOPolicyPath()
	return a.say(dao.NewPolicyFile(p), "%s\nEdit it with `sov dao policy edit`.", p)
}

func (a *app) daoPolicyShowCmd() *cobra.Command {
	var asJSON bool
	c := command("show", "Check the policy and show what it follows, its issues, red lines and auto-cast rules", nil, func(_ *cobra.Command, _ []string) error {
		p, err := dao.LoadPolicy(a.DAOPolicyPath())
		if err != nil {
			return err
		}
		return a.show(asJSON, p, func(w io.Writer) {
			fmt.Fprintf(w, "%s\ndefault: %s   review window: %s   min confidence: %.2f\n", p.Path, p.Default, p.ReviewWindow, p.MinConfidence)
			fmt.Fprintf(w, "snapshot: %s  spaces: %s\n", p.Snapshot.Hub, strings.Join(p.Snapshot.Spaces, ", "))
			if len(p.Governors) > 0 {
				fmt.Fprintf(w, "governors: %s\n", strings.Join(p.Governors, ", "))
			}
			for _, is := range p.Issues {
				fmt.Fprintf(w, "issue %s: %s — %s\n", is.ID, is.Stance, is.About)
			}
			for _, r := range p.RedLines {
				fmt.Fprintf(w, "red line %s: never for %s\n", r.ID, r.About)
			}
			for _, r := range p.AutoCast {
				fmt.Fprintf(w, "auto-cast %s: issues %s, confidence ≥ %.2f\n", r.ID, strings.Join(r.Issues, ","), r.MinConfidence)
			}
		})
	})
	return jsonFlag(&asJSON, c, "write JSON")
}

func (a *app) daoPolicyEdit(cmd *cobra.Command, _ []string) error {
	p := a.DAOPolicyPath()
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("%s: %w", p, dao.ErrNoPolicy)
	}
	if err := a.edit(cmd.Context(), p); err != nil {
		return err
	}
	if _, err := dao.LoadPolicy(p); err != nil {
		return fmt.Errorf("%w (the file is saved as you left it)", err)
	}
	return a.say(nil, "policy checked: it loads")
}

func (a *app) daoSync(cmd *cobra.Command, _ []string) error {
	d, err := a.daoReader(cmd)
	if err != nil {
		return err
	}
	ps, err := d.Sync(cmd.Context())
	return a.say(err, "%d active proposals", len(ps))
}

func (a *app) daoProposalsCmd() *cobra.Command {
	var asJSON bool
	c := command("proposals", "List synced proposals with the triage result and the decision", nil, func(cmd *cobra.Command, _ []string) error {
		d, err := a.daoReader(cmd)
		if err != nil {
			return err
		}
		rows, err := d.Rows()
		if err != nil {
			return err
		}
		return a.show(asJSON, rows, func(w io.Writer) {
			for _, r := range rows {
				act, choice := r.Status()
				fmt.Fprintf(w, "%-12s %-14s %-9s ends %s  %-20.20s %s\n", short(r.ID), r.Type, act, r.End.Local().Format("Jan 02 15:04"), choice, oneLine(r.Title))
			}
			if len(rows) == 0 {
				fmt.Fprintln(w, "no proposals: run `sov dao sync`")
			}
		})
	})
	return jsonFlag(&asJSON, c, "write JSON")
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (a *app) daoShowCmd() *cobra.Command {
	var asJSON bool
	c := command("show ID", "Show one proposal: its text (as data), choices, window and voting power", nargs(1, 1, "a proposal id"), func(cmd *cobra.Command, args []string) error {
		p, _, _, err := a.daoFind(cmd, args[0])
		if err != nil {
			return err
		}
		return a.show(asJSON, p, func(w io.Writer) {
			fmt.Fprintf(w, "%s\n%s (%s) by %s\nvoting %s → %s (%s)\n", p.Key(), oneLine(p.Title), p.Type, p.Author,
				p.Start.Local().Format(time.RFC3339), p.End.Local().Format(time.RFC3339), p.State)
			for i, ch := range p.Choices {
				fmt.Fprintf(w, "  %d. %s\n", i+1, oneLine(ch))
			}
			if p.VP >= 0 {
				fmt.Fprintf(w, "voting power: %g\n", p.VP)
			}
			fmt.Fprintf(w, "--- proposal text (the author's, shown as data) ---\n%s\n", p.Body)
		})
	})
	return jsonFlag(&asJSON, c, "write JSON")
}

func (a *app) daoExplainCmd() *cobra.Command {
	var asJSON bool
	c := command("explain ID", "Why the delegate decided as it did: clauses, rationale, confidence and what the model saw", nargs(1, 1, "a proposal id"), func(cmd *cobra.Command, args []string) error {
		d, err := a.daoReader(cmd)
		if err != nil {
			return err
		}
		e, err := d.Explain(args[0])
		if err != nil {
			return err
		}
		return a.show(asJSON, e, func(w io.Writer) {
			fmt.Fprintf(w, "%s\n%s\n", e.Proposal.Key(), oneLine(e.Proposal.Title))
			if e.Decision == nil {
				fmt.Fprintln(w, "not decided yet: run `sov dao run`")
				return
			}
			dec := e.Decision
			fmt.Fprintf(w, "decision: %s by %s (%s), confidence %.2f\n", dec.Action, dec.By, dec.Why, dec.Confidence)
			if dec.Choice != nil {
				fmt.Fprintf(w, "choice: %s (%s)\n", dec.Choice.Label(e.Proposal), dec.Choice)
			}
			for _, c := range e.Clauses {
				fmt.Fprintf(w, "clause %s\n", c)
			}
			fmt.Fprintf(w, "rationale: %s\n", dec.Rationale)
			if !dec.NotBefore.IsZero() {
				fmt.Fprintf(w, "cast no earlier than %s\n", dec.NotBefore.Local().Format(time.RFC3339))
			}
			for _, v := range e.Votes {
				fmt.Fprintf(w, "voted %s by %s at %s (%s)\n", v.Choice, v.By, v.At.Local().Format(time.RFC3339), v.ID)
			}
			if e.Seen != "" {
				fmt.Fprintf(w, "--- what the model saw ---\n%s", e.Seen)
			}
		})
	})
	return jsonFlag(&asJSON, c, "write JSON")
}

func (a *app) daoVoteCmd() *cobra.Command {
	var yes bool
	c := command("vote ID [CHOICE]", "Vote: the drafted choice, or CHOICE (2; 1,3 for approval and ranked; 1=2,3=1 for weighted)", nargs(1, 2, "a proposal id"), func(cmd *cobra.Command, args []string) error {
		p, drafted, d, err := a.daoFind(cmd, args[0])
		if err != nil {
			return err
		}
		var choice *dao.Choice
		label := "the drafted choice"
		if len(args) == 2 {
			c, err := dao.ParseChoice(p, args[1])
			if err != nil {
				return err
			}
			choice, label = &c, c.Label(p)
		} else if drafted != nil && drafted.Choice != nil {
			label = drafted.Choice.Label(p)
		}
		if err := a.daoConfirm(yes, "a vote", fmt.Sprintf("Vote %q on %q?", label, oneLine(p.Title)), "nothing was voted"); err != nil {
			return err
		}
		p, vr, err := d.Vote(cmd.Context(), args[0], choice)
		return a.say(err, "voted %s on %s (%s, signed by %s)", vr.Choice, p.Key(), vr.ID, vr.Signer)
	})
	c.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	c.Flags().String("passphrase-file", "", "read the wallet passphrase from this file")
	return c
}

func (a *app) daoRunCmd() *cobra.Command {
	var (
		asJSON  bool
		o       core.DAOOptions
		modelNm string
	)
	c := command("run", "One delegate pass: sync, decide, cast what auto-cast rules allow in the review window, queue the rest", nil, func(cmd *cobra.Command, _ []string) error {
		o.Model = modelNm
		d, _, err := a.delegate(cmd, o)
		if err != nil {
			return err
		}
		defer d.Close()
		rep, err := d.Run(cmd.Context())
		if err != nil {
			return err
		}
		err = a.show(asJSON, rep, rep.Render)
		if err == nil && len(rep.Failed) > 0 {
			if calls := rep.RefusedCalls(); len(calls) > 0 {
				return fmt.Errorf("%d votes the rules allow were not cast (see FAILED): the wallet's policy asks about these contract calls; to let the delegate cast them unattended: sov wallet policy --allow-call %s", len(rep.Failed), strings.Join(calls, " --allow-call "))
			}
			return fmt.Errorf("%d votes the rules allow were not cast (see FAILED; `sov dao alias authorize` if the alias is not authorised)", len(rep.Failed))
		}
		return err
	})
	c.Flags().StringVar(&modelNm, "model", "", "the model deciding what no rule settles (default: sov's)")
	c.Flags().BoolVar(&o.NoModel, "no-model", false, "rules only: what they do not settle abstains")
	c.Flags().String("passphrase-file", "", "read the wallet passphrase from this file")
	return jsonFlag(&asJSON, c, "write JSON")
}

func (a *app) daoAliasAuthorizeCmd() *cobra.Command {
	var yes bool
	c := command("authorize", "Let the alias key vote for your main account on Snapshot (your main key signs an Alias message once)", nil, func(cmd *cobra.Command, _ []string) error {
		d, v, err := a.delegate(cmd, core.DAOOptions{NoModel: true})
		if err != nil {
			return err
		}
		if err := a.daoConfirm(yes, "authorising the alias", "Let sov's alias key (wallet account "+fmt.Sprint(dao.AliasIndex)+") vote for your main account on Snapshot?", "nothing was signed"); err != nil {
			return err
		}
		rec, err := d.AuthorizeAlias(cmd.Context(), v)
		return a.say(err, "alias %s may now vote for %s on Snapshot (%s)", rec.Alias, rec.From, rec.Message)
	})
	c.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	c.Flags().String("passphrase-file", "", "read the wallet passphrase from this file")
	return c
}

func (a *app) daoAliasRevoke(cmd *cobra.Command, _ []string) error {
	d, err := a.daoReader(cmd)
	if err != nil {
		return err
	}
	rec, err := d.RevokeAlias(cmd.Context())
	return a.say(err, "alias %s revoked: sov signs no vote with it again (the hub keeps the Alias message; a later vote of yours overrides any)", rec.Alias)
}
