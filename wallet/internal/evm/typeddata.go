package evm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// EIP-712 typed structured data (eth_signTypedData_v4): the JSON document,
// its type encoding and the signing digest. The parser is strict where
// the EIP leaves room: every field present, no extra ones, fixed array
// lengths checked, integers in range, mixed-case addresses checksummed,
// JSON numbers only as plain integers a double holds exactly (give larger
// ones as decimal or 0x strings). What it accepts it hashes as the EIP
// says; the tests hold it to go-ethereum's digests.

// TypedField is one member of a struct type.
type TypedField struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// TypedData is an EIP-712 document. Domain and Message hold decoded JSON:
// string, json.Number, bool, []any and map[string]any values.
type TypedData struct {
	Types       map[string][]TypedField
	PrimaryType string
	Domain      map[string]any
	Message     map[string]any
}

// ErrTypedData wraps every reason a typed-data document is refused.
var ErrTypedData = errors.New("invalid EIP-712 typed data")

func tdErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrTypedData, fmt.Sprintf(format, a...))
}

const domainType = "EIP712Domain"

var (
	identRe = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)
	// struct type names: like go-ethereum's and Solidity's, a letter first
	structRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	dimRe    = regexp.MustCompile(`\[([0-9]*)\]$`)
	decRe    = regexp.MustCompile(`^-?[0-9]+$`)
	hexIntRe = regexp.MustCompile(`^0[xX][0-9a-fA-F]+$`)
)

// ParseTypedData decodes and checks an eth_signTypedData_v4 document.
// Values are checked when hashed.
func ParseTypedData(b []byte) (TypedData, error) {
	var raw struct {
		Types       map[string][]TypedField `json:"types"`
		PrimaryType string                  `json:"primaryType"`
		Domain      json.RawMessage         `json:"domain"`
		Message     json.RawMessage         `json:"message"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return TypedData{}, fmt.Errorf("%w: %v", ErrTypedData, err)
	}
	td := TypedData{Types: raw.Types, PrimaryType: raw.PrimaryType}
	var err error
	if td.Domain, err = decodeObject(raw.Domain); err != nil {
		return TypedData{}, tdErr("domain: %v", err)
	}
	if td.Message, err = decodeObject(raw.Message); err != nil {
		return TypedData{}, tdErr("message: %v", err)
	}
	if err := td.check(); err != nil {
		return TypedData{}, err
	}
	return td, nil
}

// decodeObject reads a JSON object keeping numbers exact; absent or null
// is an empty object.
func decodeObject(b json.RawMessage) (map[string]any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// check validates the types: names, members and every referenced type.
func (td TypedData) check() error {
	if _, ok := td.Types[domainType]; !ok {
		return tdErr("types has no %s", domainType)
	}
	if td.PrimaryType == domainType {
		return tdErr("the primary type cannot be %s", domainType)
	}
	if _, ok := td.Types[td.PrimaryType]; !ok {
		return tdErr("primary type %q is not defined in types", td.PrimaryType)
	}
	for name, fields := range td.Types {
		if !structRe.MatchString(name) || isPrimitive(name) {
			return tdErr("%q is not a valid struct type name", name)
		}
		if fields == nil {
			return tdErr("type %s has no member list", name)
		}
		seen := map[string]bool{}
		for _, f := range fields {
			if !identRe.MatchString(f.Name) {
				return tdErr("type %s: %q is not a valid member name", name, f.Name)
			}
			if seen[f.Name] {
				return tdErr("type %s: member %s appears twice", name, f.Name)
			}
			seen[f.Name] = true
			base, _, err := splitArray(f.Type)
			if err != nil {
				return tdErr("type %s, member %s: %v", name, f.Name, err)
			}
			if !isPrimitive(base) {
				if _, ok := td.Types[base]; !ok {
					return tdErr("type %s, member %s: type %q is not defined", name, f.Name, f.Type)
				}
			}
		}
	}
	return nil
}

// splitArray splits "T[2][]" into T and its dimensions, outermost last
// (-1 for a dynamic one).
func splitArray(t string) (string, []int, error) {
	var dims []int
	for {
		m := dimRe.FindStringSubmatchIndex(t)
		if m == nil {
			break
		}
		n := -1
		if m[3] > m[2] {
			v, err := strconv.Atoi(t[m[2]:m[3]])
			if err != nil || v > 1<<20 {
				return "", nil, fmt.Errorf("bad array length in %q", t)
			}
			n = v
		}
		dims = append([]int{n}, dims...)
		t = t[:m[0]]
	}
	if strings.ContainsAny(t, "[]") || t == "" {
		return "", nil, fmt.Errorf("bad type %q", t)
	}
	return t, dims, nil
}

// isPrimitive reports an atomic or dynamic EIP-712 type: address, bool,
// string, bytes, bytes1…bytes32, int8…int256, uint8…uint256.
func isPrimitive(t string) bool {
	switch t {
	case "address", "bool", "string", "bytes":
		return true
	}
	if n, ok := strings.CutPrefix(t, "bytes"); ok {
		v, err := strconv.Atoi(n)
		return err == nil && v >= 1 && v <= 32 && strconv.Itoa(v) == n
	}
	n, ok := strings.CutPrefix(t, "uint")
	if !ok {
		n, ok = strings.CutPrefix(t, "int")
	}
	if ok {
		v, err := strconv.Atoi(n)
		return err == nil && v >= 8 && v <= 256 && v%8 == 0 && strconv.Itoa(v) == n
	}
	return false
}

// EncodeType is name(type1 member1,…) followed by the same for every
// struct it references, sorted by name.
func (td TypedData) EncodeType(name string) string {
	deps := map[string]bool{}
	td.deps(name, deps)
	delete(deps, name)
	rest := make([]string, 0, len(deps))
	for d := range deps {
		rest = append(rest, d)
	}
	slices.Sort(rest)
	var b strings.Builder
	for _, t := range append([]string{name}, rest...) {
		b.WriteString(t + "(")
		for i, f := range td.Types[t] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(f.Type + " " + f.Name)
		}
		b.WriteByte(')')
	}
	return b.String()
}

func (td TypedData) deps(name string, found map[string]bool) {
	if found[name] {
		return
	}
	if _, ok := td.Types[name]; !ok {
		return
	}
	found[name] = true
	for _, f := range td.Types[name] {
		base, _, _ := splitArray(f.Type)
		td.deps(base, found)
	}
}

// TypeHash is keccak(EncodeType(name)).
func (td TypedData) TypeHash(name string) []byte { return Keccak256([]byte(td.EncodeType(name))) }

// HashStruct is keccak(typeHash ‖ encodeData(data)).
func (td TypedData) HashStruct(name string, data map[string]any) ([]byte, error) {
	fields, ok := td.Types[name]
	if !ok {
		return nil, tdErr("type %q is not defined", name)
	}
	enc := td.TypeHash(name)
	for _, f := range fields {
		v, ok := data[f.Name]
		if !ok {
			return nil, tdErr("%s: member %s is missing", name, f.Name)
		}
		b, err := td.encodeValue(f.Type, v)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", name, f.Name, err)
		}
		enc = append(enc, b...)
	}
	if len(data) > len(fields) {
		for k := range data {
			if !slices.ContainsFunc(fields, func(f TypedField) bool { return f.Name == k }) {
				return nil, tdErr("%s has no member %q", name, k)
			}
		}
	}
	return Keccak256(enc), nil
}

// DomainSeparator is hashStruct(EIP712Domain, domain).
func (td TypedData) DomainSeparator() ([]byte, error) { return td.HashStruct(domainType, td.Domain) }

// Hash is the signing digest keccak(0x19 ‖ 0x01 ‖ domainSeparator ‖
// hashStruct(primaryType, message)).
func (td TypedData) Hash() ([]byte, error) {
	if err := td.check(); err != nil {
		return nil, err
	}
	ds, err := td.DomainSeparator()
	if err != nil {
		return nil, err
	}
	mh, err := td.HashStruct(td.PrimaryType, td.Message)
	if err != nil {
		return nil, err
	}
	return Keccak256([]byte{0x19, 0x01}, ds, mh), nil
}

// encodeValue is the 32-byte encoding of v as type t.
func (td TypedData) encodeValue(t string, v any) ([]byte, error) {
	base, dims, err := splitArray(t)
	if err != nil {
		return nil, tdErr("%v", err)
	}
	if len(dims) > 0 {
		items, ok := v.([]any)
		if !ok {
			return nil, tdErr("%s wants an array", t)
		}
		if n := dims[len(dims)-1]; n >= 0 && len(items) != n {
			return nil, tdErr("%s wants %d items, got %d", t, n, len(items))
		}
		elem := t[:strings.LastIndexByte(t, '[')]
		var enc []byte
		for i, it := range items {
			b, err := td.encodeValue(elem, it)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			enc = append(enc, b...)
		}
		return Keccak256(enc), nil
	}
	if _, ok := td.Types[base]; ok {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, tdErr("%s wants an object", t)
		}
		return td.HashStruct(base, m)
	}
	return encodePrimitive(base, v)
}

func encodePrimitive(t string, v any) ([]byte, error) {
	if !isPrimitive(t) {
		return nil, tdErr("unknown type %q", t)
	}
	switch t {
	case "address":
		s, ok := v.(string)
		if !ok {
			return nil, tdErr("address wants a string")
		}
		a, err := ParseAddress(s)
		if err != nil || !strings.HasPrefix(s, "0x") {
			return nil, tdErr("%q is not an 0x address", s)
		}
		return LeftPad32(a[:]), nil
	case "bool":
		b, ok := v.(bool)
		if !ok {
			return nil, tdErr("bool wants true or false")
		}
		if b {
			return LeftPad32([]byte{1}), nil
		}
		return make([]byte, 32), nil
	case "string":
		s, ok := v.(string)
		if !ok {
			return nil, tdErr("string wants a string")
		}
		return Keccak256([]byte(s)), nil
	}
	if n, ok := strings.CutPrefix(t, "bytes"); ok {
		b, err := hexBytes(v)
		if err != nil {
			return nil, err
		}
		if n == "" {
			return Keccak256(b), nil
		}
		size, _ := strconv.Atoi(n)
		if len(b) != size {
			return nil, tdErr("%s wants %d bytes, got %d", t, size, len(b))
		}
		out := make([]byte, 32)
		copy(out, b)
		return out, nil
	}
	signed := strings.HasPrefix(t, "int")
	bits, _ := strconv.Atoi(strings.TrimPrefix(strings.TrimPrefix(t, "u"), "int"))
	x, err := parseInt(v)
	if err != nil {
		return nil, err
	}
	lo, hi := new(big.Int), new(big.Int).Lsh(big.NewInt(1), uint(bits)) // [lo, hi)
	if signed {
		hi.Rsh(hi, 1)
		lo.Neg(hi)
	}
	if x.Cmp(lo) < 0 || x.Cmp(hi) >= 0 {
		return nil, tdErr("%s is out of range for %s", x, t)
	}
	if x.Sign() < 0 { // two's complement in 256 bits
		x.Add(x, new(big.Int).Lsh(big.NewInt(1), 256))
	}
	return LeftPad32(x.Bytes()), nil
}

// hexBytes reads a 0x-prefixed, even-length hex string.
func hexBytes(v any) ([]byte, error) {
	s, ok := v.(string)
	if !ok || !strings.HasPrefix(s, "0x") || len(s)%2 != 0 {
		return nil, tdErr("bytes want a 0x hex string")
	}
	b := FromHex(s)
	if b == nil && len(s) > 2 {
		return nil, tdErr("%q is not hex", s)
	}
	return b, nil
}

// maxExactJSON is 2^53: JSON numbers above it lose digits in most
// decoders, so such integers must come as strings.
var maxExactJSON = big.NewInt(1 << 53)

// parseInt reads an integer: a JSON integer up to 2^53, or a decimal or
// 0x-hex string.
func parseInt(v any) (*big.Int, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
		if !decRe.MatchString(s) {
			return nil, tdErr("integer %s must be written without a fraction or exponent", s)
		}
		n, _ := new(big.Int).SetString(s, 10)
		if new(big.Int).Abs(n).Cmp(maxExactJSON) > 0 {
			return nil, tdErr("integer %s is too large for a JSON number: give it as a string", s)
		}
		return n, nil
	case string:
		s = x
	default:
		return nil, tdErr("an integer wants a number or a string")
	}
	if len(s) > 80 { // 2^256 has 78 digits
		return nil, tdErr("integer %.20q… is too long", s)
	}
	var n *big.Int
	ok := false
	switch {
	case decRe.MatchString(s):
		n, ok = new(big.Int).SetString(s, 10)
	case hexIntRe.MatchString(s):
		n, ok = new(big.Int).SetString(s[2:], 16)
	}
	if !ok {
		return nil, tdErr("%q is not a decimal or 0x-hex integer", s)
	}
	return n, nil
}

// ChainID is the domain's chainId when it is a valid integer, else nil.
func (td TypedData) ChainID() *big.Int {
	v, ok := td.Domain["chainId"]
	if !ok {
		return nil
	}
	n, err := parseInt(v)
	if err != nil {
		return nil
	}
	return n
}

// DomainString is the domain's string member key, or "".
func (td TypedData) DomainString(key string) string {
	s, _ := td.Domain[key].(string)
	return s
}
