package app

import (
	"context"
	"path/filepath"

	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/agents/dao/governor"
	"github.com/sovos/sov/feeds"
	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/wallet"
)

// DAODir is the DAO delegate's folder: policy.toml and its state.
func (a *App) DAODir() string { return a.Paths.Sub("dao") }

// DAOPolicyPath is the delegate's policy file.
func (a *App) DAOPolicyPath() string { return filepath.Join(a.DAODir(), "policy.toml") }

// DAOOptions say who drives the delegate and what it may unlock.
type DAOOptions struct {
	Caller string // cli, tui, agent:NAME
	// Model names the model deciding what no rule settles ("" the
	// default); NoModel: none, those proposals abstain.
	Model   string
	NoModel bool
	// Wallet unlocks the keys when a vote or the alias is signed;
	// Approve and Interactive say who may approve what the wallet's
	// policy asks about (nil, false: nobody).
	Wallet      wallet.Passphrase
	Approve     wallet.Approver
	Interactive bool
	// Feeds unlocks the feeds publishing key for the public rationale log
	// (the policy's [log] nostr); nil: votes are not published, with a
	// warning for each.
	Feeds func() ([]byte, error)
}

// DAODelegate puts the delegate together: the policy, the Snapshot hub it
// names, the model recorded in the ledger, and a Snapshot voter signing
// through the user's wallet session (the alias key for votes, the main
// key for the alias), every decision and vote a ledger entry.
func (a *App) DAODelegate(ctx context.Context, o DAOOptions) (*dao.Delegate, *dao.SnapshotVoter, error) {
	pol, err := dao.LoadPolicy(a.DAOPolicyPath())
	if err != nil {
		return nil, nil, err
	}
	hub := &dao.Hub{URL: pol.Snapshot.Hub, Sequencer: pol.Snapshot.Sequencer}
	src := &dao.SnapshotSource{Hub: hub, Spaces: pol.Snapshot.Spaces}
	w := a.Wallet()
	if acct, ok := w.Store().CachedAccounts(); ok && acct.Index == dao.MainIndex {
		src.Voter = acct.EVM // voting power is looked up for the main account
	}
	voter := &dao.SnapshotVoter{Hub: hub, Accounts: func() (string, string, error) {
		s, err := a.WalletSession(ctx, o.Caller, o.Approve, o.Interactive, o.Wallet)
		if err != nil {
			return "", "", err
		}
		m, err := s.Accounts(dao.MainIndex)
		if err != nil {
			return "", "", err
		}
		al, err := s.Accounts(dao.AliasIndex)
		return m.EVM, al.EVM, err
	}}
	signer := sessionSigner{a: a, o: o}
	voter.Signer = signer
	d := &dao.Delegate{Dir: a.DAODir(), Policy: pol, Sources: []dao.Source{src}, Principal: o.Caller,
		Voters: map[string]dao.Voter{dao.SourceSnapshot: voter},
		Record: func(ctx context.Context, rec ledger.Record) error {
			_, err := a.Ledger().Append(ctx, rec, a.AutoSigner())
			return err
		}}
	if len(pol.Governors) > 0 {
		// Governors are read through the wallet's network table; votes are
		// the user's own castVoteWithReason transactions, sent through the
		// wallet, whose policy asks the user about every contract call it
		// does not allow-list (a Governor allows no second vote).
		nets, err := wallet.LoadNetworks(a.Config)
		if err != nil {
			return nil, nil, err
		}
		g := &governor.Governors{Networks: nets, Refs: pol.Governors, Signer: signer, Account: dao.MainIndex}
		if acct, ok := w.Store().CachedAccounts(); ok && acct.Index == dao.MainIndex {
			g.Voter, _ = wallet.ParseEVMAddress(acct.EVM)
		}
		if snd := a.govSender(o); snd != nil {
			g.Sender = snd
		}
		d.Sources = append(d.Sources, g)
		d.Voters[dao.SourceGovernor] = g
	}
	if !o.NoModel {
		d.Model = a.LazyModel(o.Model, "DAO decision model", o.Caller)
	}
	if pol.Log.Nostr {
		d.OnVote = a.publishVote(o.Feeds)
	}
	return d, voter, nil
}

// publishVote publishes a cast vote to the public rationale log: a signed
// long-form article through feeds (stored, sent to the relays and events
// file configured). A failure is a warning: the vote stands either way,
// and the ledger has it.
func (a *App) publishVote(pass func() ([]byte, error)) func(context.Context, dao.Proposal, dao.VoteRecord, string) {
	return func(ctx context.Context, p dao.Proposal, v dao.VoteRecord, rationale string) {
		if pass == nil {
			a.warnf("the vote on %s was not published to the rationale log: no feeds passphrase here (set SOV_FEEDS_PASSPHRASE)", termtext.Clean(p.Key()))
			return
		}
		n := dao.NewVoteNote(p, v, rationale)
		err := feeds.With(a.Paths.Sub("feeds"), a.Config, false, func(st *feeds.Store) error {
			_, _, err := st.PublishArticle(ctx, feeds.Article{Title: n.Title, Body: n.Body, Slug: n.Slug, Topics: n.Topics}, pass, feeds.PublishTargets{})
			return err
		})
		if err != nil {
			a.warnf("the vote on %s was not published to the rationale log: %v", termtext.Clean(p.Key()), err)
		}
	}
}

// sessionSigner opens the wallet session only when something is signed,
// so listing and deciding never ask for the wallet passphrase.
type sessionSigner struct {
	a *App
	o DAOOptions
}

func (s sessionSigner) SignTypedData(ctx context.Context, td wallet.TypedData, index uint32) ([]byte, error) {
	sess, err := s.a.WalletSession(ctx, s.o.Caller, s.o.Approve, s.o.Interactive, s.o.Wallet)
	if err != nil {
		return nil, err
	}
	return sess.SignTypedData(ctx, td, index)
}

// ShellDAO is the delegate for the shell's pending-votes view: no model
// (the view acts on what a run decided), the keys unlocked from
// SOV_WALLET_PASSPHRASE only (the shell owns the terminal), and approve
// answering what the wallet's policy asks the person, who types the
// passphrase into the shell as they would at the CLI's prompt.
func (a *App) ShellDAO(ctx context.Context, approve wallet.Approver) (*dao.Delegate, error) {
	d, _, err := a.DAODelegate(ctx, DAOOptions{Caller: "tui", NoModel: true, Wallet: a.FromEnv(EnvWalletPassphrase),
		Feeds: a.FromEnv(EnvFeedsPassphrase), Approve: approve, Interactive: approve != nil})
	return d, err
}
