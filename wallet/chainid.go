package wallet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// A Solana or NEAR RPC must show which chain it serves before anything is
// signed for it: an RPC of another chain (or a mock) would otherwise be
// believed about balances and outcomes, and sent the user's transactions.
// EVM nodes prove their chain id on dial (NewEVM).

// bucketIdentity keeps the identity first seen for a network that has no
// known one (a local or private chain): caip2 -> identity.
var bucketIdentity = []byte("chainident")

// knownSolanaGenesis maps a CAIP-2 reference (the genesis hash truncated to
// 32 characters, or the cluster's name) to the cluster's genesis hash.
var knownSolanaGenesis = func() map[string]string {
	m := map[string]string{}
	for _, c := range []struct{ genesis, name, alias string }{
		{"5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d", "mainnet", "mainnet-beta"},
		{"EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG", "devnet", ""},
		{"4uhcVJyU9pJkvQyS88uRDiswHXSCkY3zQawwpjk2NsNY", "testnet", ""},
	} {
		m[c.genesis[:32]], m[c.name] = c.genesis, c.genesis
		if c.alias != "" {
			m[c.alias] = c.genesis
		}
	}
	return m
}()

// knownNEARChains are the NEAR CAIP-2 references whose chain id is fixed.
var knownNEARChains = map[string]bool{"mainnet": true, "testnet": true}

// ChainIdentityError means an RPC serves another chain than the network it
// is configured for, so nothing is signed for it.
type ChainIdentityError struct {
	Network string
	RPC     string
	What    string // genesis hash, or chain id
	Want    string
	Got     string
	Pinned  bool // Want was recorded on the network's first use, not known in advance
}

func (e *ChainIdentityError) Error() string {
	how := "is"
	if e.Pinned {
		how = "was first used with"
	}
	return fmt.Sprintf("RPC %s reports %s %s, but %s %s %s %s: refusing it (nothing was signed)",
		e.RPC, e.What, e.Got, e.Network, how, e.What, e.Want)
}

// chainIdentity asks one RPC URL for n's identity: the genesis hash on
// Solana; the chain id (with the genesis hash, when the node gives it) on
// NEAR.
func chainIdentity(ctx context.Context, n Network, url string) (string, error) {
	one := n
	one.RPC = []string{url}
	switch n.Family {
	case FamilySolana:
		return NewSolanaRPC(one).GenesisHash(ctx)
	case FamilyNEAR:
		id, genesis, err := NewNEARRPC(one).Status(ctx)
		if err != nil || genesis == "" {
			return id, err
		}
		return id + " (genesis " + genesis + ")", nil
	}
	return "", nil
}

// expectedIdentity is what n's RPC must report when the chain is known in
// advance; ok is false for a chain identified on first use. match compares
// a reported identity with want.
func expectedIdentity(n Network) (want, what string, match func(got string) bool, ok bool) {
	ref := n.CAIP2[strings.IndexByte(n.CAIP2, ':')+1:]
	switch n.Family {
	case FamilySolana:
		if g, known := knownSolanaGenesis[ref]; known {
			return g, "genesis hash", func(got string) bool { return got == g }, true
		}
		// A CAIP-2 reference is the genesis hash's first 32 characters.
		if len(ref) == 32 && strings.Trim(ref, base58Alphabet) == "" {
			return ref + "…", "genesis hash", func(got string) bool { return strings.HasPrefix(got, ref) }, true
		}
		return "", "genesis hash", nil, false
	case FamilyNEAR:
		if knownNEARChains[ref] {
			return ref, "chain id", func(got string) bool { return got == ref || strings.HasPrefix(got, ref+" ") }, true
		}
		return "", "chain id", nil, false
	}
	return "", "", nil, false
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// identify asks every RPC of n for the chain it serves and checks the
// answers against n's known identity, or for a chain without one against
// each other; it returns the identity found. An RPC that does not answer is
// skipped, since it cannot lie (fail-over may reach it later, so a check
// that no RPC answered is an error).
func identify(ctx context.Context, n Network) (id string, known bool, err error) {
	if len(n.RPC) == 0 {
		return "", false, &NoRPCError{Network: n.Name, Family: n.Family}
	}
	got := make([]string, len(n.RPC))
	errs := make([]error, len(n.RPC))
	var wg sync.WaitGroup
	for i, u := range n.RPC {
		wg.Go(func() { got[i], errs[i] = chainIdentity(ctx, n, u) })
	}
	wg.Wait()
	want, what, match, known := expectedIdentity(n)
	first := -1
	for i := range n.RPC {
		if errs[i] != nil {
			continue
		}
		if first < 0 {
			first = i
		}
		if !known { // all answering RPCs must agree on the chain to pin
			want, match = got[first], func(g string) bool { return g == got[first] }
		}
		if !match(got[i]) {
			return "", known, &ChainIdentityError{Network: n.Name, RPC: n.RPC[i], What: what, Want: want, Got: got[i]}
		}
	}
	if first < 0 {
		return "", known, fmt.Errorf("cannot identify the chain of %s: %w", n.Name, errors.Join(errs...))
	}
	return got[first], known, nil
}

// checkIdentity makes every answering RPC of n prove it serves n's chain:
// the known genesis hash or chain id, or for another chain the identity
// recorded on its first use (trust on first use). EVM and Bitcoin pass.
func (w *Wallet) checkIdentity(ctx context.Context, n Network) error {
	if n.Family != FamilySolana && n.Family != FamilyNEAR {
		return nil
	}
	id, known, err := identify(ctx, n)
	if err != nil || known {
		return err
	}
	_, what, _, _ := expectedIdentity(n)
	return withDB(w.dir, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketIdentity)
		if err != nil {
			return err
		}
		pinned := string(b.Get([]byte(n.CAIP2)))
		switch {
		case pinned == "":
			return b.Put([]byte(n.CAIP2), []byte(id))
		case pinned != id:
			return &ChainIdentityError{Network: n.Name, RPC: strings.Join(n.RPC, ", "), What: what, Want: pinned, Got: id, Pinned: true}
		}
		return nil
	})
}

// checkKnownIdentity checks n's RPCs where n's chain is known in advance;
// balance queries use it, as they have no wallet to pin identities in.
func checkKnownIdentity(ctx context.Context, n Network) error {
	if _, _, _, known := expectedIdentity(n); !known {
		return nil
	}
	_, _, err := identify(ctx, n)
	return err
}
