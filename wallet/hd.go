package wallet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// Hardened is the BIP32 hardened-index offset.
const Hardened = hdkeychain.HardenedKeyStart

// ParsePath parses "m/44'/60'/0'/0/1" (also accepting h or H for hardened).
func ParsePath(p string) ([]uint32, error) {
	parts := strings.Split(strings.TrimSpace(p), "/")
	if len(parts) == 0 || parts[0] != "m" {
		return nil, fmt.Errorf("derivation path %q must start with m/", p)
	}
	out := make([]uint32, 0, len(parts)-1)
	for _, s := range parts[1:] {
		hard := false
		if n := len(s); n > 0 && (s[n-1] == '\'' || s[n-1] == 'h' || s[n-1] == 'H') {
			hard, s = true, s[:n-1]
		}
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil || v >= Hardened {
			return nil, fmt.Errorf("derivation path %q: bad index %q", p, s)
		}
		if hard {
			v += Hardened
		}
		out = append(out, uint32(v))
	}
	return out, nil
}

// DeriveBIP32 derives the secp256k1 extended key at path from a BIP39 seed.
func DeriveBIP32(seed []byte, path string, net *chaincfg.Params) (*hdkeychain.ExtendedKey, error) {
	idx, err := ParsePath(path)
	if err != nil {
		return nil, err
	}
	k, err := hdkeychain.NewMaster(seed, net)
	if err != nil {
		return nil, fmt.Errorf("bip32 master: %w", err)
	}
	for _, i := range idx {
		if k, err = k.Derive(i); err != nil {
			return nil, fmt.Errorf("bip32 derive %s: %w", path, err)
		}
	}
	return k, nil
}

// Extended-key version bytes sov accepts when parsing.
var xkeyVersions = map[[4]byte]bool{ // value: private?
	{0x04, 0x88, 0xad, 0xe4}: true,  // xprv
	{0x04, 0x88, 0xb2, 0x1e}: false, // xpub
	{0x04, 0x35, 0x83, 0x94}: true,  // tprv
	{0x04, 0x35, 0x87, 0xcf}: false, // tpub
}

// ParseExtendedKey parses a serialized BIP32 key with every check BIP32
// requires (test vector 5), several of which hdkeychain alone skips.
func ParseExtendedKey(s string) (*hdkeychain.ExtendedKey, error) {
	raw := base58.Decode(s)
	if len(raw) != 82 {
		return nil, errors.New("extended key: bad length")
	}
	payload, sum := raw[:78], raw[78:]
	if !bytes.Equal(chainhash.DoubleHashB(payload)[:4], sum) {
		return nil, errors.New("extended key: bad checksum")
	}
	var ver [4]byte
	copy(ver[:], payload[:4])
	private, ok := xkeyVersions[ver]
	if !ok {
		return nil, errors.New("extended key: unknown version")
	}
	depth := payload[4]
	fp := binary.BigEndian.Uint32(payload[5:9])
	child := binary.BigEndian.Uint32(payload[9:13])
	if depth == 0 && (fp != 0 || child != 0) {
		return nil, errors.New("extended key: zero depth with non-zero parent fingerprint or index")
	}
	key := payload[45:78]
	if private {
		if key[0] != 0 {
			return nil, errors.New("extended key: private version with public key data")
		}
		n := new(big.Int).SetBytes(key[1:])
		if n.Sign() == 0 || n.Cmp(btcec.S256().N) >= 0 {
			return nil, errors.New("extended key: private key out of range")
		}
	} else {
		if key[0] != 2 && key[0] != 3 {
			return nil, errors.New("extended key: public version with bad public key prefix")
		}
		if _, err := btcec.ParsePubKey(key); err != nil {
			return nil, fmt.Errorf("extended key: %w", err)
		}
	}
	return hdkeychain.NewKeyFromString(s)
}

// slip10Node is an ed25519 SLIP-0010 node; only hardened children exist.
type slip10Node struct {
	Key, ChainCode []byte
}

// DeriveSLIP10 derives the ed25519 key at path (every index hardened) and
// returns the 32-byte private seed and chain code.
func DeriveSLIP10(seed []byte, path string) (key, chainCode []byte, err error) {
	idx, err := ParsePath(path)
	if err != nil {
		return nil, nil, err
	}
	mac := hmac.New(sha512.New, []byte("ed25519 seed"))
	mac.Write(seed)
	I := mac.Sum(nil)
	n := slip10Node{Key: I[:32], ChainCode: I[32:]}
	for _, i := range idx {
		if i < Hardened {
			return nil, nil, fmt.Errorf("derivation path %q: ed25519 (SLIP-10) supports only hardened indexes", path)
		}
		data := make([]byte, 0, 37)
		data = append(data, 0)
		data = append(data, n.Key...)
		data = binary.BigEndian.AppendUint32(data, i)
		mac := hmac.New(sha512.New, n.ChainCode)
		mac.Write(data)
		I := mac.Sum(nil)
		wipe(data)
		n = slip10Node{Key: I[:32], ChainCode: I[32:]}
	}
	return n.Key, n.ChainCode, nil
}

// ed25519FromSeed returns the key pair for a 32-byte SLIP-10 private key.
func ed25519FromSeed(k []byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(k) }
