package wallet

import (
	"fmt"
	"math/big"
	"strings"
)

// ToAtomic converts a decimal amount to integer base units, refusing more
// fractional digits than the asset has.
func ToAtomic(amount string, decimals int) (*big.Int, error) {
	r, err := ParseAmount(amount)
	if err != nil {
		return nil, err
	}
	scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil)))
	if !scaled.IsInt() {
		return nil, fmt.Errorf("amount %s has more than %d decimal places", amount, decimals)
	}
	return new(big.Int).Set(scaled.Num()), nil
}

// FormatAtomic renders base units as a decimal string without trailing zeros.
func FormatAtomic(v *big.Int, decimals int) string {
	if v == nil {
		return "0"
	}
	neg := v.Sign() < 0
	s := new(big.Int).Abs(v).String()
	if decimals > 0 {
		if len(s) <= decimals {
			s = strings.Repeat("0", decimals-len(s)+1) + s
		}
		s = s[:len(s)-decimals] + "." + s[len(s)-decimals:]
		s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// atomicRat is v / 10^decimals as a Rat (for the policy engine).
func atomicRat(v *big.Int, decimals int) *big.Rat {
	return new(big.Rat).SetFrac(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil))
}
