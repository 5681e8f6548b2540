package evm

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// go-ethereum is the oracle here: an independent implementation of the
// same encodings, so random inputs must give byte-identical results.

func testKey(b []byte) *ecdsa.PrivateKey { return secp256k1.PrivKeyFromBytes(b).ToECDSA() }

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

// randBig is 0 to 2^bits-1 with its size drawn first, so short and long
// encodings both come up.
func randBig(r *rand.Rand, bits int) *big.Int {
	return new(big.Int).SetBytes(randBytes(r, r.IntN(bits/8+1)))
}

func randKey(r *rand.Rand) *ecdsa.PrivateKey {
	for {
		b := randBytes(r, 32)
		if new(big.Int).SetBytes(b).Cmp(secp256k1.S256().N) < 0 && new(big.Int).SetBytes(b).Sign() > 0 {
			return testKey(b)
		}
	}
}

func TestRLPMatchesGoEthereum(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := randBytes(r, []int{0, 1, 2, 55, 56, 300, 70000}[r.IntN(7)])
		if r.IntN(4) == 0 && len(b) > 0 {
			b[0] = byte(r.UintN(0x90))
		}
		want, _ := rlp.EncodeToBytes(b)
		if got := rlpString(b); !bytes.Equal(got, want) {
			t.Fatalf("string %x: %x, want %x", b, got, want)
		}
		n := r.Uint64() >> r.UintN(64)
		want, _ = rlp.EncodeToBytes(n)
		if got := rlpUint(n); !bytes.Equal(got, want) {
			t.Fatalf("uint %d: %x, want %x", n, got, want)
		}
		x := randBig(r, 256)
		want, _ = rlp.EncodeToBytes(x)
		if got := rlpBig(x); !bytes.Equal(got, want) {
			t.Fatalf("big %s: %x, want %x", x, got, want)
		}
		list := make([][]byte, r.IntN(40))
		var items []any
		for i := range list {
			s := randBytes(r, r.IntN(8))
			list[i], items = rlpString(s), append(items, s)
		}
		want, _ = rlp.EncodeToBytes(items)
		if got := rlpList(list...); !bytes.Equal(got, want) {
			t.Fatalf("list: %x, want %x", got, want)
		}
	}
}

func TestAddressAndSignaturesMatchGoEthereum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		a := Address(randBytes(r, 20))
		if a.Hex() != common.Address(a).Hex() {
			t.Fatalf("%x: %s, want %s", a[:], a.Hex(), common.Address(a).Hex())
		}
		key := randKey(r)
		if PubkeyToAddress(key.PublicKey) != Address(crypto.PubkeyToAddress(key.PublicKey)) {
			t.Fatal("address of a key differs")
		}
		digest := randBytes(r, 32)
		sig, err := Sign(digest, key)
		if err != nil {
			t.Fatal(err)
		}
		want, err := crypto.Sign(digest, key)
		if err != nil || !bytes.Equal(sig, want) {
			t.Fatalf("signature %x, want %x", sig, want)
		}
		got, err := RecoverAddress(digest, sig)
		pub, _ := crypto.SigToPub(digest, sig)
		if err != nil || got != Address(crypto.PubkeyToAddress(*pub)) || got != PubkeyToAddress(key.PublicKey) {
			t.Fatalf("recovered %s %v", got.Hex(), err)
		}
		msg := randBytes(r, r.IntN(200))
		if !bytes.Equal(TextHash(msg), accounts.TextHash(msg)) {
			t.Fatalf("text hash of %x", msg)
		}
	}
	if _, err := Sign(make([]byte, 32), testKey(make([]byte, 32))); err == nil {
		t.Fatal("signed with the zero key")
	}
	if _, err := RecoverAddress(make([]byte, 32), make([]byte, 65)); err == nil {
		t.Fatal("recovered from a zero signature")
	}
}

func TestTransactionsMatchGoEthereum(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 500 {
		key := randKey(r)
		chainID := []*big.Int{big.NewInt(1), big.NewInt(1337), big.NewInt(8453), randBig(r, 64), new(big.Int).Add(randBig(r, 64), big.NewInt(1))}[r.IntN(5)]
		if chainID.Sign() == 0 {
			chainID = big.NewInt(10)
		}
		var to *Address
		if r.IntN(5) > 0 {
			a := Address(randBytes(r, 20))
			to = &a
		}
		data := randBytes(r, []int{0, 1, 36, 68, 300, 5000}[r.IntN(6)])
		tx := &Tx{ChainID: chainID, Nonce: r.Uint64() >> r.UintN(64), Gas: r.Uint64() >> r.UintN(64), To: to, Value: randBig(r, 256), Data: data}
		var gtx *types.Transaction
		gto := (*common.Address)(to)
		if i%2 == 0 {
			tx.Type, tx.GasPrice = LegacyTxType, randBig(r, 128)
			gtx = types.NewTx(&types.LegacyTx{Nonce: tx.Nonce, GasPrice: tx.GasPrice, Gas: tx.Gas, To: gto, Value: tx.Value, Data: data})
		} else {
			tx.Type, tx.GasTipCap, tx.GasFeeCap = DynamicFeeTxType, randBig(r, 128), randBig(r, 256)
			gtx = types.NewTx(&types.DynamicFeeTx{ChainID: chainID, Nonce: tx.Nonce, GasTipCap: tx.GasTipCap, GasFeeCap: tx.GasFeeCap, Gas: tx.Gas, To: gto, Value: tx.Value, Data: data})
		}
		signer := types.LatestSignerForChainID(chainID)
		h, err := tx.SigningHash()
		if err != nil || h != Hash(signer.Hash(gtx)) {
			t.Fatalf("tx %d: signing hash %x, want %x (%v)", i, h, signer.Hash(gtx), err)
		}
		signed, err := tx.Sign(key)
		if err != nil {
			t.Fatal(err)
		}
		gs, err := types.SignTx(gtx, signer, key)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := gs.MarshalBinary()
		if !bytes.Equal(signed.Raw, want) || signed.Hash != Hash(gs.Hash()) {
			t.Fatalf("tx %d (type %d): %x\nwant %x", i, tx.Type, signed.Raw, want)
		}
		// and go-ethereum decodes ours to the same sender
		var back types.Transaction
		if err := back.UnmarshalBinary(signed.Raw); err != nil {
			t.Fatal(err)
		}
		from, err := types.Sender(signer, &back)
		if err != nil || Address(from) != PubkeyToAddress(key.PublicKey) {
			t.Fatalf("tx %d: sender %s %v", i, from.Hex(), err)
		}
	}
	if _, err := (&Tx{Type: DynamicFeeTxType}).Sign(randKey(r)); err == nil {
		t.Fatal("signed without a chain id")
	}
	if _, err := (&Tx{Type: 1, ChainID: big.NewInt(1)}).Sign(randKey(r)); err == nil {
		t.Fatal("signed an access-list transaction it cannot encode")
	}
}

// randTypedData builds a random valid EIP-712 document: a few struct
// types (each may use the ones after it), every primitive kind, dynamic,
// fixed and nested arrays, and values in every accepted spelling.
func randTypedData(r *rand.Rand) string {
	n := 1 + r.IntN(4)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("S%c%d", 'A'+r.IntN(26), i)
	}
	types := map[string][]TypedField{}
	for i := n - 1; i >= 0; i-- {
		fields := []TypedField{}
		for j := range r.IntN(5) {
			typ := randPrimitive(r)
			if i+1 < n && r.IntN(3) == 0 {
				typ = names[i+1+r.IntN(n-i-1)]
			}
			for range r.IntN(3) {
				if r.IntN(2) == 0 {
					typ += "[]"
				} else {
					typ += fmt.Sprintf("[%d]", r.IntN(3))
				}
			}
			fields = append(fields, TypedField{Name: fmt.Sprintf("f%d_%c", j, 'a'+r.IntN(26)), Type: typ})
		}
		types[names[i]] = fields
	}
	domain := map[string]any{"name": "Dom" + fmt.Sprint(r.IntN(100))}
	types["EIP712Domain"] = []TypedField{{"name", "string"}}
	if r.IntN(2) == 0 {
		types["EIP712Domain"] = append(types["EIP712Domain"], TypedField{"chainId", "uint256"})
		domain["chainId"] = randInt(r, "uint256")
	}
	if r.IntN(2) == 0 {
		types["EIP712Domain"] = append(types["EIP712Domain"], TypedField{"verifyingContract", "address"})
		domain["verifyingContract"] = randValue(r, types, "address")
	}
	if r.IntN(2) == 0 {
		types["EIP712Domain"] = append(types["EIP712Domain"], TypedField{"salt", "bytes32"})
		domain["salt"] = randValue(r, types, "bytes32")
	}
	doc := map[string]any{"types": types, "primaryType": names[0], "domain": domain, "message": randValue(r, types, names[0])}
	b, _ := json.Marshal(doc)
	return string(b)
}

func randPrimitive(r *rand.Rand) string {
	switch r.IntN(7) {
	case 0:
		return "address"
	case 1:
		return "bool"
	case 2:
		return "string"
	case 3:
		return "bytes"
	case 4:
		return fmt.Sprintf("bytes%d", 1+r.IntN(32))
	case 5:
		return fmt.Sprintf("int%d", 8*(1+r.IntN(32)))
	}
	return fmt.Sprintf("uint%d", 8*(1+r.IntN(32)))
}

func randValue(r *rand.Rand, types map[string][]TypedField, typ string) any {
	if i := strings.LastIndexByte(typ, '['); i >= 0 {
		n := r.IntN(4)
		if l := typ[i+1 : len(typ)-1]; l != "" {
			fmt.Sscan(l, &n)
		}
		out := []any{}
		for range n {
			out = append(out, randValue(r, types, typ[:i]))
		}
		return out
	}
	if fields, ok := types[typ]; ok {
		m := map[string]any{}
		for _, f := range fields {
			m[f.Name] = randValue(r, types, f.Type)
		}
		return m
	}
	switch {
	case typ == "address":
		a := Address(randBytes(r, 20))
		if r.IntN(2) == 0 {
			return a.Hex()
		}
		return strings.ToLower(a.Hex())
	case typ == "bool":
		return r.IntN(2) == 0
	case typ == "string":
		return []string{"", "hello", "ünïcödé ✓", "with \"quotes\" and \\ and \n", string(randBytes(r, 10))}[r.IntN(5)]
	case typ == "bytes":
		return "0x" + hex.EncodeToString(randBytes(r, r.IntN(70)))
	case strings.HasPrefix(typ, "bytes"):
		var n int
		fmt.Sscan(typ[5:], &n)
		return "0x" + hex.EncodeToString(randBytes(r, n))
	}
	return randInt(r, typ)
}

// randInt is an in-range integer for typ as a JSON number, a decimal
// string or a hex string.
func randInt(r *rand.Rand, typ string) any {
	var bits int
	fmt.Sscan(strings.TrimPrefix(strings.TrimPrefix(typ, "u"), "int"), &bits)
	signed := strings.HasPrefix(typ, "int")
	mag := bits
	if signed {
		mag--
	}
	x := new(big.Int).Rsh(new(big.Int).SetBytes(randBytes(r, 32)), uint(256-r.IntN(mag+1)))
	if signed && r.IntN(2) == 0 {
		x.Neg(x) // down to -2^(bits-1)+1; the edge case has its own test
	}
	switch {
	case x.IsInt64() && x.Int64() < 1<<53 && x.Int64() > -(1<<53) && r.IntN(2) == 0:
		return json.Number(x.String())
	case x.Sign() >= 0 && r.IntN(2) == 0:
		return "0x" + x.Text(16)
	}
	return x.String()
}

func TestTypedDataMatchesGoEthereum(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 1000 {
		doc := randTypedData(r)
		td, err := ParseTypedData([]byte(doc))
		if err != nil {
			t.Fatalf("doc %d: %v\n%s", i, err, doc)
		}
		got, err := td.Hash()
		if err != nil {
			t.Fatalf("doc %d: %v\n%s", i, err, doc)
		}
		var gtd apitypes.TypedData
		if err := json.Unmarshal([]byte(doc), &gtd); err != nil {
			t.Fatal(err)
		}
		want, _, err := apitypes.TypedDataAndHash(gtd)
		if err != nil {
			t.Fatalf("doc %d: go-ethereum: %v\n%s", i, err, doc)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("doc %d: %x, want %x\n%s", i, got, want, doc)
		}
		if td.EncodeType(td.PrimaryType) != string(gtd.EncodeType(td.PrimaryType)) {
			t.Fatalf("doc %d: encodeType %s", i, td.EncodeType(td.PrimaryType))
		}
	}
}
