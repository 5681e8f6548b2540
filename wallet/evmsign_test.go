package wallet

import (
	"encoding/hex"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
)

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
	to := common.HexToAddress(v.To)
	tx := types.NewTx(&types.LegacyTx{Nonce: v.Nonce, GasPrice: gp, Gas: v.Gas, To: &to, Value: val})
	key, err := crypto.HexToECDSA(v.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	signer := types.NewEIP155Signer(big.NewInt(1))
	if h := signer.Hash(tx); hex.EncodeToString(h[:]) != v.SigningHash {
		t.Fatalf("signing hash %x", h)
	}
	signed, err := signEVMTx(key, tx, big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := signed.MarshalBinary()
	if hex.EncodeToString(raw) != v.Signed {
		t.Fatalf("signed tx %x", raw)
	}
	if hex.EncodeToString(PersonalHash([]byte(f.EIP191.Message))) != f.EIP191.Hash {
		t.Fatal("EIP-191 hash mismatch")
	}
	sig, err := personalSign(key, []byte(f.EIP191.Message))
	if err != nil || (sig[64] != 27 && sig[64] != 28) {
		t.Fatalf("personal_sign v=%d err=%v", sig[64], err)
	}
	sig[64] -= 27
	pub, err := crypto.SigToPub(PersonalHash([]byte(f.EIP191.Message)), sig)
	if err != nil || crypto.PubkeyToAddress(*pub) != crypto.PubkeyToAddress(key.PublicKey) {
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
		key, err := crypto.HexToECDSA(strings.TrimPrefix(c.PrivateKey, "0x"))
		if err != nil {
			t.Fatal(err)
		}
		to := common.HexToAddress(c.To)
		tx := types.NewTx(&types.DynamicFeeTx{
			ChainID: big.NewInt(f.ChainID), Nonce: c.Nonce, GasTipCap: new(big.Int).SetUint64(c.MaxInclusionFeePerGas),
			GasFeeCap: new(big.Int).SetUint64(c.MaxFeePerGas), Gas: c.GasLimit, To: &to, Value: new(big.Int).SetUint64(c.Value),
		})
		signed, err := signEVMTx(key, tx, big.NewInt(f.ChainID))
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		if err := rlp.DecodeBytes(common.FromHex(c.SignedTransactionRLP), &want); err != nil {
			t.Fatal(err)
		}
		got, _ := signed.MarshalBinary()
		if hex.EncodeToString(got) != hex.EncodeToString(want) {
			t.Errorf("case %d: got %x", i, got)
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
	if got := td.EncodeType("Mail"); string(got) != f.EncodeType {
		t.Errorf("encodeType %s", got)
	}
	if got := td.TypeHash("Mail"); hex.EncodeToString(got) != f.TypeHash {
		t.Errorf("typeHash %x", got)
	}
	sh, err := td.HashStruct("Mail", td.Message)
	if err != nil || hex.EncodeToString(sh) != f.StructHash {
		t.Errorf("hashStruct %x %v", sh, err)
	}
	dh, err := td.HashStruct("EIP712Domain", td.Domain.Map())
	if err != nil || hex.EncodeToString(dh) != f.DomainHash {
		t.Errorf("domain %x %v", dh, err)
	}
	h, err := TypedDataHash(td)
	if err != nil || hex.EncodeToString(h) != f.SignHash {
		t.Fatalf("sign hash %x %v", h, err)
	}
	key := crypto.ToECDSAUnsafe(crypto.Keccak256([]byte("cow")))
	if strings.ToLower(crypto.PubkeyToAddress(key.PublicKey).Hex()) != f.Address {
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
