package governor

import (
	"context"
	"crypto/ecdsa"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/agents/dao/governor/governortest"
	"github.com/sovos/sov/wallet/wallettest"
)

// The tests' side of governortest: short names, and the fixture as this
// package's types.

func artifacts(t *testing.T) map[string]governortest.Artifact { return governortest.Artifacts(t) }

type chain struct {
	*governortest.Chain
	aw      *wallettest.AnvilWallet
	chainID *big.Int
}

func newChain(t *testing.T) *chain {
	g := governortest.NewChain(t)
	return &chain{Chain: g, aw: g.Wallet, chainID: g.ChainID}
}

func (c *chain) key(i uint32) *ecdsa.PrivateKey { return c.Key(i) }

func (c *chain) deploy(key *ecdsa.PrivateKey, name string, args ...any) common.Address {
	return c.Deploy(key, name, args...)
}

func (c *chain) view(name string, at common.Address, method string, args ...any) []any {
	return c.View(name, at, method, args...)
}

func (c *chain) advance(n int) { c.Advance(n) }

type daoFixture struct {
	governortest.DAO
	token, gov common.Address
	ref        Ref
	proposer   *ecdsa.PrivateKey
}

func (c *chain) deployDAO(timestamp bool, voters ...*ecdsa.PrivateKey) daoFixture {
	c.T.Helper()
	d := c.DeployDAO(timestamp, voters...)
	ref, err := ParseRef(d.CAIP10)
	if err != nil {
		c.T.Fatal(err)
	}
	return daoFixture{DAO: d, token: d.Token, gov: d.Governor, ref: ref, proposer: d.Proposer}
}

func (c *chain) propose(d daoFixture, desc string) *big.Int { return c.Propose(d.DAO, desc) }

// openOne opens d's Governor (closed when the test ends) and syncs it,
// failing unless it lists exactly one proposal.
func (c *chain) openOne(ctx context.Context, d daoFixture) (*Source, []dao.Proposal) {
	c.T.Helper()
	src, err := Open(ctx, c.aw.Networks, d.ref, Options{})
	if err != nil {
		c.T.Fatal(err)
	}
	c.T.Cleanup(func() { src.Close() })
	ps, err := src.Sync(ctx)
	if err != nil || len(ps) != 1 {
		c.T.Fatalf("Sync = %v, %v", ps, err)
	}
	return src, ps
}

// keySender is a Sender that signs with a raw key: the test's stand-in
// for the wallet's contract-call send path, and a relayer.
func keySenderOf(c *chain, key *ecdsa.PrivateKey) *governortest.KeySender {
	return &governortest.KeySender{Chain: c.Chain, Key: key}
}

var _ Sender = (*governortest.KeySender)(nil)
