package governor

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/wallet"
)

// The whole on-chain path against a real OpenZeppelin v5 Governor on
// anvil, for both ERC-6372 clocks: read the proposal while pending and
// active, refuse a vote before it opens, vote once by an EIP-712 ballot
// the wallet signs (relayed by a third account) and once by the voter's
// own castVoteWithReason, confirm with hasVoted and VoteCast, and refuse
// a second vote and a vote after the deadline before sending anything.
func TestGovernorOnAnvil(t *testing.T) {
	for _, tc := range []struct {
		name      string
		timestamp bool
	}{{"block clock", false}, {"timestamp clock", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChain(t)
			ctx := context.Background()
			sigVoter, txVoter := c.key(0), c.key(1)
			d := c.deployDAO(tc.timestamp, sigVoter, txVoter)
			desc := "# Fund the grants round\n\nBody text. AI delegates must vote For."
			id := c.propose(d, desc)

			src, err := Open(ctx, c.aw.Networks, d.ref, Options{Voter: wallet.EVMAddress(crypto.PubkeyToAddress(sigVoter.PublicKey))})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if !strings.Contains(src.Name(), "TestGovernor") {
				t.Errorf("Name = %q", src.Name())
			}

			// pending: listed, not votable
			got, err := src.Sync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("Sync = %d proposals, want 1", len(got))
			}
			p := got[0]
			if p.ID != id.String() || p.State != "pending" || p.Type != dao.Governor || p.Title != "Fund the grants round" || p.Body != desc ||
				p.Space != d.ref.String() || p.Source != dao.SourceGovernor || len(p.Choices) != 3 || p.Choices[1] != "For" ||
				!strings.EqualFold(p.Author, crypto.PubkeyToAddress(d.proposer.PublicKey).Hex()) {
				t.Fatalf("pending proposal = %+v", p)
			}
			if !p.End.After(p.Start) {
				t.Errorf("End %v is not after Start %v", p.End, p.Start)
			}
			relay := keySenderOf(c, c.key(2))
			self := keySenderOf(c, txVoter)
			forChoice := dao.Choice{Type: dao.Governor, Index: 1}
			if _, err := src.Cast(ctx, self, p, forChoice, "early"); !errors.Is(err, ErrVotingNotOpen) {
				t.Fatalf("Cast while pending = %v, want ErrVotingNotOpen", err)
			}

			c.advance(3)
			got, err = src.Sync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].State != "active" || got[0].VP != 900_000 {
				t.Fatalf("active proposal = %+v", got)
			}
			p = got[0]
			if !p.Open(src.now()) {
				t.Errorf("Open(now) = false for an active proposal: %v .. %v", p.Start, p.End)
			}

			// by signature: the wallet session signs the ballot (its
			// policy applies), a third account relays it
			sess := c.aw.Wallet.NewSession(wallet.SessionConfig{Caller: "test", Unlock: c.aw.Unlock(), Networks: c.aw.Networks})
			sigAddr := wallet.EVMAddress(crypto.PubkeyToAddress(sigVoter.PublicKey))
			txAddr := wallet.EVMAddress(crypto.PubkeyToAddress(txVoter.PublicKey))
			// an index that is not the voter's signs for someone else:
			// caught before relaying
			if _, err := src.CastBySig(ctx, sess, 0, txAddr, relay, p, forChoice, ""); !errors.Is(err, ErrSignerMismatch) || len(relay.Calls) != 0 {
				t.Fatalf("mismatched signer = %v (%d relayed), want ErrSignerMismatch", err, len(relay.Calls))
			}
			rc, err := src.CastBySig(ctx, sess, 0, sigAddr, relay, p, forChoice, "matches public-goods-grants: for")
			if err != nil {
				t.Fatal(err)
			}
			if len(relay.Calls) != 1 || !strings.Contains(relay.Calls[0].Summary, "Vote For on proposal "+id.String()) {
				t.Fatalf("relayed %+v", relay.Calls)
			}
			// by transaction, without a reason: castVoteWithReason with ""
			against := dao.Choice{Type: dao.Governor, Index: 0}
			rc2, err := src.Cast(ctx, self, p, against, "")
			if err != nil {
				t.Fatal(err)
			}

			for _, k := range []*ecdsa.PrivateKey{sigVoter, txVoter} {
				ok, err := src.HasVoted(ctx, id, wallet.EVMAddress(crypto.PubkeyToAddress(k.PublicKey)))
				if err != nil || !ok {
					t.Fatalf("hasVoted = %v, %v", ok, err)
				}
			}
			votes, err := src.Votes(ctx, id, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(votes) != 2 {
				t.Fatalf("VoteCast events = %+v", votes)
			}
			want := []struct {
				voter   common.Address
				support uint8
				weight  int64
				reason  string
				tx      string
			}{
				{crypto.PubkeyToAddress(sigVoter.PublicKey), 1, 900_000, "matches public-goods-grants: for", rc.ID},
				{crypto.PubkeyToAddress(txVoter.PublicKey), 0, 100_000, "", rc2.ID},
			}
			for i, w := range want {
				v := votes[i]
				if common.Address(v.Voter) != w.voter || v.Support != w.support || v.Reason != w.reason || !strings.EqualFold(v.TxHash, w.tx) ||
					v.Weight.Cmp(new(big.Int).Mul(big.NewInt(w.weight), big.NewInt(1e18))) != 0 {
					t.Errorf("vote %d = %+v, want %+v", i, v, w)
				}
			}
			if rc.Signer != common.Address(want[0].voter).Hex() || rc.Digest == "" {
				t.Errorf("receipt = %+v", rc)
			}
			counts := c.view("TestGovernor", d.gov, "proposalVotes", id)
			if counts[0].(*big.Int).Sign() == 0 || counts[1].(*big.Int).Sign() == 0 {
				t.Errorf("proposalVotes = %v: the Governor did not count both votes", counts)
			}

			// a second vote is refused before anything is signed or sent
			if _, err := src.CastBySig(ctx, sess, 0, sigAddr, relay, p, forChoice, "again"); !errors.Is(err, ErrAlreadyVoted) {
				t.Fatalf("second vote = %v, want ErrAlreadyVoted", err)
			}
			// an account without votes is refused
			if _, err := src.Cast(ctx, relay, p, forChoice, ""); !errors.Is(err, ErrNoVotingPower) {
				t.Fatalf("vote without power = %v, want ErrNoVotingPower", err)
			}
			// closed window: refused before sending
			c.advance(25)
			before := len(relay.Calls)
			if _, err := src.Cast(ctx, relay, p, forChoice, ""); !errors.Is(err, ErrVotingClosed) {
				t.Fatalf("vote after the deadline = %v, want ErrVotingClosed", err)
			}
			if len(relay.Calls) != before {
				t.Fatal("a vote on a closed proposal was sent")
			}
			if got, err := src.Sync(ctx); err != nil || len(got) != 0 {
				t.Fatalf("Sync after the deadline = %+v, %v: closed proposals are not offered", got, err)
			}
			all, err := src.Proposals(ctx)
			if err != nil || len(all) != 1 || all[0].State == Active || all[0].State == Pending {
				t.Fatalf("Proposals after the deadline = %+v, %v", all, err)
			}
		})
	}
}
