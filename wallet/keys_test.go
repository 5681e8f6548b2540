package wallet

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/tyler-smith/go-bip39"
)

const abandonMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWalletBIP39TrezorVectors(t *testing.T) {
	var f struct{ English [][4]string }
	readJSON(t, "bip39_trezor_vectors.json", &f)
	if len(f.English) != 24 {
		t.Fatalf("want 24 vectors, got %d", len(f.English))
	}
	for _, v := range f.English {
		ent, mn, seedHex, xprv := v[0], v[1], v[2], v[3]
		t.Run(ent, func(t *testing.T) {
			got, err := bip39.NewMnemonic(mustHex(t, ent))
			if err != nil || got != mn {
				t.Fatalf("entropy→mnemonic = %q, %v", got, err)
			}
			if err := ValidateMnemonic(mn); err != nil {
				t.Fatal(err)
			}
			seed, err := SeedFromMnemonic(mn, "TREZOR")
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(seed) != seedHex {
				t.Fatalf("seed mismatch")
			}
			m, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
			if err != nil {
				t.Fatal(err)
			}
			if m.String() != xprv {
				t.Fatalf("root xprv = %s", m.String())
			}
		})
	}
}

func TestWalletBadMnemonicNamesWordAndPosition(t *testing.T) {
	tests := []struct {
		name, mnemonic, want string
		pos                  int
	}{
		{"unknown word", "abandon abandon abandon abandon abandn abandon abandon abandon abandon abandon abandon about", `word 5 "abandn"`, 5},
		{"bad checksum", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon", "checksum", 0},
		{"too short", "abandon about", "has 2 words", 0},
		{"typo suggestion", "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrongg", `did you mean "wrong"`, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateMnemonic(tt.mnemonic)
			var me *MnemonicError
			if !errors.As(err, &me) {
				t.Fatalf("got %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) || me.Position != tt.pos {
				t.Fatalf("error %q (pos %d), want %q pos %d", err, me.Position, tt.want, tt.pos)
			}
		})
	}
	if err := ValidateMnemonic("  ABANDON abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about\n"); err != nil {
		t.Fatalf("normalisation: %v", err)
	}
}

func TestWalletBIP32Vectors(t *testing.T) {
	var f struct {
		Valid []struct {
			Seed   string
			Chains []struct{ Path, Xpub, Xprv string }
		}
		Invalid [][2]string
	}
	readJSON(t, "bip32_vectors.json", &f)
	if len(f.Valid) != 4 || len(f.Invalid) != 16 {
		t.Fatalf("vector file incomplete")
	}
	for vi, v := range f.Valid {
		seed := mustHex(t, v.Seed)
		for _, c := range v.Chains {
			k, err := DeriveBIP32(seed, c.Path, &chaincfg.MainNetParams)
			if err != nil {
				t.Fatalf("vector %d %s: %v", vi+1, c.Path, err)
			}
			pub, _ := k.Neuter()
			if k.String() != c.Xprv || pub.String() != c.Xpub {
				t.Errorf("vector %d %s: got %s / %s", vi+1, c.Path, k.String(), pub.String())
			}
			for _, s := range []string{c.Xprv, c.Xpub} {
				p, err := ParseExtendedKey(s)
				if err != nil || p.String() != s {
					t.Errorf("vector %d %s: parse round trip: %v", vi+1, c.Path, err)
				}
			}
		}
	}
	for _, inv := range f.Invalid {
		if _, err := ParseExtendedKey(inv[0]); err == nil {
			t.Errorf("vector 5 (%s): accepted %s", inv[1], inv[0])
		}
	}
}

func TestWalletSLIP10Ed25519Vectors(t *testing.T) {
	var raw struct {
		Vectors []struct {
			Seed   string `json:"seed"`
			Chains []struct {
				Path      string `json:"path"`
				ChainCode string `json:"chain_code"`
				Private   string `json:"private"`
				Public    string `json:"public"`
			} `json:"chains"`
		} `json:"vectors"`
	}
	readJSON(t, "slip10_ed25519_vectors.json", &raw)
	if len(raw.Vectors) != 2 {
		t.Fatal("want vectors 1 and 2")
	}
	for vi, v := range raw.Vectors {
		for _, c := range v.Chains {
			k, cc, err := DeriveSLIP10(mustHex(t, v.Seed), c.Path)
			if err != nil {
				t.Fatal(err)
			}
			pub := "00" + hex.EncodeToString(ed25519.NewKeyFromSeed(k).Public().(ed25519.PublicKey))
			if hex.EncodeToString(k) != c.Private || hex.EncodeToString(cc) != c.ChainCode || pub != c.Public {
				t.Errorf("vector %d %s mismatch", vi+1, c.Path)
			}
		}
	}
	if _, _, err := DeriveSLIP10([]byte("0123456789abcdef"), "m/0"); err == nil {
		t.Error("non-hardened ed25519 derivation accepted")
	}
}

type addrVectors struct {
	BIP84 struct {
		Mnemonic    string `json:"mnemonic"`
		RootZprv    string `json:"rootpriv_zprv"`
		AccountZprv string `json:"account0_zprv"`
		AccountZpub string `json:"account0_zpub"`
		Rows        []struct{ Path, WIF, Pubkey, Address string }
	} `json:"bip84"`
	EIP55 struct{ Valid []string } `json:"eip55"`
	NIP06 struct {
		Vectors []struct{ Mnemonic, Private, Nsec, Public, Npub string }
	} `json:"nip06"`
	NEAR struct {
		Vectors []struct {
			Mnemonic        string `json:"mnemonic"`
			PublicKey       string `json:"public_key"`
			SecretKey       string `json:"secret_key"`
			ImplicitAccount string `json:"implicit_account"`
		}
	} `json:"near"`
	Abandon struct{ EVM, Bitcoin, Solana string } `json:"abandon"`
}

// reversion re-encodes a SLIP-132 (zprv/zpub) key with BIP32 version bytes.
func reversion(t *testing.T, s string, private bool) string {
	t.Helper()
	k, err := hdkeychain.NewKeyFromString(s)
	if err != nil {
		t.Fatal(err)
	}
	ver := chaincfg.MainNetParams.HDPublicKeyID[:]
	if private {
		ver = chaincfg.MainNetParams.HDPrivateKeyID[:]
	}
	k2, err := k.CloneWithVersion(ver)
	if err != nil {
		t.Fatal(err)
	}
	return k2.String()
}

func TestWalletBIP84Vectors(t *testing.T) {
	var v addrVectors
	readJSON(t, "addresses.json", &v)
	seed, err := SeedFromMnemonic(v.BIP84.Mnemonic, "")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
	if root.String() != reversion(t, v.BIP84.RootZprv, true) {
		t.Error("BIP84 root mismatch")
	}
	acct, _ := DeriveBIP32(seed, "m/84'/0'/0'", &chaincfg.MainNetParams)
	acctPub, _ := acct.Neuter()
	if acct.String() != reversion(t, v.BIP84.AccountZprv, true) || acctPub.String() != reversion(t, v.BIP84.AccountZpub, false) {
		t.Error("BIP84 account mismatch")
	}
	for _, r := range v.BIP84.Rows {
		k, err := DeriveBIP32(seed, r.Path, &chaincfg.MainNetParams)
		if err != nil {
			t.Fatal(err)
		}
		priv, _ := k.ECPrivKey()
		wif, _ := btcutil.NewWIF(priv, &chaincfg.MainNetParams, true)
		addr, _ := BitcoinAddress(priv.PubKey(), BitcoinMainnet)
		if wif.String() != r.WIF || hex.EncodeToString(priv.PubKey().SerializeCompressed()) != r.Pubkey || addr != r.Address {
			t.Errorf("%s: got %s %s", r.Path, wif, addr)
		}
		// the same key through Keys (account 0, chain and index from the path)
		var change, index uint32
		fmt.Sscanf(r.Path, "m/84'/0'/0'/%d/%d", &change, &index)
		if kk, err := NewKeys(seed).BitcoinKey(BitcoinMainnet, 0, change, index); err != nil || !kk.PubKey().IsEqual(priv.PubKey()) {
			t.Errorf("%s: Keys.BitcoinKey differs (%v)", r.Path, err)
		}
	}
	if xpub, err := NewKeys(seed).BitcoinXpub(BitcoinMainnet, 0); err != nil || xpub != reversion(t, v.BIP84.AccountZpub, false) {
		t.Errorf("account xpub %s %v", xpub, err)
	}
}

func TestWalletAcceptanceAbandonAddresses(t *testing.T) {
	var v addrVectors
	readJSON(t, "addresses.json", &v)
	seed, err := SeedFromMnemonic(abandonMnemonic, "")
	if err != nil {
		t.Fatal(err)
	}
	k := NewKeys(seed)
	defer k.Wipe()
	a, err := k.Accounts(0)
	if err != nil {
		t.Fatal(err)
	}
	if a.EVM != v.Abandon.EVM || a.Bitcoin != v.Abandon.Bitcoin || a.Solana != v.Abandon.Solana {
		t.Fatalf("got %+v", a)
	}
	for _, want := range []struct{ got, prefix string }{
		{a.BitcoinTestnet, "tb1q"}, {a.BitcoinRegtest, "bcrt1q"}, {a.Nostr, "npub1"}, {a.NEARPublicKey, "ed25519:"},
	} {
		if !strings.HasPrefix(want.got, want.prefix) {
			t.Errorf("%q lacks prefix %q", want.got, want.prefix)
		}
	}
	if len(a.NEARAccount) != 64 {
		t.Errorf("NEAR implicit account %q", a.NEARAccount)
	}
	// testnet and regtest share the BIP84 coin type 1 key, so the same program
	if _, err := ParseBitcoinAddress(a.BitcoinRegtest, BitcoinRegtest); err != nil {
		t.Error(err)
	}
	if _, err := ParseBitcoinAddress(a.Bitcoin, BitcoinRegtest); err == nil {
		t.Error("mainnet address accepted for regtest")
	}
}

func TestWalletEIP55(t *testing.T) {
	var v addrVectors
	readJSON(t, "addresses.json", &v)
	for _, s := range v.EIP55.Valid {
		a, err := ParseEVMAddress(s)
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		lower, upper := s == "0x"+strings.ToLower(s[2:]), s == "0x"+strings.ToUpper(s[2:])
		if !lower && !upper && a.Hex() != s {
			t.Errorf("%s: checksum %s", s, a.Hex())
		}
		if lower || upper {
			continue
		}
		// flip the case of one letter: must be refused
		b := []byte(s)
		for i := 2; i < len(b); i++ {
			if b[i] >= 'a' && b[i] <= 'f' {
				b[i] -= 32
				break
			} else if b[i] >= 'A' && b[i] <= 'F' {
				b[i] += 32
				break
			}
		}
		if _, err := ParseEVMAddress(string(b)); err == nil || !strings.Contains(err.Error(), "EIP-55") {
			t.Errorf("%s: bad checksum accepted (%v)", b, err)
		}
	}
}

func TestWalletNIP06Vectors(t *testing.T) {
	var v addrVectors
	readJSON(t, "addresses.json", &v)
	for _, n := range v.NIP06.Vectors {
		seed, err := SeedFromMnemonic(n.Mnemonic, "")
		if err != nil {
			t.Fatal(err)
		}
		kp, err := NostrKey(seed, 0)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(kp.Private.Serialize()) != n.Private || kp.PublicHex() != n.Public || kp.Npub() != n.Npub || kp.Nsec() != n.Nsec {
			t.Errorf("NIP-06 %q: got %s %s", n.Mnemonic[:10], kp.PublicHex(), kp.Npub())
		}
	}
}

func TestWalletNEARSeedPhraseVectors(t *testing.T) {
	var v addrVectors
	readJSON(t, "addresses.json", &v)
	for _, n := range v.NEAR.Vectors {
		seed, err := SeedFromMnemonic(n.Mnemonic, "")
		if err != nil {
			t.Fatal(err)
		}
		k, err := NewKeys(seed).NEARKey(0)
		if err != nil {
			t.Fatal(err)
		}
		pub := k.Public().(ed25519.PublicKey)
		if n.PublicKey != "" && NEARPublicKey(pub) != n.PublicKey {
			t.Errorf("public %s", NEARPublicKey(pub))
		}
		if NEARSecretKey(k) != n.SecretKey {
			t.Errorf("secret mismatch for %q", n.Mnemonic[:10])
		}
		if n.ImplicitAccount != "" && NEARImplicitAccount(pub) != n.ImplicitAccount {
			t.Errorf("implicit %s", NEARImplicitAccount(pub))
		}
	}
}
