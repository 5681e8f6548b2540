package wallet

import (
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/sovos/sov/wallet/internal/evm"
)

// ecKey is the secp256k1 private key of hex digits s (0x optional).
func ecKey(t *testing.T, s string) *ecdsa.PrivateKey {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != 32 {
		t.Fatalf("key %q", s)
	}
	k, _ := btcec.PrivKeyFromBytes(b)
	return k.ToECDSA()
}

func TestWalletEIP155Example(t *testing.T) {
	var f struct {
		EIP155 struct {
			Nonce       uint64 `json:"nonce"`
			GasPrice    string `json:"gas_price"`
			Gas         uint64 `json:"gas"`
			To          string `json:"to"`
			Value       string `json:"value"`
			PrivateKey  string `json:"private_key"`
			SigningHash string `json:"signing_hash"`
			Signed      string `json:"signed"`
		} `json:"eip155"`
		EIP191 struct{ Message, Hash string } `json:"eip191"`
	}
	readJSON(t, "eip155_191.json", &f)
	v := f.EIP155
	gp, _ := new(big.Int).SetString(v.GasPrice, 10)
	val, _ := new(big.Int).SetString(v.Value, 10)
	to := evm.HexToAddress(v.To)
	tx := &evm.Tx{Type: evm.LegacyTxType, ChainID: big.NewInt(1), Nonce: v.Nonce, GasPrice: gp, Gas: v.Gas, To: &to, Value: val}
	key := ecKey(t, v.PrivateKey)
	if h, err := tx.SigningHash(); err != nil || hex.EncodeToString(h[:]) != v.SigningHash {
		t.Fatalf("signing hash %x %v", h, err)
	}
	signed, err := signEVMTx(key, tx)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(signed.Raw) != v.Signed {
		t.Fatalf("signed tx %x", signed.Raw)
	}
	if hex.EncodeToString(PersonalHash([]byte(f.EIP191.Message))) != f.EIP191.Hash {
		t.Fatal("EIP-191 hash mismatch")
	}
	sig, err := personalSign(key, []byte(f.EIP191.Message))
	if err != nil || (sig[64] != 27 && sig[64] != 28) {
		t.Fatalf("personal_sign v=%d err=%v", sig[64], err)
	}
	addr, err := evm.RecoverAddress(PersonalHash([]byte(f.EIP191.Message)), sig)
	if err != nil || addr != evm.PubkeyToAddress(key.PublicKey) {
		t.Fatal("personal_sign does not recover the signer")
	}
}

func TestWalletEIP1559EthereumJSCases(t *testing.T) {
	var f struct {
		ChainID int64 `json:"chain_id"`
		Cases   []struct {
			Nonce, Value, GasLimit, MaxInclusionFeePerGas, MaxFeePerGas uint64
			To, PrivateKey, SignedTransactionRLP                        string
		}
	}
	readJSON(t, "eip1559.json", &f)
	if len(f.Cases) != 10 {
		t.Fatal("want 10 cases")
	}
	for i, c := range f.Cases {
		to := evm.HexToAddress(c.To)
		tx := &evm.Tx{
			Type: evm.DynamicFeeTxType, ChainID: big.NewInt(f.ChainID), Nonce: c.Nonce, GasTipCap: new(big.Int).SetUint64(c.MaxInclusionFeePerGas),
			GasFeeCap: new(big.Int).SetUint64(c.MaxFeePerGas), Gas: c.GasLimit, To: &to, Value: new(big.Int).SetUint64(c.Value),
		}
		signed, err := signEVMTx(ecKey(t, c.PrivateKey), tx)
		if err != nil {
			t.Fatal(err)
		}
		// the vector wraps the typed envelope in an RLP string header:
		// 0xb8, one length byte, then the transaction
		want := evm.FromHex(c.SignedTransactionRLP)
		if len(want) < 2 || want[0] != 0xb8 || int(want[1]) != len(want)-2 {
			t.Fatalf("case %d: unexpected vector framing", i)
		}
		if hex.EncodeToString(signed.Raw) != hex.EncodeToString(want[2:]) {
			t.Errorf("case %d: got %x", i, signed.Raw)
		}
	}
}

func TestWalletEIP712MailExample(t *testing.T) {
	var f struct {
		TypedData  json.RawMessage `json:"typed_data"`
		EncodeType string          `json:"encode_type"`
		TypeHash   string          `json:"type_hash"`
		StructHash string          `json:"struct_hash"`
		DomainHash string          `json:"domain_hash"`
		SignHash   string          `json:"sign_hash"`
		Address    string          `json:"address"`
		V          byte            `json:"v"`
		R, S       string
	}
	readJSON(t, "eip712_mail.json", &f)
	td, err := ParseTypedData(f.TypedData)
	if err != nil {
		t.Fatal(err)
	}
	if got := td.EncodeType("Mail"); got != f.EncodeType {
		t.Errorf("encodeType %s", got)
	}
	if got := td.TypeHash("Mail"); hex.EncodeToString(got) != f.TypeHash {
		t.Errorf("typeHash %x", got)
	}
	sh, err := td.HashStruct("Mail", td.Message)
	if err != nil || hex.EncodeToString(sh) != f.StructHash {
		t.Errorf("hashStruct %x %v", sh, err)
	}
	dh, err := td.DomainSeparator()
	if err != nil || hex.EncodeToString(dh) != f.DomainHash {
		t.Errorf("domain %x %v", dh, err)
	}
	h, err := TypedDataHash(td)
	if err != nil || hex.EncodeToString(h) != f.SignHash {
		t.Fatalf("sign hash %x %v", h, err)
	}
	key := ecKey(t, hex.EncodeToString(evm.Keccak256([]byte("cow"))))
	if strings.ToLower(evm.PubkeyToAddress(key.PublicKey).Hex()) != f.Address {
		t.Fatal("cow address")
	}
	sig, err := signTypedData(key, td)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(sig[:32]) != f.R || hex.EncodeToString(sig[32:64]) != f.S || sig[64] != f.V {
		t.Fatalf("signature %x", sig)
	}
}
