// Package wallettest holds the chain helpers wallet tests share, in the
// wallet package and in the CLI's: a real anvil node, the test ERC-20 and
// every secret form of a mnemonic's keys (for leak checks). The CLI's tests
// use it instead of go-ethereum.
package wallettest

import (
	"bufio"
	"context"
	"crypto/ed25519"
	_ "embed"
	"encoding/hex"
	"math/big"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/internal/seal"
	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/wallet"
)

// Abandon is the BIP39 test mnemonic whose account 0 the tests fund.
const Abandon = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

// The test ERC-20 (testdata/TestToken.sol, compiled).
var (
	//go:embed testdata/TestToken.bin
	tokenBin string
	//go:embed testdata/TestToken.abi
	tokenABI string
)

// Anvil is a real anvil node on 127.0.0.1 with a random port.
type Anvil struct {
	URL string
	rpc *rpc.Client
	eth *ethclient.Client
}

// StartAnvil starts anvil (skipping the test when it is not installed, see
// testtool.Need) and stops it when the test ends.
func StartAnvil(t testing.TB) *Anvil {
	t.Helper()
	bin := testtool.Need(t, "anvil")
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", "0", "--accounts", "1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	urlCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Listening on "); ok {
				urlCh <- "http://" + addr
			}
		}
	}()
	var url string
	select {
	case url = <-urlCh:
	case <-time.After(30 * time.Second):
		t.Fatal("anvil did not start")
	}
	c, err := rpc.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &Anvil{URL: url, rpc: c, eth: ethclient.NewClient(c)}
}

// Call makes a JSON-RPC call whose result is not needed (evm_mine,
// evm_setAutomine…).
func (an *Anvil) Call(t testing.TB, method string, args ...any) {
	t.Helper()
	if err := an.rpc.Call(nil, method, args...); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
}

// Fund sets addr's balance to ether ETH.
func (an *Anvil) Fund(t testing.TB, addr string, ether int64) {
	t.Helper()
	an.Call(t, "anvil_setBalance", common.HexToAddress(addr), hexutil.EncodeBig(new(big.Int).Mul(big.NewInt(ether), big.NewInt(1e18))))
}

// DeployToken deploys the test ERC-20 from the EVM account 0 of keys, which
// receives all of its 1,000,000 "USDC" (6 decimals), and returns its address.
func (an *Anvil) DeployToken(t testing.TB, keys *wallet.Keys) string {
	t.Helper()
	parsed, err := abi.JSON(strings.NewReader(tokenABI))
	if err != nil {
		t.Fatal(err)
	}
	args, err := parsed.Pack("", "USD Coin", "USDC", uint8(6), big.NewInt(1_000_000_000_000))
	if err != nil {
		t.Fatal(err)
	}
	return an.send(t, keys, nil, append(common.FromHex(strings.TrimSpace(tokenBin)), args...)).ContractAddress.Hex()
}

func (an *Anvil) receipt(t testing.TB, hash string) *types.Receipt {
	t.Helper()
	for range 100 {
		if r, err := an.eth.TransactionReceipt(context.Background(), common.HexToHash(hash)); err == nil {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no receipt for %s", hash)
	return nil
}

// Succeeded waits up to ten seconds for hash to be mined and reports
// whether it succeeded.
func (an *Anvil) Succeeded(t testing.TB, hash string) bool {
	t.Helper()
	return an.receipt(t, hash).Status == types.ReceiptStatusSuccessful
}

// Mined reports whether hash is mined now.
func (an *Anvil) Mined(hash string) bool {
	_, err := an.eth.TransactionReceipt(context.Background(), common.HexToHash(hash))
	return err == nil
}

// Balance is addr's ETH balance in wei.
func (an *Anvil) Balance(t testing.TB, addr string) *big.Int {
	t.Helper()
	b, err := an.eth.BalanceAt(context.Background(), common.HexToAddress(addr), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TokenBalance is owner's balance of the ERC-20 token, in atomic units.
func (an *Anvil) TokenBalance(t testing.TB, token, owner string) *big.Int {
	t.Helper()
	to := common.HexToAddress(token)
	data := append(common.FromHex("0x70a08231"), common.LeftPadBytes(common.HexToAddress(owner).Bytes(), 32)...)
	out, err := an.eth.CallContract(context.Background(), ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return new(big.Int).SetBytes(out)
}

// Secrets lists every secret form of the mnemonic's account-0 keys (the
// mnemonic, parts of it, the seed, each private key in its usual
// encodings), for tests that prove none of them reaches a file or output.
func Secrets(t testing.TB, mnemonic string) []string {
	t.Helper()
	seed, err := wallet.SeedFromMnemonic(mnemonic, "")
	if err != nil {
		t.Fatal(err)
	}
	k := wallet.NewKeys(seed)
	defer k.Wipe()
	out := []string{mnemonic, hex.EncodeToString(seed)}
	words := strings.Fields(mnemonic)
	out = append(out, strings.Join(words[:4], " "), strings.Join(words[len(words)-4:], " "))
	ek, _ := k.EVMKey(0)
	out = append(out, hex.EncodeToString(crypto.FromECDSA(ek)))
	bk, _ := k.BitcoinKey(wallet.BitcoinMainnet, 0, 0, 0)
	wif, _ := btcutil.NewWIF(bk, &chaincfg.MainNetParams, true)
	out = append(out, wif.String(), hex.EncodeToString(bk.Serialize()))
	sk, _ := k.SolanaKey(0)
	out = append(out, hex.EncodeToString(sk.Seed()), wallet.NEARSecretKey(sk))
	nk, _ := k.NEARKey(0)
	out = append(out, wallet.NEARSecretKey(nk), hex.EncodeToString(ed25519.PrivateKey(nk).Seed()))
	nos, _ := k.NostrKey(0)
	out = append(out, nos.Nsec(), hex.EncodeToString(nos.Private.Serialize()))
	return out
}

// Pass is the passphrase of AnvilWallet's wallet.
const Pass = "pw"

// AnvilWallet is a wallet in a temporary directory, with its own ledger,
// holding the Abandon mnemonic sealed under Pass (a fast KDF), whose EVM
// account is funded with 10 ETH on a running anvil node that also carries
// the test token. Networks is the one network "anvil", with the token as
// its USDC.
type AnvilWallet struct {
	Anvil    *Anvil
	Wallet   *wallet.Wallet
	Ledger   *ledger.Ledger
	Keys     *wallet.Keys
	Me       wallet.Accounts
	Token    string
	Networks []wallet.Network
}

// NewAnvilWallet starts anvil and makes the wallet.
func NewAnvilWallet(t testing.TB) *AnvilWallet {
	t.Helper()
	a := &AnvilWallet{Anvil: StartAnvil(t), Ledger: ledger.Open(t.TempDir())}
	seed, _ := wallet.SeedFromMnemonic(Abandon, "")
	a.Keys = wallet.NewKeys(seed)
	t.Cleanup(a.Keys.Wipe)
	a.Me, _ = a.Keys.Accounts(0)
	a.Anvil.Fund(t, a.Me.EVM, 10)
	a.Token = a.Anvil.DeployToken(t, a.Keys)
	a.Wallet = wallet.New(t.TempDir(), wallet.WithLedger(a.Ledger), wallet.WithStoreOptions(wallet.WithKDF(func() (seal.KDF, error) { return seal.FastKDF(), nil })))
	if _, err := a.Wallet.Store().Create(Abandon, "", []byte(Pass), false); err != nil {
		t.Fatal(err)
	}
	var cfg wallet.Config
	if err := cfg.AddRPC(context.Background(), wallet.NetworkConfig{Name: "anvil", RPC: []string{a.Anvil.URL}, USDC: a.Token}); err != nil {
		t.Fatal(err)
	}
	all, err := cfg.All()
	if err != nil {
		t.Fatal(err)
	}
	net, ok := wallet.FindNetwork(all, "anvil")
	if !ok {
		t.Fatal("no anvil network")
	}
	a.Networks = []wallet.Network{net}
	return a
}

// Unlock unlocks the wallet with Pass.
func (a *AnvilWallet) Unlock() wallet.Unlocker {
	return a.Wallet.Store().Unlocker(func() ([]byte, error) { return []byte(Pass), nil })
}
