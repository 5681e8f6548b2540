package wallet

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/mr-tron/base58"

	"github.com/sovos/sov/wallet/internal/evm"
)

// Keys derives every chain's keys from one BIP39 seed. Call Wipe when done.
type Keys struct{ seed []byte }

// NewKeys copies seed; the caller may wipe its own copy.
func NewKeys(seed []byte) *Keys { return &Keys{seed: append([]byte(nil), seed...)} }

// Wipe zeroes the seed held by k.
func (k *Keys) Wipe() { wipe(k.seed) }

// BitcoinNet names a Bitcoin network.
type BitcoinNet string

const (
	BitcoinMainnet BitcoinNet = "mainnet"
	BitcoinTestnet BitcoinNet = "testnet"
	BitcoinRegtest BitcoinNet = "regtest"
)

// Params returns the btcd chain parameters for n.
func (n BitcoinNet) Params() (*chaincfg.Params, error) {
	switch n {
	case BitcoinMainnet, "":
		return &chaincfg.MainNetParams, nil
	case BitcoinTestnet:
		return &chaincfg.TestNet3Params, nil
	case BitcoinRegtest:
		return &chaincfg.RegressionNetParams, nil
	}
	return nil, fmt.Errorf("unknown bitcoin network %q: use mainnet, testnet or regtest", n)
}

// Derivation paths (index i is substituted where the scheme puts it).
func evmPath(i uint32) string                  { return fmt.Sprintf("m/44'/60'/0'/0/%d", i) }
func solanaPath(i uint32) string               { return fmt.Sprintf("m/44'/501'/%d'/0'", i) }
func nearPath(i uint32) string                 { return fmt.Sprintf("m/44'/397'/%d'", i) }
func nostrPath(i uint32) string                { return fmt.Sprintf("m/44'/1237'/%d'/0/0", i) }
func bip84Account(coin, account uint32) string { return fmt.Sprintf("m/84'/%d'/%d'", coin, account) }

// EVMKey returns the secp256k1 key at m/44'/60'/0'/0/i.
func (k *Keys) EVMKey(i uint32) (*ecdsa.PrivateKey, error) {
	xk, err := DeriveBIP32(k.seed, evmPath(i), &chaincfg.MainNetParams)
	if err != nil {
		return nil, err
	}
	pk, err := xk.ECPrivKey()
	if err != nil {
		return nil, err
	}
	return pk.ToECDSA(), nil
}

// bitcoinAccountKey is the BIP84 account node m/84'/coin'/account'.
func (k *Keys) bitcoinAccountKey(net BitcoinNet, account uint32) (*hdkeychain.ExtendedKey, error) {
	params, err := net.Params()
	if err != nil {
		return nil, err
	}
	coin := uint32(1)
	if params.Net == chaincfg.MainNetParams.Net {
		coin = 0
	}
	return DeriveBIP32(k.seed, bip84Account(coin, account), params)
}

// bitcoinAccount is the BIP84 account sov uses on every account index:
// the index picks the receive address shown (m/84'/coin'/0'/0/index, as
// before), while balances and sends cover the whole BIP84 account, every
// address a BIP84 wallet uses on its receive and change chains.
const bitcoinAccount = 0

// BitcoinKey returns the BIP84 key m/84'/coin'/account'/change/index.
func (k *Keys) BitcoinKey(net BitcoinNet, account, change, index uint32) (*btcec.PrivateKey, error) {
	xk, err := k.bitcoinAccountKey(net, account)
	if err != nil {
		return nil, err
	}
	for _, i := range []uint32{change, index} {
		if xk, err = xk.Derive(i); err != nil {
			return nil, fmt.Errorf("bip32 derive: %w", err)
		}
	}
	return xk.ECPrivKey()
}

// BitcoinXpub is the BIP84 account's extended public key (xpub on mainnet,
// tpub on testnet and regtest): from it every receive and change address
// can be found without the seed.
func (k *Keys) BitcoinXpub(net BitcoinNet, account uint32) (string, error) {
	xk, err := k.bitcoinAccountKey(net, account)
	if err != nil {
		return "", err
	}
	pub, err := xk.Neuter()
	if err != nil {
		return "", err
	}
	return pub.String(), nil
}

// BitcoinAddress is the native SegWit (P2WPKH) address of pub on net.
func BitcoinAddress(pub *btcec.PublicKey, net BitcoinNet) (string, error) {
	params, err := net.Params()
	if err != nil {
		return "", err
	}
	a, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), params)
	if err != nil {
		return "", err
	}
	return a.EncodeAddress(), nil
}

// SolanaKey returns the ed25519 key at m/44'/501'/i'/0'.
func (k *Keys) SolanaKey(i uint32) (ed25519.PrivateKey, error) {
	s, _, err := DeriveSLIP10(k.seed, solanaPath(i))
	if err != nil {
		return nil, err
	}
	return ed25519FromSeed(s), nil
}

// NEARKey returns the ed25519 key at m/44'/397'/i' (near-seed-phrase).
func (k *Keys) NEARKey(i uint32) (ed25519.PrivateKey, error) {
	s, _, err := DeriveSLIP10(k.seed, nearPath(i))
	if err != nil {
		return nil, err
	}
	return ed25519FromSeed(s), nil
}

// LedgerPath is the SLIP-10 path of the key that signs sov's ledger. It sits
// outside BIP-44 (purpose 7337') so no chain's wallet ever derives it.
const LedgerPath = "m/7337'/0'/0'"

// LedgerKey returns the ed25519 key at LedgerPath.
func (k *Keys) LedgerKey() (ed25519.PrivateKey, error) {
	s, _, err := DeriveSLIP10(k.seed, LedgerPath)
	if err != nil {
		return nil, err
	}
	return ed25519FromSeed(s), nil
}

// NostrKeyPair is a NIP-06 key: a secp256k1 private key and its x-only
// (BIP340) public key, as Nostr events are signed with Schnorr signatures.
type NostrKeyPair struct {
	Private *btcec.PrivateKey
	Public  [32]byte
}

// PublicHex is the hex x-only public key used in Nostr events.
func (n NostrKeyPair) PublicHex() string { return hex.EncodeToString(n.Public[:]) }

// Npub is the NIP-19 bech32 public key.
func (n NostrKeyPair) Npub() string { s, _ := bech32Encode("npub", n.Public[:]); return s }

// Nsec is the NIP-19 bech32 private key (secret: never log or store it).
func (n NostrKeyPair) Nsec() string { s, _ := bech32Encode("nsec", n.Private.Serialize()); return s }

// NostrKey derives the NIP-06 key m/44'/1237'/account'/0/0 from a BIP39 seed.
// The feeds package uses it to sign and identify the user's feeds.
func NostrKey(seed []byte, account uint32) (NostrKeyPair, error) {
	xk, err := DeriveBIP32(seed, nostrPath(account), &chaincfg.MainNetParams)
	if err != nil {
		return NostrKeyPair{}, err
	}
	pk, err := xk.ECPrivKey()
	if err != nil {
		return NostrKeyPair{}, err
	}
	var kp NostrKeyPair
	kp.Private = pk
	copy(kp.Public[:], pk.PubKey().SerializeCompressed()[1:])
	return kp, nil
}

// NostrKey is the NIP-06 key for account.
func (k *Keys) NostrKey(account uint32) (NostrKeyPair, error) { return NostrKey(k.seed, account) }

func bech32Encode(hrp string, data []byte) (string, error) {
	conv, err := bech32.ConvertBits(data, 8, 5, true)
	if err != nil {
		return "", err
	}
	return bech32.Encode(hrp, conv)
}

// Accounts are the public addresses at one index, safe to show and store.
type Accounts struct {
	Index          uint32 `json:"index"`
	EVM            string `json:"evm"`
	Bitcoin        string `json:"bitcoin"`
	BitcoinTestnet string `json:"bitcoin_testnet"`
	BitcoinRegtest string `json:"bitcoin_regtest"`
	// Change addresses (BIP84 chain 1) receive the change of our sends.
	BitcoinChange        string `json:"bitcoin_change"`
	BitcoinTestnetChange string `json:"bitcoin_testnet_change"`
	BitcoinRegtestChange string `json:"bitcoin_regtest_change"`
	// The BIP84 account's extended public keys, from which balances and
	// sends find every address the account has used (gap limit 20).
	BitcoinXpub        string `json:"bitcoin_xpub"`
	BitcoinTestnetXpub string `json:"bitcoin_testnet_xpub"`
	BitcoinRegtestXpub string `json:"bitcoin_regtest_xpub"`
	Solana             string `json:"solana"`
	NEARAccount        string `json:"near_account"`
	NEARPublicKey      string `json:"near_public_key"`
	Nostr              string `json:"nostr"`
	// Cached marks addresses read from the cache without the passphrase:
	// anyone who can write the wallet directory could have changed them.
	// Addresses derived from the unlocked seed leave it false.
	Cached bool `json:"cached,omitempty"`
}

// Accounts derives the public addresses at index i.
func (k *Keys) Accounts(i uint32) (Accounts, error) {
	a := Accounts{Index: i}
	ek, err := k.EVMKey(i)
	if err != nil {
		return a, err
	}
	a.EVM = evm.PubkeyToAddress(ek.PublicKey).Hex()
	for _, n := range []struct {
		net    BitcoinNet
		change uint32
		dst    *string
	}{
		{BitcoinMainnet, 0, &a.Bitcoin}, {BitcoinTestnet, 0, &a.BitcoinTestnet}, {BitcoinRegtest, 0, &a.BitcoinRegtest},
		{BitcoinMainnet, 1, &a.BitcoinChange}, {BitcoinTestnet, 1, &a.BitcoinTestnetChange}, {BitcoinRegtest, 1, &a.BitcoinRegtestChange},
	} {
		bk, err := k.BitcoinKey(n.net, bitcoinAccount, n.change, i)
		if err != nil {
			return a, err
		}
		if *n.dst, err = BitcoinAddress(bk.PubKey(), n.net); err != nil {
			return a, err
		}
	}
	for _, n := range []struct {
		net BitcoinNet
		dst *string
	}{{BitcoinMainnet, &a.BitcoinXpub}, {BitcoinTestnet, &a.BitcoinTestnetXpub}, {BitcoinRegtest, &a.BitcoinRegtestXpub}} {
		var err error
		if *n.dst, err = k.BitcoinXpub(n.net, bitcoinAccount); err != nil {
			return a, err
		}
	}
	sk, err := k.SolanaKey(i)
	if err != nil {
		return a, err
	}
	a.Solana = SolanaAddress(sk.Public().(ed25519.PublicKey))
	nk, err := k.NEARKey(i)
	if err != nil {
		return a, err
	}
	npub := nk.Public().(ed25519.PublicKey)
	a.NEARAccount, a.NEARPublicKey = NEARImplicitAccount(npub), NEARPublicKey(npub)
	nos, err := k.NostrKey(i)
	if err != nil {
		return a, err
	}
	a.Nostr = nos.Npub()
	return a, nil
}

// SolanaAddress is the base58 public key.
func SolanaAddress(pub ed25519.PublicKey) string { return base58.Encode(pub) }

// NEARImplicitAccount is the implicit account id: the hex public key.
func NEARImplicitAccount(pub ed25519.PublicKey) string { return hex.EncodeToString(pub) }

// NEARPublicKey is the "ed25519:<base58>" form NEAR uses for keys.
func NEARPublicKey(pub ed25519.PublicKey) string { return "ed25519:" + base58.Encode(pub) }

// NEARSecretKey is the "ed25519:<base58 of 64 bytes>" form (secret).
func NEARSecretKey(k ed25519.PrivateKey) string { return "ed25519:" + base58.Encode(k) }

// ParseEVMAddress accepts an all-lower or all-upper hex address, or a mixed
// case one whose EIP-55 checksum is right.
func ParseEVMAddress(s string) (EVMAddress, error) {
	a, err := evm.ParseAddress(s)
	if errors.Is(err, evm.ErrAddressChecksum) {
		return a, fmt.Errorf("EVM address %s has a bad EIP-55 checksum (a typo?): check it with the payee", s)
	}
	return a, err
}

// ParseBitcoinAddress decodes s and insists it belongs to net.
func ParseBitcoinAddress(s string, net BitcoinNet) (btcutil.Address, error) {
	params, err := net.Params()
	if err != nil {
		return nil, err
	}
	a, err := btcutil.DecodeAddress(s, params)
	if err != nil {
		return nil, fmt.Errorf("bitcoin address %q is invalid: %v", s, err)
	}
	if !a.IsForNet(params) {
		return nil, fmt.Errorf("bitcoin address %q is not for %s", s, net)
	}
	return a, nil
}

// ParseSolanaAddress decodes a base58 32-byte public key.
func ParseSolanaAddress(s string) (ed25519.PublicKey, error) {
	b, err := base58.Decode(s)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("solana address %q is not a base58 32-byte public key", s)
	}
	return ed25519.PublicKey(b), nil
}

var nearAccountRe = regexp.MustCompile(`^(([a-z\d]+[-_])*[a-z\d]+\.)*([a-z\d]+[-_])*[a-z\d]+$`)

// ValidateNEARAccount checks a NEAR account id (named or implicit).
func ValidateNEARAccount(s string) error {
	if len(s) < 2 || len(s) > 64 || !nearAccountRe.MatchString(s) {
		return fmt.Errorf("NEAR account id %q is invalid: use e.g. alice.near or a 64-hex implicit id", s)
	}
	return nil
}

// BitcoinXpubFor is the account's extended public key for net.
func (a Accounts) BitcoinXpubFor(net BitcoinNet) string {
	switch net {
	case BitcoinTestnet:
		return a.BitcoinTestnetXpub
	case BitcoinRegtest:
		return a.BitcoinRegtestXpub
	}
	return a.BitcoinXpub
}

// BitcoinAddresses returns the first receive and change address for net.
func (a Accounts) BitcoinAddresses(net BitcoinNet) (recv, change string) {
	switch net {
	case BitcoinTestnet:
		return a.BitcoinTestnet, a.BitcoinTestnetChange
	case BitcoinRegtest:
		return a.BitcoinRegtest, a.BitcoinRegtestChange
	}
	return a.Bitcoin, a.BitcoinChange
}
