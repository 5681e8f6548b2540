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
