package wallettest

import (
	"context"
	"embed"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/wallet"
)

// The EIP-3009 test token: testdata/x402/TestUSDC.sol (OpenZeppelin's
// ERC3009, 6 decimals, EIP-712 domain "USD Coin" version "2" like
// Circle's USDC), compiled with npm solc by testtool.CompileSolidity.
//
//go:embed testdata/x402
var x402Src embed.FS

var usdc3009 struct {
	sync.Mutex
	abi abi.ABI
	bin []byte
}

// EIP3009Token compiles the token (testtool.CompileSolidity: once per
// machine, then from the build cache) and returns its ABI and creation
// code. Without node or the packages the test is skipped, or fails under
// SOV_REQUIRE_TOOLS=1.
func EIP3009Token(t testing.TB) (abi.ABI, []byte) {
	t.Helper()
	usdc3009.Lock()
	defer usdc3009.Unlock()
	if usdc3009.bin != nil {
		return usdc3009.abi, usdc3009.bin
	}
	src, err := x402Src.ReadFile("testdata/x402/TestUSDC.sol")
	if err != nil {
		t.Fatal(err)
	}
	c, ok := testtool.CompileSolidity(t, map[string][]byte{"TestUSDC.sol": src})["TestUSDC"]
	if !ok {
		t.Fatal("no TestUSDC in the compiled contracts")
	}
	a, err := abi.JSON(strings.NewReader(string(c.ABI)))
	if err != nil {
		t.Fatal(err)
	}
	usdc3009.abi, usdc3009.bin = a, common.FromHex(c.Bin)
	return usdc3009.abi, usdc3009.bin
}

// DeployEIP3009 deploys the EIP-3009 test token from the EVM account 0 of
// keys, which receives all of its 1,000,000 USDC, and returns its address.
func (an *Anvil) DeployEIP3009(t testing.TB, keys *wallet.Keys) string {
	t.Helper()
	tokABI, bin := EIP3009Token(t)
	args, err := tokABI.Pack("", big.NewInt(1_000_000_000_000))
	if err != nil {
		t.Fatal(err)
	}
	return an.send(t, keys, nil, append(append([]byte{}, bin...), args...)).ContractAddress.Hex()
}

// TransferToken sends amount base units of the ERC-20 token from the EVM
// account 0 of keys to addr and waits for it.
func (an *Anvil) TransferToken(t testing.TB, keys *wallet.Keys, token, addr string, amount *big.Int) {
	t.Helper()
	data := append(common.FromHex("0xa9059cbb"), common.LeftPadBytes(common.HexToAddress(addr).Bytes(), 32)...)
	data = append(data, common.LeftPadBytes(amount.Bytes(), 32)...)
	to := common.HexToAddress(token)
	if r := an.send(t, keys, &to, data); r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("token transfer to %s failed", addr)
	}
}

// send signs a transaction from keys' EVM account 0 and waits for it.
func (an *Anvil) send(t testing.TB, keys *wallet.Keys, to *common.Address, data []byte) *types.Receipt {
	t.Helper()
	pk, err := keys.EVMKey(0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	nonce, err := an.eth.PendingNonceAt(ctx, crypto.PubkeyToAddress(pk.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	chainID, err := an.eth.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx := types.NewTx(&types.DynamicFeeTx{ChainID: chainID, Nonce: nonce, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(1e11), Gas: 5_000_000, To: to, Data: data})
	signed, err := types.SignTx(tx, types.LatestSignerForChainID(chainID), pk)
	if err != nil {
		t.Fatal(err)
	}
	if err := an.eth.SendTransaction(ctx, signed); err != nil {
		t.Fatal(err)
	}
	return an.receipt(t, signed.Hash().Hex())
}
