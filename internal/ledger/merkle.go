package ledger

import (
	"fmt"
	"math/bits"

	"github.com/transparency-dev/merkle/rfc6962"
)

// Proofs over the ledger's RFC 6962 Merkle tree, so a third party holding a
// checkpoint (a signed tree head) can check that an entry is in it, and
// that a later checkpoint extends an earlier one.

// InclusionProof proves entry index is in the tree of the first size entries.
func (l *Ledger) InclusionProof(index, size uint64) ([][]byte, error) {
	leaves, err := l.leaves(size)
	if err != nil {
		return nil, err
	}
	if index >= size {
		return nil, fmt.Errorf("ledger: entry %d is not in a tree of %d entries", index, size)
	}
	return path(index, leaves), nil
}

// ConsistencyProof proves the tree of size2 entries extends that of size1.
func (l *Ledger) ConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	leaves, err := l.leaves(size2)
	if err != nil {
		return nil, err
	}
	if size1 == 0 || size1 > size2 {
		return nil, fmt.Errorf("ledger: no consistency proof from %d to %d entries", size1, size2)
	}
	return subproof(size1, leaves, true), nil
}

// LeafHash is the RFC 6962 leaf hash of a line.
func LeafHash(line []byte) []byte { return rfc6962.DefaultHasher.HashLeaf(line) }

func (l *Ledger) leaves(size uint64) ([][]byte, error) {
	var out [][]byte
	err := l.lock(false, func() error {
		lines, err := l.readLocked()
		if err != nil {
			return err
		}
		if uint64(len(lines)) < size {
			return fmt.Errorf("ledger: a tree of %d entries, but the ledger has %d", size, len(lines))
		}
		for _, b := range lines[:size] {
			out = append(out, LeafHash(b))
		}
		return nil
	})
	return out, err
}

// mth is RFC 6962's Merkle Tree Hash over leaf hashes.
func mth(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		return rfc6962.DefaultHasher.EmptyRoot()
	case 1:
		return leaves[0]
	}
	k := split(len(leaves))
	return rfc6962.DefaultHasher.HashChildren(mth(leaves[:k]), mth(leaves[k:]))
}

// split is the largest power of two smaller than n (n > 1).
func split(n int) int { return 1 << (bits.Len(uint(n-1)) - 1) }

// path is RFC 6962 section 2.1.1's PATH(m, D[n]).
func path(m uint64, leaves [][]byte) [][]byte {
	if len(leaves) <= 1 {
		return nil
	}
	k := uint64(split(len(leaves)))
	if m < k {
		return append(path(m, leaves[:k]), mth(leaves[k:]))
	}
	return append(path(m-k, leaves[k:]), mth(leaves[:k]))
}

// subproof is RFC 6962 section 2.1.2's SUBPROOF(m, D[n], b).
func subproof(m uint64, leaves [][]byte, b bool) [][]byte {
	n := uint64(len(leaves))
	if m == n {
		if b {
			return nil
		}
		return [][]byte{mth(leaves)}
	}
	k := uint64(split(int(n)))
	if m <= k {
		return append(subproof(m, leaves[:k], b), mth(leaves[k:]))
	}
	return append(subproof(m-k, leaves[k:], false), mth(leaves[:k]))
}
