package wallet

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// These raw signers are unexported on purpose: callers outside the package
// sign through Wallet, which runs the policy engine first.

// signEVMTx signs tx for chainID with the latest signer (EIP-155/1559).
func signEVMTx(key *ecdsa.PrivateKey, tx *types.Transaction, chainID *big.Int) (*types.Transaction, error) {
	signed, err := types.SignTx(tx, types.LatestSignerForChainID(chainID), key)
	if err != nil {
		return nil, fmt.Errorf("sign transaction: %w", err)
	}
	return signed, nil
}

// PersonalHash is the EIP-191 version 0x45 digest of msg.
func PersonalHash(msg []byte) []byte { return accounts.TextHash(msg) }

// personalSign returns the 65-byte EIP-191 signature with v in {27,28}.
func personalSign(key *ecdsa.PrivateKey, msg []byte) ([]byte, error) {
	sig, err := crypto.Sign(PersonalHash(msg), key)
	if err != nil {
		return nil, fmt.Errorf("personal_sign: %w", err)
	}
	sig[64] += 27
	return sig, nil
}

// ParseTypedData decodes an EIP-712 eth_signTypedData_v4 JSON document.
func ParseTypedData(b []byte) (apitypes.TypedData, error) {
	var td apitypes.TypedData
	if err := json.Unmarshal(b, &td); err != nil {
		return td, fmt.Errorf("EIP-712 typed data: %w", err)
	}
	return td, nil
}

// TypedDataHash is the EIP-712 signing digest keccak(0x1901‖domain‖struct).
func TypedDataHash(td apitypes.TypedData) ([]byte, error) {
	h, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		return nil, fmt.Errorf("EIP-712 hash: %w", err)
	}
	return h, nil
}

// signTypedData returns the 65-byte EIP-712 signature with v in {27,28}.
func signTypedData(key *ecdsa.PrivateKey, td apitypes.TypedData) ([]byte, error) {
	h, err := TypedDataHash(td)
	if err != nil {
		return nil, err
	}
	sig, err := crypto.Sign(h, key)
	if err != nil {
		return nil, fmt.Errorf("sign typed data: %w", err)
	}
	sig[64] += 27
	return sig, nil
}
