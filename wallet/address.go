package wallet

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/btcsuite/btcd/btcutil/base58"
)

// AddressKind is what an address string can be. Some strings fit two
// families (a 64-hex NEAR implicit account is not an EVM address, but a
// base58 string may be Solana or legacy Bitcoin): Families lists every fit,
// most specific first.
type AddressKind struct {
	Families []string `json:"families"`
	// BitcoinNets are the Bitcoin networks whose encoding the address uses.
	BitcoinNets []BitcoinNet `json:"bitcoin_nets,omitempty"`
}

// Is reports whether family is among k's families.
func (k AddressKind) Is(family string) bool {
	for _, f := range k.Families {
		if f == family {
			return true
		}
	}
	return false
}

// UnknownAddressError means an address fits no chain family sov supports.
type UnknownAddressError struct{ Address string }

func (e *UnknownAddressError) Error() string {
	return fmt.Sprintf("%s is not an EVM (0x…), Bitcoin, Solana or NEAR address", e.Address)
}

var nearNamed = regexp.MustCompile(`^(([a-z\d]+[-_])*[a-z\d]+\.)+([a-z\d]+[-_])*[a-z\d]+$`)

// ClassifyAddress tells which families an address belongs to, by encoding
// alone (checksums included): it never contacts a chain.
func ClassifyAddress(s string) (AddressKind, error) {
	var k AddressKind
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		if _, err := ParseEVMAddress(s); err != nil {
			return k, err
		}
		k.Families = []string{FamilyEVM}
		return k, nil
	}
	for _, n := range []BitcoinNet{BitcoinMainnet, BitcoinTestnet, BitcoinRegtest} {
		if _, err := ParseBitcoinAddress(s, n); err == nil {
			k.BitcoinNets = append(k.BitcoinNets, n)
		}
	}
	if len(k.BitcoinNets) > 0 {
		k.Families = append(k.Families, FamilyBitcoin)
	}
	if b := base58.Decode(s); len(b) == 32 {
		k.Families = append(k.Families, FamilySolana)
	}
	if len(s) == 64 && strings.Trim(s, "0123456789abcdef") == "" || len(s) >= 2 && len(s) <= 64 && nearNamed.MatchString(s) {
		k.Families = append(k.Families, FamilyNEAR)
	}
	if len(k.Families) == 0 {
		return k, &UnknownAddressError{Address: s}
	}
	return k, nil
}

// SamePayee reports whether a and b name the same recipient. Case matters
// per family: EVM hex and Bitcoin bech32 are case-insensitive (bech32 only
// when each side is in one case: mixed case is invalid), but base58
// (Solana, legacy Bitcoin) and NEAR account ids are compared exactly, since
// two base58 strings differing only in case are different keys.
func SamePayee(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if a == b {
		return true
	}
	if !strings.EqualFold(a, b) {
		return false
	}
	return foldable(a) && foldable(b)
}

// foldable reports whether s is an address whose case carries no meaning.
func foldable(s string) bool {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		return true // EVM hex (base58 has no 0, so no Solana key starts so)
	}
	l := strings.ToLower(s)
	if l != s && strings.ToUpper(s) != s {
		return false // mixed-case bech32 is invalid
	}
	for _, hrp := range []string{"bc1", "tb1", "bcrt1"} {
		if strings.HasPrefix(l, hrp) {
			return true
		}
	}
	return false
}

// containsPayee reports whether list holds payee (see SamePayee).
func containsPayee(list []string, payee string) bool {
	for _, v := range list {
		if SamePayee(v, payee) {
			return true
		}
	}
	return false
}

// lookupPayee finds payee's entry in m (see SamePayee).
func lookupPayee[V any](m map[string]V, payee string) (V, bool) {
	if v, ok := m[payee]; ok {
		return v, true
	}
	for k, v := range m {
		if SamePayee(k, payee) {
			return v, true
		}
	}
	var zero V
	return zero, false
}
