package evm

import "math/big"

// TypedInt reads an integer member of typed data as the hasher does: a
// JSON integer up to 2^53, or a decimal or 0x-hex string.
func TypedInt(v any) (*big.Int, error) { return parseInt(v) }

// TypedBytes reads a bytes member: a 0x-prefixed, even-length hex string.
func TypedBytes(v any) ([]byte, error) { return hexBytes(v) }
