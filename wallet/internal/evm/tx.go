package evm

import (
	"crypto/ecdsa"
	"errors"
	"math/big"
)

// Transaction types sov signs.
const (
	LegacyTxType     = 0 // EIP-155 replay-protected legacy transaction
	DynamicFeeTxType = 2 // EIP-1559
)

// Tx is an unsigned transaction. Legacy ones use GasPrice, EIP-1559 ones
// GasTipCap and GasFeeCap; nil amounts count as zero.
type Tx struct {
	Type      byte
	ChainID   *big.Int
	Nonce     uint64
	GasPrice  *big.Int
	GasTipCap *big.Int
	GasFeeCap *big.Int
	Gas       uint64
	To        *Address // nil creates a contract
	Value     *big.Int
	Data      []byte
}

// SignedTx is a signed transaction as broadcast (eth_sendRawTransaction)
// and its hash, keccak(Raw).
type SignedTx struct {
	Raw  []byte
	Hash Hash
}

// ErrTxType means a transaction type sov does not sign.
var ErrTxType = errors.New("unsupported transaction type")

// ErrChainID means a transaction has no chain id: sov never signs one a
// replay could use on another chain.
var ErrChainID = errors.New("a transaction needs a positive chain id")

// fields are the RLP items every type shares, after its fee fields.
func (t *Tx) tail() [][]byte {
	to := rlpString(nil)
	if t.To != nil {
		to = rlpString(t.To[:])
	}
	return [][]byte{rlpUint(t.Gas), to, rlpBig(t.Value), rlpString(t.Data)}
}

func (t *Tx) check() error {
	if t.ChainID == nil || t.ChainID.Sign() <= 0 {
		return ErrChainID
	}
	for _, n := range []*big.Int{t.GasPrice, t.GasTipCap, t.GasFeeCap, t.Value} {
		if n != nil && n.Sign() < 0 {
			return errors.New("a transaction amount is negative")
		}
	}
	if t.Type != LegacyTxType && t.Type != DynamicFeeTxType {
		return ErrTxType
	}
	return nil
}

// SigningHash is the digest the sender signs: for legacy transactions
// keccak(rlp([nonce, gasPrice, gas, to, value, data, chainId, 0, 0]))
// (EIP-155); for EIP-1559 keccak(0x02 ‖ rlp([chainId, nonce, tip, cap,
// gas, to, value, data, accessList])).
func (t *Tx) SigningHash() (Hash, error) {
	if err := t.check(); err != nil {
		return Hash{}, err
	}
	if t.Type == LegacyTxType {
		items := append([][]byte{rlpUint(t.Nonce), rlpBig(t.GasPrice)}, t.tail()...)
		items = append(items, rlpBig(t.ChainID), rlpUint(0), rlpUint(0))
		return Hash(Keccak256(rlpList(items...))), nil
	}
	return Hash(Keccak256([]byte{DynamicFeeTxType}, rlpList(t.dynamicFields()...))), nil
}

func (t *Tx) dynamicFields() [][]byte {
	items := [][]byte{rlpBig(t.ChainID), rlpUint(t.Nonce), rlpBig(t.GasTipCap), rlpBig(t.GasFeeCap)}
	return append(append(items, t.tail()...), rlpList()) // empty access list
}

// Sign signs t with key.
func (t *Tx) Sign(key *ecdsa.PrivateKey) (*SignedTx, error) {
	h, err := t.SigningHash()
	if err != nil {
		return nil, err
	}
	sig, err := Sign(h[:], key)
	if err != nil {
		return nil, err
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:64])
	var raw []byte
	if t.Type == LegacyTxType {
		// EIP-155: v = recovery id + 2·chainId + 35
		v := new(big.Int).Lsh(t.ChainID, 1)
		v.Add(v, big.NewInt(35+int64(sig[64])))
		items := append([][]byte{rlpUint(t.Nonce), rlpBig(t.GasPrice)}, t.tail()...)
		raw = rlpList(append(items, rlpBig(v), rlpBig(r), rlpBig(s))...)
	} else {
		items := append(t.dynamicFields(), rlpUint(uint64(sig[64])), rlpBig(r), rlpBig(s))
		raw = append([]byte{DynamicFeeTxType}, rlpList(items...)...)
	}
	return &SignedTx{Raw: raw, Hash: Hash(Keccak256(raw))}, nil
}
