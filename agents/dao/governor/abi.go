package governor

import (
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/sha3"

	"github.com/sovos/sov/wallet"
)

// The few ABI encodings the Governor calls need, written out rather than
// pulled from go-ethereum (library code stays off it); the tests hold each
// against the compiled contract's ABI.

func keccak(b ...[]byte) []byte {
	h := sha3.NewLegacyKeccak256()
	for _, x := range b {
		h.Write(x)
	}
	return h.Sum(nil)
}

// selector is a function's 4-byte selector, from its canonical signature.
func selector(sig string) []byte { return keccak([]byte(sig))[:4] }

// topic is an event's topic 0, from its canonical signature.
func topic(sig string) [32]byte { return [32]byte(keccak([]byte(sig))) }

// word is v left-padded to 32 bytes; v must fit 256 bits.
func word(v *big.Int) []byte {
	out := make([]byte, 32)
	v.FillBytes(out)
	return out
}

func uword(v uint64) []byte { return word(new(big.Int).SetUint64(v)) }

// calldata encodes a call: the selector of sig, then args in the ABI's
// head/tail layout. Args are *big.Int (uint256), uint8, uint64,
// wallet.EVMAddress, string and []byte (dynamic).
func calldata(sig string, args ...any) []byte {
	head := make([]byte, 0, 32*len(args))
	var tail []byte
	dyn := func(b []byte) {
		head = append(head, uword(uint64(32*len(args)+len(tail)))...)
		tail = append(tail, uword(uint64(len(b)))...)
		tail = append(tail, b...)
		if r := len(b) % 32; r != 0 {
			tail = append(tail, make([]byte, 32-r)...)
		}
	}
	for _, a := range args {
		switch v := a.(type) {
		case *big.Int:
			head = append(head, word(v)...)
		case uint8:
			head = append(head, uword(uint64(v))...)
		case uint64:
			head = append(head, uword(v)...)
		case wallet.EVMAddress:
			head = append(head, make([]byte, 12)...)
			head = append(head, v[:]...)
		case string:
			dyn([]byte(v))
		case []byte:
			dyn(v)
		default:
			panic(fmt.Sprintf("governor: calldata: unsupported argument %T", a)) // a programming error, caught by the tests
		}
	}
	return append(append(selector(sig), head...), tail...)
}

// errShort means a return value or log is shorter than its type says.
var errShort = errors.New("ABI data is truncated")

// abiData reads ABI-encoded return values or log data.
type abiData []byte

func (d abiData) word(i int) ([]byte, error) {
	if i < 0 || len(d) < 32*(i+1) {
		return nil, errShort
	}
	return d[32*i : 32*(i+1)], nil
}

func (d abiData) big(i int) (*big.Int, error) {
	w, err := d.word(i)
	if err != nil {
		return nil, err
	}
	return new(big.Int).SetBytes(w), nil
}

// small reads word i as an integer that must fit 63 bits (offsets,
// lengths, timepoints, enum values).
func (d abiData) small(i int) (uint64, error) {
	v, err := d.big(i)
	if err != nil {
		return 0, err
	}
	if !v.IsInt64() {
		return 0, fmt.Errorf("ABI value %s is out of range", v)
	}
	return v.Uint64(), nil
}

func (d abiData) address(i int) (wallet.EVMAddress, error) {
	w, err := d.word(i)
	if err != nil {
		return wallet.EVMAddress{}, err
	}
	return wallet.EVMAddress(w[12:]), nil
}

func (d abiData) bool(i int) (bool, error) {
	v, err := d.small(i)
	return v != 0, err
}

// bytesAt reads the dynamic bytes (or string) whose offset is word i.
func (d abiData) bytesAt(i int) ([]byte, error) {
	off, err := d.small(i)
	if err != nil {
		return nil, err
	}
	return d.bytesFrom(off)
}

func (d abiData) bytesFrom(off uint64) ([]byte, error) {
	if off%32 != 0 || off+32 > uint64(len(d)) {
		return nil, errShort
	}
	n, err := d[off:].small(0)
	if err != nil {
		return nil, err
	}
	if n > uint64(len(d))-off-32 {
		return nil, errShort
	}
	return d[off+32 : off+32+n], nil
}

func (d abiData) stringAt(i int) (string, error) {
	b, err := d.bytesAt(i)
	return string(b), err
}

// wordsAt reads a dynamic array of static words (address[], uint256[])
// whose offset is word i.
func (d abiData) wordsAt(i int) ([][]byte, error) {
	off, err := d.small(i)
	if err != nil {
		return nil, err
	}
	if off%32 != 0 || off+32 > uint64(len(d)) {
		return nil, errShort
	}
	arr := d[off:]
	n, err := arr.small(0)
	if err != nil {
		return nil, err
	}
	if n > uint64(len(arr))/32-1 {
		return nil, errShort
	}
	out := make([][]byte, n)
	for j := range out {
		out[j], _ = abiData(arr[32:]).word(j)
	}
	return out, nil
}
