package governor

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/wallet"
)

// Governors is the delegate's one Source and Voter for every Governor
// the policy names: two Governors on one chain give both proposals; a
// vote goes to the right one, by transaction or by ballot.
func TestGovernors(t *testing.T) {
	c := newChain(t)
	ctx := context.Background()
	voter := c.key(0)
	a := c.deployDAO(false, voter)
	b := c.deployDAO(true, voter)
	idA := c.propose(a, "# A")
	idB := c.propose(b, "# B")
	c.advance(3)
	voterAddr := wallet.EVMAddress(crypto.PubkeyToAddress(voter.PublicKey))
	sess := c.aw.Wallet.NewSession(wallet.SessionConfig{Caller: "test", Unlock: c.aw.Unlock(), Networks: c.aw.Networks})
	refs := []string{strings.ToLower(a.ref.String()), b.ref.String()} // as a policy may spell them
	byTx := &Governors{Networks: c.aw.Networks, Refs: refs, Sender: keySenderOf(c, voter)}
	bySig := &Governors{Networks: c.aw.Networks, Refs: refs, Signer: sess, Account: 0, Voter: voterAddr, Relay: keySenderOf(c, c.key(2))}

	ps, err := byTx.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Title < ps[j].Title })
	if len(ps) != 2 || ps[0].ID != idA.String() || ps[1].ID != idB.String() || ps[0].Space != a.ref.String() || ps[1].Space != b.ref.String() || ps[0].VP != 1_000_000 {
		t.Fatalf("Sync = %+v", ps)
	}
	for _, p := range ps {
		p.Space = strings.ToLower(p.Space) // as the delegate's state may hold it
		g := byTx
		if p.Title == "B" {
			g = bySig
		}
		if _, err := g.Vote(ctx, p, dao.Choice{Type: dao.Governor, Index: 2}, "abstain: "+p.Title); err != nil {
			t.Fatalf("vote on %s: %v", p.Title, err)
		}
	}
	for _, d := range []struct {
		f  daoFixture
		id string
	}{{a, idA.String()}, {b, idB.String()}} {
		s, err := Open(ctx, c.aw.Networks, d.f.ref, Options{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Lookup(ctx, d.id)
		if err != nil {
			t.Fatal(err)
		}
		votes, err := s.Votes(ctx, p.ID, 0)
		s.Close()
		if err != nil || len(votes) != 1 || votes[0].Support != 2 || votes[0].Voter != voterAddr {
			t.Fatalf("votes at %s = %+v, %v", d.f.ref, votes, err)
		}
	}

	other := ps[0]
	other.Space = "eip155:31337:0x000000000000000000000000000000000000dEaD"
	if _, err := byTx.Vote(ctx, other, dao.Choice{Type: dao.Governor, Index: 1}, ""); !errors.Is(err, ErrNotFollowed) {
		t.Fatalf("vote on an unfollowed Governor = %v", err)
	}
	none := &Governors{Networks: c.aw.Networks, Refs: refs}
	if _, err := none.Vote(ctx, ps[0], dao.Choice{Type: dao.Governor, Index: 1}, ""); !errors.Is(err, ErrNoVotePath) {
		t.Fatalf("vote with no way to send = %v", err)
	}
}
