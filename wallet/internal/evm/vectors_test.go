package evm

import (
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"
)

// EIP-55 (eips.ethereum.org/EIPS/eip-55), "Test Cases": all caps, all
// lower and mixed-case checksummed addresses.
func TestEIP55Vectors(t *testing.T) {
	mixed := []string{
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
		"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
		"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
		"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
	}
	caps := []string{"0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D"}
	lower := []string{"0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26"}
	for _, s := range append(append(mixed, caps...), lower...) {
		a, err := ParseAddress(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if !strings.EqualFold(a.Hex(), s) {
			t.Fatalf("%s read as %s", s, a.Hex())
		}
	}
	for _, s := range mixed {
		if got := HexToAddress(s).Hex(); got != s {
			t.Errorf("checksum of %s: %s", strings.ToLower(s), got)
		}
		// one letter's case flipped breaks the checksum
		i := strings.IndexAny(s[2:], "abcdefABCDEF") + 2
		bad := s[:i] + string(s[i]^0x20) + s[i+1:]
		if _, err := ParseAddress(bad); !errors.Is(err, ErrAddressChecksum) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	for in, want := range map[string]error{
		"5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed":   ErrAddressPrefix,
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA":   ErrAddressLength,
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAzz": ErrAddressHex,
	} {
		if _, err := ParseAddress(in); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", in, err, want)
		}
	}
}

// ethereum/tests RLPTests/rlptest.json (typed in: the string, integer and
// list cases).
func TestRLPVectors(t *testing.T) {
	bigint, _ := new(big.Int).SetString("83729609699884896815286331701780722", 10)
	cases := []struct {
		name string
		enc  []byte
		want string
	}{
		{"emptystring", rlpString(nil), "80"},
		{"bytestring00", rlpString([]byte{0}), "00"},
		{"bytestring01", rlpString([]byte{1}), "01"},
		{"bytestring7F", rlpString([]byte{0x7f}), "7f"},
		{"shortstring", rlpString([]byte("dog")), "83646f67"},
		{"shortstring2", rlpString([]byte("Lorem ipsum dolor sit amet, consectetur adipisicing eli")),
			"b74c6f72656d20697073756d20646f6c6f722073697420616d65742c20636f6e7365637465747572206164697069736963696e6720656c69"},
		{"longstring", rlpString([]byte("Lorem ipsum dolor sit amet, consectetur adipisicing elit")),
			"b8384c6f72656d20697073756d20646f6c6f722073697420616d65742c20636f6e7365637465747572206164697069736963696e6720656c6974"},
		{"zero", rlpUint(0), "80"},
		{"smallint", rlpUint(1), "01"},
		{"smallint2", rlpUint(16), "10"},
		{"smallint3", rlpUint(79), "4f"},
		{"smallint4", rlpUint(127), "7f"},
		{"mediumint1", rlpUint(128), "8180"},
		{"mediumint2", rlpUint(1000), "8203e8"},
		{"mediumint3", rlpUint(100000), "830186a0"},
		{"mediumint4", rlpBig(bigint), "8f102030405060708090a0b0c0d0e0f2"},
		{"emptylist", rlpList(), "c0"},
		{"stringlist", rlpList(rlpString([]byte("dog")), rlpString([]byte("god")), rlpString([]byte("cat"))), "cc83646f6783676f6483636174"},
		{"multilist", rlpList(rlpString([]byte("zw")), rlpList(rlpUint(4)), rlpUint(1)), "c6827a77c10401"},
		{"listsoflists", rlpList(rlpList(rlpList(), rlpList()), rlpList()), "c4c2c0c0c0"},
		{"listsoflists2", rlpList(rlpList(), rlpList(rlpList()), rlpList(rlpList(), rlpList(rlpList()))), "c7c0c1c0c3c0c1c0"},
	}
	for _, c := range cases {
		if got := hex.EncodeToString(c.enc); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// EIP-191 personal_sign digest of "Hello World" (as ethers' hashMessage
// documents it).
func TestTextHashVector(t *testing.T) {
	if got := hex.EncodeToString(TextHash([]byte("Hello World"))); got != "a1de988600a42c4b4ab089b619297c17d53cffae5d5120d82d8a92d0bb3b78f2" {
		t.Fatal(got)
	}
}

// The EIP-712 specification's own Mail example (assets/eip-712/Example.js
// in ethereum/EIPs), with the array and nested-struct variant from
// eth_signTypedData_v4 (MetaMask's eth-sig-util test suite: "Group").
func TestEIP712Mail(t *testing.T) {
	td, err := ParseTypedData([]byte(mailJSON))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		f    func() ([]byte, error)
		want string
	}{
		{"type hash", func() ([]byte, error) { return td.TypeHash("Mail"), nil }, "a0cedeb2dc280ba39b857546d74f5549c3a1d7bdc2dd96bf881f76108e23dac2"},
		{"domain", td.DomainSeparator, "f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f"},
		{"struct", func() ([]byte, error) { return td.HashStruct("Mail", td.Message) }, "c52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e"},
		{"digest", td.Hash, "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"},
	} {
		got, err := c.f()
		if err != nil || hex.EncodeToString(got) != c.want {
			t.Errorf("%s: %x %v", c.name, got, err)
		}
	}
	if got := td.EncodeType("Mail"); got != "Mail(Person from,Person to,string contents)Person(string name,address wallet)" {
		t.Errorf("encodeType %s", got)
	}
	d, _ := td.Hash()
	sig, err := Sign(d, testKey(Keccak256([]byte("cow"))))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(sig) != "4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b9156201" {
		t.Fatalf("signature %x", sig)
	}
	if a, err := RecoverAddress(d, sig); err != nil || a.Hex() != "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826" {
		t.Fatalf("recovered %s %v", a.Hex(), err)
	}
}

const mailJSON = `{
  "types": {
    "EIP712Domain": [{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],
    "Person": [{"name":"name","type":"string"},{"name":"wallet","type":"address"}],
    "Mail": [{"name":"from","type":"Person"},{"name":"to","type":"Person"},{"name":"contents","type":"string"}]
  },
  "primaryType": "Mail",
  "domain": {"name":"Ether Mail","version":"1","chainId":1,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
  "message": {"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},"to":{"name":"Bob","wallet":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},"contents":"Hello, Bob!"}
}`

// TestTypedDataRefuses: what the EIP leaves loose is refused, not guessed.
func TestTypedDataRefuses(t *testing.T) {
	doc := func(fields, msg string) string {
		return `{"types":{"EIP712Domain":[{"name":"name","type":"string"}],"M":[` + fields + `]},"primaryType":"M","domain":{"name":"x"},"message":` + msg + `}`
	}
	for name, in := range map[string]string{
		"missing member":      doc(`{"name":"a","type":"uint8"}`, `{}`),
		"extra member":        doc(`{"name":"a","type":"uint8"}`, `{"a":1,"b":2}`),
		"uint8 overflow":      doc(`{"name":"a","type":"uint8"}`, `{"a":256}`),
		"int8 overflow":       doc(`{"name":"a","type":"int8"}`, `{"a":128}`),
		"negative uint":       doc(`{"name":"a","type":"uint256"}`, `{"a":"-1"}`),
		"fraction":            doc(`{"name":"a","type":"uint256"}`, `{"a":1.5}`),
		"exponent":            doc(`{"name":"a","type":"uint256"}`, `{"a":1e3}`),
		"inexact number":      doc(`{"name":"a","type":"uint256"}`, `{"a":9007199254740993}`),
		"bad checksum":        doc(`{"name":"a","type":"address"}`, `{"a":"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"}`),
		"no 0x address":       doc(`{"name":"a","type":"address"}`, `{"a":"5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"}`),
		"short bytes4":        doc(`{"name":"a","type":"bytes4"}`, `{"a":"0x010203"}`),
		"odd hex":             doc(`{"name":"a","type":"bytes"}`, `{"a":"0x123"}`),
		"fixed array length":  doc(`{"name":"a","type":"uint8[2]"}`, `{"a":[1]}`),
		"array not nested":    doc(`{"name":"a","type":"uint8[][]"}`, `{"a":[1]}`),
		"string bool":         doc(`{"name":"a","type":"bool"}`, `{"a":"true"}`),
		"undefined type":      doc(`{"name":"a","type":"Foo"}`, `{"a":{}}`),
		"bare uint":           doc(`{"name":"a","type":"uint"}`, `{"a":1}`),
		"bytes33":             doc(`{"name":"a","type":"bytes33"}`, `{"a":"0x00"}`),
		"duplicate member":    doc(`{"name":"a","type":"bool"},{"name":"a","type":"bool"}`, `{"a":true}`),
		"null array item":     doc(`{"name":"a","type":"uint8[]"}`, `{"a":[null]}`),
		"primary is domain":   `{"types":{"EIP712Domain":[{"name":"name","type":"string"}]},"primaryType":"EIP712Domain","domain":{"name":"x"},"message":{"name":"x"}}`,
		"no domain type":      `{"types":{"M":[]},"primaryType":"M","domain":{},"message":{}}`,
		"null type":           `{"types":{"EIP712Domain":[],"M":null},"primaryType":"M","domain":{},"message":{}}`,
		"domain extra member": `{"types":{"EIP712Domain":[],"M":[]},"primaryType":"M","domain":{"name":"x"},"message":{}}`,
	} {
		td, err := ParseTypedData([]byte(in))
		if err == nil {
			_, err = td.Hash()
		}
		if !errors.Is(err, ErrTypedData) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// and the forms it takes: integers as JSON numbers, decimal and hex
	// strings, negatives for intN, nested and fixed arrays
	ok := doc(`{"name":"a","type":"uint256"},{"name":"b","type":"int16"},{"name":"c","type":"uint8[2][]"},{"name":"d","type":"bytes"},{"name":"e","type":"uint64"}`,
		`{"a":"0xff","b":-32768,"c":[[1,2],[3,"4"]],"d":"0x","e":"18446744073709551615"}`)
	td, err := ParseTypedData([]byte(ok))
	if err == nil {
		_, err = td.Hash()
	}
	if err != nil {
		t.Fatal(err)
	}
}
