package evm

import "math/big"

// RLP (the Yellow Paper, appendix B) as transactions need it: byte
// strings, unsigned integers as minimal big-endian strings, and lists.
// Only encoding: sov never decodes RLP.

// rlpString encodes b as an RLP string.
func rlpString(b []byte) []byte {
	if len(b) == 1 && b[0] < 0x80 {
		return []byte{b[0]}
	}
	return append(rlpHeader(0x80, len(b)), b...)
}

// rlpUint encodes n as an RLP integer (zero is the empty string).
func rlpUint(n uint64) []byte {
	return rlpString(trimZeros(be64(n)))
}

// rlpBig encodes a non-negative n; nil counts as zero.
func rlpBig(n *big.Int) []byte {
	if n == nil {
		return rlpString(nil)
	}
	return rlpString(n.Bytes())
}

// rlpList wraps already-encoded items in a list.
func rlpList(items ...[]byte) []byte {
	n := 0
	for _, it := range items {
		n += len(it)
	}
	out := rlpHeader(0xc0, n)
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

// rlpHeader is the prefix for a payload of n bytes: base+n when short,
// base+55+len(len) and the big-endian length otherwise.
func rlpHeader(base byte, n int) []byte {
	if n < 56 {
		return []byte{base + byte(n)}
	}
	l := trimZeros(be64(uint64(n)))
	return append([]byte{base + 55 + byte(len(l))}, l...)
}

func be64(n uint64) []byte {
	return []byte{byte(n >> 56), byte(n >> 48), byte(n >> 40), byte(n >> 32), byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}
