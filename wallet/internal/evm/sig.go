package evm

import (
	"crypto/ecdsa"
	"errors"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	decredecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// ErrBadKey means a private key is not a secp256k1 scalar in [1, n).
var ErrBadKey = errors.New("not a valid secp256k1 private key")

// Sign signs a 32-byte digest with key (RFC 6979, low s) and returns
// r‖s‖v, v being the recovery id 0 or 1, as Ethereum lays signatures out.
func Sign(digest []byte, key *ecdsa.PrivateKey) ([]byte, error) {
	if len(digest) != 32 {
		return nil, fmt.Errorf("sign: digest is %d bytes, not 32", len(digest))
	}
	// PrivKeyFromBytes reduces mod n: a key at or above n would sign as
	// another key.
	if key == nil || key.D == nil || key.D.Sign() <= 0 || key.D.Cmp(secp256k1.S256().N) >= 0 {
		return nil, ErrBadKey
	}
	var d [32]byte
	key.D.FillBytes(d[:])
	priv := secp256k1.PrivKeyFromBytes(d[:])
	clear(d[:])
	defer priv.Zero()
	// SignCompact lays out [27+recid]‖r‖s (uncompressed key).
	c := decredecdsa.SignCompact(priv, digest, false)
	return append(c[1:65:65], c[0]-27), nil
}

// ErrBadSignature means a signature does not recover a public key.
var ErrBadSignature = errors.New("invalid signature")

// RecoverAddress returns the address whose key made sig (r‖s‖v, v being
// 0, 1, 27 or 28) over digest.
func RecoverAddress(digest, sig []byte) (Address, error) {
	if len(digest) != 32 || len(sig) != 65 {
		return Address{}, ErrBadSignature
	}
	v := sig[64]
	if v >= 27 {
		v -= 27
	}
	if v > 1 {
		return Address{}, ErrBadSignature
	}
	c := append([]byte{27 + v}, sig[:64]...)
	pub, _, err := decredecdsa.RecoverCompact(c, digest)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return pubkeyAddress(pub.SerializeUncompressed()), nil
}

// PubkeyToAddress is the address of a secp256k1 public key: the last 20
// bytes of the keccak of its 64-byte X‖Y.
func PubkeyToAddress(pub ecdsa.PublicKey) Address {
	var xy [65]byte
	xy[0] = 4
	pub.X.FillBytes(xy[1:33])
	pub.Y.FillBytes(xy[33:])
	return pubkeyAddress(xy[:])
}

// pubkeyAddress takes the 65-byte uncompressed form 0x04‖X‖Y.
func pubkeyAddress(uncompressed []byte) Address {
	return Address(Keccak256(uncompressed[1:])[12:])
}

// TextHash is the EIP-191 version 0x45 digest that personal_sign signs:
// keccak("\x19Ethereum Signed Message:\n" ‖ len(msg) ‖ msg).
func TextHash(msg []byte) []byte {
	return Keccak256([]byte(fmt.Sprintf("\x19Ethereum Signed Message:\n%d", len(msg))), msg)
}
