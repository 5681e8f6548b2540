package governor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/wallet"
)

// Governors is every Governor the policy follows as one dao.Source and
// one dao.Voter (the delegate keeps one voter per source kind). Each call
// dials what it needs and closes it again.
type Governors struct {
	Networks []wallet.Network // the wallet's network table (with RPCs)
	Refs     []string         // CAIP-10 ids, the policy's governors
	Options  Options

	// How a vote is cast, the first that is set: Sender, the user's own
	// castVoteWithReason transaction; or Signer (the EVM key at Account,
	// whose address is Voter) signing a ballot that Relay sends.
	Sender  Sender
	Signer  Signer
	Account uint32
	Voter   wallet.EVMAddress
	Relay   Sender
}

// ErrNotFollowed means a vote names a Governor the policy does not follow.
var ErrNotFollowed = errors.New("the policy does not follow this Governor")

// ErrNoVotePath means neither a sender nor a signer with a relay is set:
// nothing can put a vote on chain.
var ErrNoVotePath = errors.New("no way to send an on-chain vote is configured (a sender, or a signer and a relay)")

// Name implements dao.Source.
func (g *Governors) Name() string { return fmt.Sprintf("%d on-chain Governor(s)", len(g.Refs)) }

func (g *Governors) open(ctx context.Context, ref string) (*Source, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return nil, err
	}
	opt := g.Options
	if opt.Voter == (wallet.EVMAddress{}) {
		if g.Sender != nil {
			opt.Voter = g.Sender.From()
		} else {
			opt.Voter = g.Voter
		}
	}
	return Open(ctx, g.Networks, r, opt)
}

// Sync implements dao.Source: the pending and active proposals of every
// Governor followed. One that cannot be read fails the sync (naming it):
// a list missing a Governor must not look complete.
func (g *Governors) Sync(ctx context.Context) ([]dao.Proposal, error) {
	var out []dao.Proposal
	for _, ref := range g.Refs {
		s, err := g.open(ctx, ref)
		if err != nil {
			return nil, err
		}
		ps, err := s.Sync(ctx)
		s.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return out, nil
}

// Vote implements dao.Voter for a proposal of a followed Governor.
func (g *Governors) Vote(ctx context.Context, p dao.Proposal, c dao.Choice, reason string) (dao.Receipt, error) {
	followed := false
	for _, r := range g.Refs {
		followed = followed || strings.EqualFold(r, p.Space)
	}
	if !followed {
		return dao.Receipt{}, fmt.Errorf("%w: %s", ErrNotFollowed, p.Space)
	}
	if g.Sender == nil && (g.Signer == nil || g.Relay == nil) {
		return dao.Receipt{}, ErrNoVotePath
	}
	s, err := g.open(ctx, p.Space)
	if err != nil {
		return dao.Receipt{}, err
	}
	defer s.Close()
	p.Space = s.ref.String() // the policy may spell the address in another case
	if g.Sender != nil {
		return s.Cast(ctx, g.Sender, p, c, reason)
	}
	return s.CastBySig(ctx, g.Signer, g.Account, g.Voter, g.Relay, p, c, reason)
}

var _ interface {
	dao.Source
	dao.Voter
} = (*Governors)(nil)
