// Package evm is the little of Ethereum that sov's wallet needs, written
// small so the binary carries no Ethereum client: keccak-256, EIP-55
// addresses, RLP, legacy (EIP-155) and EIP-1559 transactions, secp256k1
// signatures with a recovery id, EIP-191 text hashes and EIP-712 typed
// data. Its tests check every piece against go-ethereum and the EIPs'
// own vectors.
package evm

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/sha3"
)

// Keccak256 is the original Keccak (not NIST SHA3) of the concatenation
// of data, as Ethereum hashes.
func Keccak256(data ...[]byte) []byte {
	h := sha3.NewLegacyKeccak256()
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(nil)
}

// Hash is a 32-byte keccak digest (a transaction or block hash).
type Hash [32]byte

// Hex is the 0x-prefixed lower-case hex form.
func (h Hash) Hex() string { return "0x" + hex.EncodeToString(h[:]) }

func (h Hash) String() string { return h.Hex() }

// HexToHash reads a 0x-prefixed (or bare) hex hash from sov's own
// records: long input keeps its tail and bad input gives the zero hash.
func HexToHash(s string) Hash {
	var h Hash
	b := FromHex(s)
	if len(b) > 32 {
		b = b[len(b)-32:]
	}
	copy(h[32-len(b):], b)
	return h
}

// Address is a 20-byte account address.
type Address [20]byte

// Bytes is a copy of the address's bytes.
func (a Address) Bytes() []byte { return append([]byte(nil), a[:]...) }

// Hex is the EIP-55 mixed-case checksum form.
func (a Address) Hex() string {
	lower := hex.EncodeToString(a[:])
	sum := Keccak256([]byte(lower))
	out := []byte("0x" + lower)
	for i := range 40 {
		nibble := sum[i/2] >> 4
		if i%2 == 1 {
			nibble = sum[i/2] & 0x0f
		}
		if out[2+i] >= 'a' && nibble >= 8 {
			out[2+i] -= 'a' - 'A'
		}
	}
	return string(out)
}

func (a Address) String() string { return a.Hex() }

// MarshalText writes the checksum form, so JSON carries "0x…".
func (a Address) MarshalText() ([]byte, error) { return []byte(a.Hex()), nil }

// UnmarshalText reads 0x and 40 hex digits in any case: nodes answer in
// lower case, so the checksum is not asked for.
func (a *Address) UnmarshalText(b []byte) error {
	s := string(b)
	if len(s) != 42 || !strings.HasPrefix(s, "0x") {
		return &AddressError{s, ErrAddressLength}
	}
	if _, err := hex.Decode(a[:], b[2:]); err != nil {
		return &AddressError{s, ErrAddressHex}
	}
	return nil
}

// HexToAddress reads an address without checking it (the caller already
// has, or it comes from sov's own records): long input keeps its last 20
// bytes and bad input gives the zero address. Use ParseAddress for
// anything a person typed.
func HexToAddress(s string) Address {
	var a Address
	b := FromHex(s)
	if len(b) > 20 {
		b = b[len(b)-20:]
	}
	copy(a[20-len(b):], b)
	return a
}

// Errors ParseAddress returns, wrapped with the address.
var (
	ErrAddressPrefix   = errors.New("must start with 0x")
	ErrAddressLength   = errors.New("must have 40 hex digits")
	ErrAddressHex      = errors.New("is not hex")
	ErrAddressChecksum = errors.New("has a bad EIP-55 checksum")
)

// AddressError is why a string is not an address.
type AddressError struct {
	Input string
	Err   error
}

func (e *AddressError) Error() string { return fmt.Sprintf("EVM address %q %v", e.Input, e.Err) }
func (e *AddressError) Unwrap() error { return e.Err }

// ParseAddress accepts 0x and 40 hex digits, all lower or all upper case,
// or mixed case whose EIP-55 checksum is right.
func ParseAddress(s string) (Address, error) {
	if !strings.HasPrefix(s, "0x") && !strings.HasPrefix(s, "0X") {
		return Address{}, &AddressError{s, ErrAddressPrefix}
	}
	body := s[2:]
	if len(body) != 40 {
		return Address{}, &AddressError{s, ErrAddressLength}
	}
	b, err := hex.DecodeString(body)
	if err != nil {
		return Address{}, &AddressError{s, ErrAddressHex}
	}
	a := Address(b)
	if body != strings.ToLower(body) && body != strings.ToUpper(body) && a.Hex()[2:] != body {
		return Address{}, &AddressError{s, ErrAddressChecksum}
	}
	return a, nil
}

// FromHex decodes hex with or without 0x; an odd length gets a leading
// zero and bad input gives nil.
func FromHex(s string) []byte {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		s = s[2:]
	}
	if len(s)%2 == 1 {
		s = "0" + s
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil
	}
	return b
}

// LeftPad32 is b left-padded with zeros to 32 bytes (b must fit).
func LeftPad32(b []byte) []byte {
	out := make([]byte, 32)
	copy(out[32-len(b):], b)
	return out
}
