package wallet

import (
	"encoding/base64"
	"encoding/json"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"
)

var fuzzNow = time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)

// FuzzParsePaymentRequired: an x402 payment request comes from the server
// being paid. Parsing never panics, and an accepted request is one the
// router can rely on: version 2, at least one option, each with a positive
// whole atomic amount and a network, asset and payee, not yet expired; and
// it parses the same again when re-encoded, as JSON or base64.
func FuzzParsePaymentRequired(f *testing.F) {
	ok := `{"x402Version":2,"resource":{"url":"https://api.example/x","description":"d"},"accepts":[` +
		`{"scheme":"exact","network":"eip155:8453","amount":"10000","asset":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,"extra":{"name":"USDC","deadline":1893456000}}]}`
	for _, s := range []string{
		ok,
		base64.StdEncoding.EncodeToString([]byte(ok)),
		`{"x402Version":2,"accepts":[{"scheme":"exact","network":"solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp","amount":"007","asset":"native","payTo":"x"}],"expiresAt":"2026-11-21T08:00:01Z"}`,
		`{"x402Version":2,"accepts":[{"network":"n","amount":"1","asset":"a","payTo":"p"}],"expiresAt":"1"}`,
		`{"x402Version":2,"accepts":[{"network":"n","amount":"-1","asset":"a","payTo":"p","maxTimeoutSeconds":-5}]}`,
		`{"x402Version":2,"accepts":[{"network":"n","amount":"1e3","asset":"a","payTo":"p"}],"expiresAt":{"a":1}}`,
		`{"x402Version":1,"accepts":[]}`,
		`{"x402Version":2,"accepts":[]} trailing`,
		"eyJ4NDAyVmVyc2lvbiI6Mn0=",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pr, err := ParsePaymentRequired(data, fuzzNow)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		checkPaymentRequired(t, pr)
		re, err := json.Marshal(pr)
		if err != nil {
			t.Fatalf("accepted request does not marshal: %v", err)
		}
		for _, enc := range [][]byte{re, []byte(base64.StdEncoding.EncodeToString(re))} {
			again, err := ParsePaymentRequired(enc, fuzzNow)
			if err != nil {
				t.Fatalf("accepted request rejected once re-encoded: %v\n%s", err, enc)
			}
			if len(again.Accepts) != len(pr.Accepts) {
				t.Fatalf("re-encoded request has %d options, not %d", len(again.Accepts), len(pr.Accepts))
			}
			for i := range pr.Accepts {
				a, b := pr.Accepts[i], again.Accepts[i]
				if a.Amount != b.Amount || a.PayTo != b.PayTo || a.Network != b.Network || a.Asset != b.Asset || a.Scheme != b.Scheme {
					t.Fatalf("option %d changed on re-encoding: %+v vs %+v", i+1, a, b)
				}
			}
		}
	})
}

func checkPaymentRequired(t *testing.T, pr PaymentRequired) {
	t.Helper()
	if pr.X402Version != 2 || len(pr.Accepts) == 0 {
		t.Fatalf("accepted version %d with %d options", pr.X402Version, len(pr.Accepts))
	}
	if exp, ok, err := parseDeadline(pr.ExpiresAt); err != nil || ok && !fuzzNow.Before(exp) {
		t.Fatalf("accepted a request whose deadline %s is bad or past (%v)", pr.ExpiresAt, err)
	}
	for i, a := range pr.Accepts {
		v, ok := new(big.Int).SetString(a.Amount, 10)
		if !ok || v.Sign() <= 0 || !atomicRe.MatchString(a.Amount) {
			t.Fatalf("option %d: accepted amount %q", i+1, a.Amount)
		}
		if at, err := ToAtomic(a.Amount, 0); err != nil || at.Cmp(v) != 0 {
			t.Fatalf("option %d: amount %q is %v as atomic units (%v)", i+1, a.Amount, at, err)
		}
		if a.PayTo == "" || a.Network == "" || a.Asset == "" || a.MaxTimeoutSeconds < 0 {
			t.Fatalf("option %d: accepted %+v", i+1, a)
		}
	}
}

// plainDecimal is what an amount a person or a file gives may look like.
var plainDecimal = regexp.MustCompile(`^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)

// FuzzAmount: amounts come from policy files, payment requests and the
// command line. ParseAmount accepts only non-negative decimal numbers (no
// hex, binary, exponents or fractions that would read as another value),
// and ToAtomic and FormatAtomic agree both ways.
func FuzzAmount(f *testing.F) {
	for _, s := range []string{"12.5", "0", " 1 ", ".5", "5.", "1e3", "1/3", "-1", "0x10", "0b11", "1_000", "0x1p-2", "123456789012345678901234567890.000000000000000001", ""} {
		f.Add(s, uint8(18))
	}
	f.Add("0.000001", uint8(6))
	f.Add("0.0000001", uint8(6))
	f.Fuzz(func(t *testing.T, s string, dec uint8) {
		decimals := int(dec % 40)
		r, err := ParseAmount(s)
		if err != nil {
			return
		}
		if r.Sign() < 0 {
			t.Fatalf("ParseAmount(%q) = %v: negative", s, r)
		}
		if !plainDecimal.MatchString(strings.TrimSpace(s)) {
			t.Fatalf("ParseAmount(%q) = %v: it accepts a string that is not a plain decimal number (hex, binary, octal, p-exponent or _ forms read as another value); ParseAmount must refuse it", s, r.RatString())
		}
		v, err := ToAtomic(s, decimals)
		if err != nil {
			return // more decimal places than the asset has
		}
		back := FormatAtomic(v, decimals)
		v2, err := ToAtomic(back, decimals)
		if err != nil || v2.Cmp(v) != 0 {
			t.Fatalf("ToAtomic(%q, %d) = %v, formatted %q, parsed back %v (%v)", s, decimals, v, back, v2, err)
		}
		if want := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil))); want.Cmp(new(big.Rat).SetInt(v)) != 0 {
			t.Fatalf("ToAtomic(%q, %d) = %v, want %v", s, decimals, v, want)
		}
	})
}

// FuzzClassifyAddress: a payee address comes from a payment request or a
// person. Classifying never panics, every family it names parses the
// address too, and SamePayee is reflexive and symmetric.
func FuzzClassifyAddress(f *testing.F) {
	for _, s := range []string{
		"0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "0x209693bc6afc0c5328ba36faf03c514ef312287c", "0x209693Bc6afc0C5328bA36FaF03C514EF312287c",
		"bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "BC1QCR8TE4KR609GCAWUTMRZA0J4XV80JY8Z306FYU", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
		"tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", "bcrt1q6rhpng9evdsfnn833a4f4vej0asu6dk5srld6x",
		"EN2sCsJ1WDV8UFqsiTXHcUPUxQ4juE71eCknHYYMifkd", "alice.near", "98793cd91a3f870fb126f66285808c7e094afcfc4eda8a970f6648cdf0dbd6de",
		"", "0x", "a", "a..near",
	} {
		f.Add(s, strings.ToUpper(s))
	}
	f.Fuzz(func(t *testing.T, s, other string) {
		if SamePayee(s, other) != SamePayee(other, s) {
			t.Fatalf("SamePayee(%q, %q) is not symmetric", s, other)
		}
		if s != "" && !SamePayee(s, s) {
			t.Fatalf("SamePayee(%q, itself) is false", s)
		}
		k, err := ClassifyAddress(s)
		if err != nil {
			return
		}
		if len(k.Families) == 0 {
			t.Fatalf("ClassifyAddress(%q) accepted with no family", s)
		}
		for _, fam := range k.Families {
			switch fam {
			case FamilyEVM:
				_, err = ParseEVMAddress(s)
			case FamilySolana:
				_, err = ParseSolanaAddress(s)
			case FamilyNEAR:
				err = ValidateNEARAccount(s)
			case FamilyBitcoin:
				if len(k.BitcoinNets) == 0 {
					t.Fatalf("ClassifyAddress(%q): bitcoin with no network", s)
				}
				for _, n := range k.BitcoinNets {
					if _, err = ParseBitcoinAddress(s, n); err != nil {
						break
					}
				}
			default:
				t.Fatalf("ClassifyAddress(%q): unknown family %q", s, fam)
			}
			if err != nil {
				t.Fatalf("ClassifyAddress(%q) says %s, but its parser refuses it: %v", s, fam, err)
			}
		}
	})
}

// FuzzParseExtendedKey: an xpub given for a watch-only account. Parsing
// never panics, and what it accepts re-serialises to the same string.
func FuzzParseExtendedKey(f *testing.F) {
	for _, s := range []string{
		"xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8",
		"xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi",
		"xpub661MyMwAqRbcEYS8w7XLSVeEsBXy79zSzH1J8vCdxAZningWLdN3zgtU6LBpB85b3D2yc8sfvZU521AAwdZafEz7mnzBBsz4wKY5fTtTQBm",
		"tpubD6NzVbkrYhZ4WaWSyoBvQwbpLkojyoTZPRsgXELWz3Popb3qkjcJyJUGLnL4qHHoQvao8ESaAstxYSnhyswJ76uZPStJRJCTKvosUCJZL5B",
		"", "xpub", "1111111111111111111111111111111111111111111111111111111111111111111111111111111111111",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseExtendedKey(s)
		if err != nil {
			return
		}
		if got := k.String(); got != s {
			t.Fatalf("ParseExtendedKey(%q) re-serialises as %q", s, got)
		}
	})
}

// FuzzParsePath: a derivation path from a config file or the command line
// parses to indexes that print back to an equivalent path.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"m/44'/60'/0'/0/1", "m/84h/0H/0'/0/0", "m", "m/", "m//1", "m/2147483648", "m/2147483647'", "m/-1", "m/+1", " m/1 ", "M/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		idx, err := ParsePath(s)
		if err != nil {
			return
		}
		var b strings.Builder
		b.WriteString("m")
		for _, i := range idx {
			if i >= Hardened {
				b.WriteString("/" + big.NewInt(int64(i-Hardened)).String() + "'")
			} else {
				b.WriteString("/" + big.NewInt(int64(i)).String())
			}
		}
		again, err := ParsePath(b.String())
		if err != nil || len(again) != len(idx) {
			t.Fatalf("ParsePath(%q) = %v prints as %q, which parses to %v (%v)", s, idx, b.String(), again, err)
		}
		for i := range idx {
			if again[i] != idx[i] {
				t.Fatalf("ParsePath(%q) = %v, printed and parsed again %v", s, idx, again)
			}
		}
	})
}
