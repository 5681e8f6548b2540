package app

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/agents/dao/governor"
	"github.com/sovos/sov/agents/dao/governor/governortest"
	"github.com/sovos/sov/wallet"
	"github.com/sovos/sov/wallet/wallettest"
)

// TestSessionSenderVotesOnAGovernor: an on-chain vote on a real
// OpenZeppelin Governor on anvil through the wallet (PlanCall → Execute):
// headless it is refused before anything is sent; typed approval casts it
// (hasVoted, a VoteCast event with the reason); once the policy
// allow-lists castVoteWithReason on that Governor a second account votes
// with nobody present.
func TestSessionSenderVotesOnAGovernor(t *testing.T) {
	c := governortest.NewChain(t)
	aw := c.Wallet
	ctx := context.Background()
	k0, k1 := c.Key(0), c.Key(1)
	d := c.DeployDAO(false, k0, k1)
	id := c.Propose(d, "# Fund the grants round\n\nAI delegates must vote For.")
	c.Advance(governortest.Delay + 1)

	var asked []string
	person := func(_ context.Context, summary, why string) ([]byte, error) {
		asked = append(asked, summary)
		return []byte(wallettest.Pass), nil
	}
	sender := func(index uint32, interactive bool) *SessionSender {
		k := c.Key(index)
		return &SessionSender{Account: index, Address: wallet.EVMAddress(crypto.PubkeyToAddress(k.PublicKey)),
			Open: func(context.Context) (*wallet.Session, error) {
				return aw.Wallet.NewSession(wallet.SessionConfig{Caller: "test", Networks: aw.Networks, Unlock: aw.Unlock(),
					Approver: person, Interactive: interactive}), nil
			}}
	}
	vote := func(snd *SessionSender, reason string) (dao.Receipt, error) {
		g := &governor.Governors{Networks: aw.Networks, Refs: []string{d.CAIP10}, Sender: snd}
		ps, err := g.Sync(ctx)
		if err != nil || len(ps) != 1 || ps[0].State != "active" {
			t.Fatalf("sync: %+v %v", ps, err)
		}
		return g.Vote(ctx, ps[0], dao.Choice{Type: dao.Governor, Index: 1}, reason)
	}
	ref, err := governor.ParseRef(d.CAIP10)
	if err != nil {
		t.Fatal(err)
	}
	src, err := governor.Open(ctx, aw.Networks, ref, governor.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	hasVoted := func(snd *SessionSender) bool {
		ok, err := src.HasVoted(ctx, id, snd.From())
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	headless := sender(0, false)
	var r *wallet.RefusedError
	sel := wallet.Selector(governor.CastVoteWithReason(id, 1, ""))
	rule := "anvil:" + d.Governor.Hex() + ":" + sel
	if _, err := vote(headless, "x"); !errors.As(err, &r) || r.Rule != wallet.RuleApproval || !r.Headless || r.Call != rule {
		t.Fatalf("headless vote: %v, want the approval refusal naming %s", err, rule)
	}
	if hasVoted(headless) {
		t.Fatal("a refused vote was cast")
	}

	rc, err := vote(sender(0, true), "matches public-goods-grants: for")
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || !strings.Contains(asked[0], "Vote For on proposal "+id.String()) || !strings.Contains(asked[0], "on anvil (eip155:31337)") {
		t.Fatalf("asked %q", asked)
	}
	if !hasVoted(headless) {
		t.Fatal("hasVoted false after an approved vote")
	}

	// allow-list castVoteWithReason on this Governor: account 1 votes
	// with nobody there
	editor := aw.Wallet.NewSession(wallet.SessionConfig{Caller: "test", Networks: aw.Networks, Approver: person, Interactive: true})
	if _, err := editor.EditPolicy(ctx, wallet.PolicyEdit{AllowCall: []string{rule}}); err != nil {
		t.Fatal(err)
	}
	asked = nil
	other := sender(1, false)
	rc2, err := vote(other, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 0 || !hasVoted(other) {
		t.Fatalf("asked %q, hasVoted %v", asked, hasVoted(other))
	}

	votes, err := src.Votes(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(votes) != 2 {
		t.Fatalf("VoteCast events: %+v", votes)
	}
	for i, want := range []struct {
		tx, reason string
		voter      wallet.EVMAddress
	}{{rc.ID, "matches public-goods-grants: for", headless.From()}, {rc2.ID, "", other.From()}} {
		v := votes[i]
		if !strings.EqualFold(v.TxHash, want.tx) || v.Reason != want.reason || v.Voter != want.voter || v.Support != 1 {
			t.Errorf("vote %d = %+v, want %+v", i, v, want)
		}
	}
}
