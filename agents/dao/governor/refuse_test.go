package governor

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/wallet"
)

// Open refuses what it cannot vote on, by name: a chain the wallet does
// not know, a known chain without an RPC, Compound's GovernorBravo, a
// contract that is no Governor, an address without code.
func TestOpenRefuses(t *testing.T) {
	c := newChain(t)
	ctx := context.Background()
	owner := c.key(0)
	bravo := c.deploy(owner, "BravoLike")
	token := c.deploy(owner, "GovToken", false)
	chain := "eip155:" + c.chainID.String()
	mainnet, _ := wallet.FindNetwork(wallet.Builtin(), "eip155:1")
	nets := append([]wallet.Network{mainnet}, c.aw.Networks...)
	var noRPC *wallet.NoRPCError
	var unknown *UnknownChainError
	for _, tc := range []struct {
		name string
		ref  string
		is   func(error) bool
		text string
	}{
		{"unknown chain", "eip155:4242:" + bravo.Hex(), func(err error) bool { return errors.As(err, &unknown) }, "chain eip155:4242 is not a network the wallet knows"},
		{"known chain without RPC", "eip155:1:" + bravo.Hex(), func(err error) bool { return errors.As(err, &noRPC) }, "no RPC configured"},
		{"GovernorBravo", chain + ":" + bravo.Hex(), func(err error) bool { return errors.Is(err, ErrCompoundBravo) }, "Compound GovernorBravo is not supported"},
		{"an ERC-20", chain + ":" + token.Hex(), func(err error) bool { return errors.Is(err, ErrNotGovernor) }, "not an OpenZeppelin Governor"},
		{"no code", chain + ":0x000000000000000000000000000000000000dEaD", func(err error) bool { return errors.Is(err, ErrNotGovernor) }, "not an OpenZeppelin Governor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := ParseRef(tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(ctx, nets, ref, Options{})
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !tc.is(err) || !strings.Contains(err.Error(), tc.text) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line with %q", err, tc.text)
			}
		})
	}
}

// An on-chain vote is the user's to approve when the wallet's policy
// says so: declined, nothing is signed or relayed; approved, the ballot
// counts. The approver sees the Governor, the proposal and the choice.
func TestBallotNeedsApproval(t *testing.T) {
	c := newChain(t)
	ctx := context.Background()
	voter := c.key(0)
	d := c.deployDAO(false, voter)
	id := c.propose(d, "Proposal")
	c.advance(3)
	src, ps := c.openOne(ctx, d)
	var seen []string
	answer := []byte("pw")
	sess := c.aw.Wallet.NewSession(wallet.SessionConfig{Caller: "test", Interactive: true, Unlock: c.aw.Unlock(), Networks: c.aw.Networks,
		Approver: func(_ context.Context, summary, _ string) ([]byte, error) {
			seen = append(seen, summary)
			return append([]byte(nil), answer...), nil
		}})
	if _, err := sess.EditPolicy(ctx, wallet.PolicyEdit{ApproveMessages: true}); err != nil {
		t.Fatal(err)
	}
	seen = nil
	relay := keySenderOf(c, c.key(2))
	forChoice := dao.Choice{Type: dao.Governor, Index: 1}

	answer = nil // declined
	if _, err := src.CastBySig(ctx, sess, 0, wallet.EVMAddress(crypto.PubkeyToAddress(voter.PublicKey)), relay, ps[0], forChoice, "why"); !errors.Is(err, wallet.ErrRefused) {
		t.Fatalf("declined vote = %v, want wallet.ErrRefused", err)
	}
	if len(relay.Calls) != 0 {
		t.Fatal("a declined ballot was relayed")
	}
	if voted, _ := src.HasVoted(ctx, id, wallet.EVMAddress(crypto.PubkeyToAddress(voter.PublicKey))); voted {
		t.Fatal("declined, yet voted")
	}
	want := "vote For on proposal " + id.String() + " at governor " + d.ref.Address.Hex()
	if len(seen) != 1 || !strings.Contains(seen[0], want) {
		t.Fatalf("approver saw %q, want %q", seen, want)
	}

	answer = []byte("pw") // approved
	if _, err := src.CastBySig(ctx, sess, 0, wallet.EVMAddress(crypto.PubkeyToAddress(voter.PublicKey)), relay, ps[0], forChoice, "why"); err != nil {
		t.Fatal(err)
	}
	if voted, err := src.HasVoted(ctx, id, wallet.EVMAddress(crypto.PubkeyToAddress(voter.PublicKey))); err != nil || !voted {
		t.Fatalf("approved, hasVoted = %v, %v", voted, err)
	}
}

// Cast refuses a proposal of another Governor and a choice that is not
// Against/For/Abstain before touching the chain.
func TestCastRefusesBadInput(t *testing.T) {
	c := newChain(t)
	ctx := context.Background()
	d := c.deployDAO(false, c.key(0))
	c.propose(d, "P")
	src, ps := c.openOne(ctx, d)
	snd := keySenderOf(c, c.key(0))
	other := ps[0]
	other.Space = "eip155:1:0x0000000000000000000000000000000000000001"
	unknown := ps[0]
	unknown.ID = "12345"
	long := strings.Repeat("x", maxReason+1)
	for _, tc := range []struct {
		name   string
		p      dao.Proposal
		c      dao.Choice
		reason string
		want   error
	}{
		{"other governor", other, dao.Choice{Type: dao.Governor, Index: 1}, "", ErrWrongGovernor},
		{"no such proposal", unknown, dao.Choice{Type: dao.Governor, Index: 1}, "", ErrNoProposal},
		{"support 3", ps[0], dao.Choice{Type: dao.Governor, Index: 3}, "", dao.ErrInvalidChoice},
		{"snapshot choice", ps[0], dao.Choice{Type: dao.SingleChoice, Index: 1}, "", dao.ErrInvalidChoice},
		{"reason too long", ps[0], dao.Choice{Type: dao.Governor, Index: 1}, long, ErrReasonTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := src.Cast(ctx, snd, tc.p, tc.c, tc.reason); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if len(snd.Calls) != 0 {
				t.Fatal("sent")
			}
		})
	}
}

func TestParseRef(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"eip155:1:0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "eip155:1:0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", true},
		{" eip155:31337:0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed ", "eip155:31337:0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", true},
		{"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "", false},
		{"eip155:0:0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "", false},
		{"eip155:x:0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "", false},
		{"solana:1:0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "", false},
		{"eip155:1:0x1234", "", false},
	} {
		r, err := ParseRef(tc.in)
		if tc.ok != (err == nil) || (tc.ok && r.String() != tc.want) {
			t.Errorf("ParseRef(%q) = %v, %v", tc.in, r, err)
		}
		if !tc.ok && !errors.Is(err, ErrBadRef) {
			t.Errorf("ParseRef(%q) error %v does not wrap ErrBadRef", tc.in, err)
		}
	}
}

func TestTitle(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"# Title\n\nbody", "Title"},
		{"\n\n  ## [EP 5.1] Fund it  \nmore", "[EP 5.1] Fund it"},
		{"plain", "plain"},
		{"", "(untitled)"},
		{"#\n#\n", "(untitled)"},
		{strings.Repeat("é", 250), strings.Repeat("é", 200) + "…"},
	} {
		if got := Title(tc.in); got != tc.want {
			t.Errorf("Title(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
