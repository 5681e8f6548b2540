package grammar

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// maxInt is the largest magnitude the integer grammar writes: 16 digits,
// the same bound as the "integer" rule, so a model cannot emit digits
// forever.
const maxInt = 9_999_999_999_999_999

// rangeKeywords bound numbers; the converter supports them for integers.
var rangeKeywords = []string{"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"}

// intBounds reads the range keywords as an inclusive integer range within
// ±maxInt. ok is false when none is present.
func intBounds(s *object, path string) (lo, hi int64, ok bool, err error) {
	l, h := big.NewInt(-maxInt), big.NewInt(maxInt)
	for _, kw := range rangeKeywords {
		v, present := s.get(kw)
		if !present {
			continue
		}
		ok = true
		n, isNum := v.(json.Number)
		r, valid := new(big.Rat).SetString(string(n))
		if !isNum || !valid {
			return 0, 0, false, fmt.Errorf("schema: %q at %s must be a number", kw, loc(path))
		}
		// Integer floor and ceiling of r.
		fl := new(big.Int).Div(r.Num(), r.Denom()) // Euclidean: floor for positive denominators
		ce := new(big.Int).Set(fl)
		if !r.IsInt() {
			ce.Add(ce, big.NewInt(1))
		}
		switch kw {
		case "minimum":
			l = bigMax(l, ce)
		case "exclusiveMinimum":
			l = bigMax(l, fl.Add(fl, big.NewInt(1)))
		case "maximum":
			h = bigMin(h, fl)
		case "exclusiveMaximum":
			h = bigMin(h, ce.Sub(ce, big.NewInt(1)))
		}
	}
	if l.Cmp(h) > 0 {
		return 0, 0, false, fmt.Errorf("schema: the integer range at %s is empty or outside ±%d; fix \"minimum\"/\"maximum\"", loc(path), int64(maxInt))
	}
	return l.Int64(), h.Int64(), ok, nil
}

func bigMax(a, b *big.Int) *big.Int {
	if a.Cmp(b) >= 0 {
		return a
	}
	return b
}

func bigMin(a, b *big.Int) *big.Int {
	if a.Cmp(b) <= 0 {
		return a
	}
	return b
}

// intRange is the grammar for the decimal integers in [lo, hi] (no leading
// zeros, no "-0"). The alternatives are disjoint, so it stays unambiguous.
func intRange(lo, hi int64) expr {
	switch {
	case lo >= 0:
		return uintRange(lo, hi)
	case hi < 0:
		return seq{lit("-"), uintRange(-hi, -lo)}
	}
	return alt{seq{lit("-"), uintRange(1, -lo)}, uintRange(0, hi)}
}

// uintRange covers [a, b], 0 <= a <= b, one digit count at a time.
func uintRange(a, b int64) expr {
	var alts alt
	for n := len(strconv.FormatInt(a, 10)); n <= len(strconv.FormatInt(b, 10)); n++ {
		x, y := a, b
		if n > 1 {
			x = max(a, pow10(n-1))
		}
		y = min(b, pow10(n)-1)
		alts = append(alts, sameLength(strconv.FormatInt(x, 10), strconv.FormatInt(y, 10)))
	}
	if len(alts) == 1 {
		return alts[0]
	}
	return alts
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// sameLength covers the numbers from x to y, both written with the same
// number of digits: fix the common first digit, or split into the part
// starting with x's first digit, a middle where any digits follow, and the
// part starting with y's first digit.
func sameLength(x, y string) expr {
	if x == y {
		return lit(x)
	}
	if len(x) == 1 {
		return digitClass(x[0], y[0])
	}
	rx, ry := x[1:], y[1:]
	if x[0] == y[0] {
		return seq{lit(x[:1]), sameLength(rx, ry)}
	}
	var alts alt
	from, to := x[0], y[0]
	if strings.Trim(rx, "0") != "" {
		alts = append(alts, seq{lit(x[:1]), sameLength(rx, strings.Repeat("9", len(rx)))})
		from++
	}
	if strings.Trim(ry, "9") != "" {
		to--
	}
	if from <= to {
		alts = append(alts, seq{digitClass(from, to), anyDigits(len(rx))})
	}
	if strings.Trim(ry, "9") != "" {
		alts = append(alts, seq{lit(y[:1]), sameLength(strings.Repeat("0", len(ry)), ry)})
	}
	if len(alts) == 1 {
		return alts[0]
	}
	return alts
}

func digitClass(a, b byte) expr {
	if a == b {
		return lit(string(a))
	}
	return sym(fmt.Sprintf("[%c-%c]", a, b))
}

func anyDigits(n int) expr {
	if n == 1 {
		return sym("[0-9]")
	}
	return rept{sym("[0-9]"), n, n}
}

// numberFits reports whether an enum/const number satisfies the range
// keywords of its schema.
func numberFits(s *object, n json.Number) bool {
	r, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return false
	}
	for _, kw := range rangeKeywords {
		v, present := s.get(kw)
		if !present {
			continue
		}
		bn, _ := v.(json.Number)
		b, ok := new(big.Rat).SetString(string(bn))
		if !ok {
			return false
		}
		c := r.Cmp(b)
		if kw == "minimum" && c < 0 || kw == "exclusiveMinimum" && c <= 0 ||
			kw == "maximum" && c > 0 || kw == "exclusiveMaximum" && c >= 0 {
			return false
		}
	}
	return true
}
