package wallet

import (
	"crypto/ecdsa"
	"fmt"

	"github.com/sovos/sov/wallet/internal/evm"
)

// These raw signers are unexported on purpose: callers outside the package
// sign through Wallet, which runs the policy engine first.

// signEVMTx signs tx (EIP-155 legacy or EIP-1559).
func signEVMTx(key *ecdsa.PrivateKey, tx *evm.Tx) (*evm.SignedTx, error) {
	signed, err := tx.Sign(key)
	if err != nil {
		return nil, fmt.Errorf("sign transaction: %w", err)
	}
	return signed, nil
}

// PersonalHash is the EIP-191 version 0x45 digest of msg.
func PersonalHash(msg []byte) []byte { return evm.TextHash(msg) }

// personalSign returns the 65-byte EIP-191 signature with v in {27,28}.
func personalSign(key *ecdsa.PrivateKey, msg []byte) ([]byte, error) {
	sig, err := evm.Sign(PersonalHash(msg), key)
	if err != nil {
		return nil, fmt.Errorf("personal_sign: %w", err)
	}
	sig[64] += 27
	return sig, nil
}

// TypedData is an EIP-712 eth_signTypedData_v4 document.
type TypedData = evm.TypedData

// ErrTypedData wraps every reason typed data is refused.
var ErrTypedData = evm.ErrTypedData

// ParseTypedData decodes an EIP-712 eth_signTypedData_v4 JSON document.
func ParseTypedData(b []byte) (TypedData, error) {
	td, err := evm.ParseTypedData(b)
	if err != nil {
		return td, fmt.Errorf("EIP-712 typed data: %w", err)
	}
	return td, nil
}

// TypedDataHash is the EIP-712 signing digest keccak(0x1901‖domain‖struct).
func TypedDataHash(td TypedData) ([]byte, error) {
	h, err := td.Hash()
	if err != nil {
		return nil, fmt.Errorf("EIP-712 hash: %w", err)
	}
	return h, nil
}

// signTypedData returns the 65-byte EIP-712 signature with v in {27,28}.
func signTypedData(key *ecdsa.PrivateKey, td TypedData) ([]byte, error) {
	h, err := TypedDataHash(td)
	if err != nil {
		return nil, err
	}
	sig, err := evm.Sign(h, key)
	if err != nil {
		return nil, fmt.Errorf("sign typed data: %w", err)
	}
	sig[64] += 27
	return sig, nil
}

// RecoverPersonal is the address whose key signed msg with EIP-191
// (personal_sign): how a service checks who sent a signed request.
func RecoverPersonal(msg, sig []byte) (EVMAddress, error) {
	return evm.RecoverAddress(PersonalHash(msg), sig)
}
