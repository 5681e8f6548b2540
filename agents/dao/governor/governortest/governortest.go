// Package governortest deploys a real OpenZeppelin v5 Governor and its
// ERC20Votes token on anvil, for the Governor source's tests and for the
// DAO delegate's end-to-end tests: contracts/*.sol compiled with npm solc
// and @openzeppelin/contracts (scripts/deps.d/node.sh) by
// testtool.CompileSolidity, cached in the build cache. Like wallettest it uses go-ethereum,
// which sov's own code does not.
package governortest

import (
	"context"
	"crypto/ecdsa"
	"embed"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/wallet"
	"github.com/sovos/sov/wallet/wallettest"
)

//go:embed contracts
var contracts embed.FS

// Artifact is one compiled contract.
type Artifact struct {
	ABI abi.ABI
	Bin []byte
}

var compiled struct {
	sync.Mutex
	arts map[string]Artifact
}

// Artifacts compiles contracts/*.sol (testtool.CompileSolidity: once per
// machine, then from the build cache).
func Artifacts(t testing.TB) map[string]Artifact {
	t.Helper()
	compiled.Lock()
	defer compiled.Unlock()
	if compiled.arts != nil {
		return compiled.arts
	}
	entries, err := contracts.ReadDir("contracts")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		b, err := contracts.ReadFile("contracts/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	arts := map[string]Artifact{}
	for name, c := range testtool.CompileSolidity(t, files) {
		a, err := abi.JSON(strings.NewReader(string(c.ABI)))
		if err != nil {
			t.Fatalf("%s ABI: %v", name, err)
		}
		arts[name] = Artifact{ABI: a, Bin: common.FromHex(c.Bin)}
	}
	for _, want := range []string{"GovToken", "TestGovernor", "BravoLike"} {
		if _, ok := arts[want]; !ok {
			t.Fatalf("compiled artifacts lack %s", want)
		}
	}
	compiled.arts = arts
	return arts
}

// Chain is an anvil-backed wallet (wallettest.AnvilWallet) plus a raw
// client for the test's own transactions: deploying, delegating,
// proposing, relaying.
type Chain struct {
	T       testing.TB
	Wallet  *wallettest.AnvilWallet
	Eth     *ethclient.Client
	ChainID *big.Int
	Arts    map[string]Artifact
}

// NewChain compiles the contracts (or reads them from the cache) and
// starts a wallet on a fresh anvil.
func NewChain(t testing.TB) *Chain {
	t.Helper()
	arts := Artifacts(t)
	return On(t, wallettest.NewAnvilWallet(t), arts)
}

// On uses an existing anvil wallet (an end-to-end test's own).
func On(t testing.TB, aw *wallettest.AnvilWallet, arts map[string]Artifact) *Chain {
	t.Helper()
	eth, err := ethclient.Dial(aw.Anvil.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eth.Close)
	id, err := eth.ChainID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &Chain{T: t, Wallet: aw, Eth: eth, ChainID: id, Arts: arts}
}

// Key is the wallet's EVM key at index i, funded with 10 ETH.
func (c *Chain) Key(i uint32) *ecdsa.PrivateKey {
	c.T.Helper()
	k, err := c.Wallet.Keys.EVMKey(i)
	if err != nil {
		c.T.Fatal(err)
	}
	c.Wallet.Anvil.Fund(c.T, crypto.PubkeyToAddress(k.PublicKey).Hex(), 10)
	return k
}

// Send signs and sends a transaction from key (to nil: a deployment) and
// waits for its receipt; an error or a revert fails the test.
func (c *Chain) Send(key *ecdsa.PrivateKey, to *common.Address, data []byte) *types.Receipt {
	c.T.Helper()
	r, err := c.TrySend(key, to, data)
	if err != nil {
		c.T.Fatal(err)
	}
	return r
}

// TrySend is Send returning the error (a revert is an error too).
func (c *Chain) TrySend(key *ecdsa.PrivateKey, to *common.Address, data []byte) (*types.Receipt, error) {
	ctx := context.Background()
	from := crypto.PubkeyToAddress(key.PublicKey)
	nonce, err := c.Eth.PendingNonceAt(ctx, from)
	if err != nil {
		return nil, err
	}
	gas := uint64(8_000_000)
	if to != nil {
		if gas, err = c.Eth.EstimateGas(ctx, ethereum.CallMsg{From: from, To: to, Data: data}); err != nil {
			return nil, err
		}
		gas += gas / 5
	}
	tx := types.NewTx(&types.DynamicFeeTx{ChainID: c.ChainID, Nonce: nonce, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(1e11), Gas: gas, To: to, Data: data})
	signed, err := types.SignTx(tx, types.LatestSignerForChainID(c.ChainID), key)
	if err != nil {
		return nil, err
	}
	if err := c.Eth.SendTransaction(ctx, signed); err != nil {
		return nil, err
	}
	for range 200 {
		if r, err := c.Eth.TransactionReceipt(ctx, signed.Hash()); err == nil {
			if r.Status != types.ReceiptStatusSuccessful {
				return r, fmt.Errorf("transaction %s reverted", signed.Hash().Hex())
			}
			return r, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("no receipt for %s", signed.Hash().Hex())
}

// Deploy deploys a compiled contract with constructor args.
func (c *Chain) Deploy(key *ecdsa.PrivateKey, name string, args ...any) common.Address {
	c.T.Helper()
	a := c.Arts[name]
	packed, err := a.ABI.Pack("", args...)
	if err != nil {
		c.T.Fatal(err)
	}
	return c.Send(key, nil, append(append([]byte(nil), a.Bin...), packed...)).ContractAddress
}

// Invoke calls a contract's method as a transaction from key.
func (c *Chain) Invoke(key *ecdsa.PrivateKey, name string, at common.Address, method string, args ...any) *types.Receipt {
	c.T.Helper()
	data, err := c.Arts[name].ABI.Pack(method, args...)
	if err != nil {
		c.T.Fatal(err)
	}
	return c.Send(key, &at, data)
}

// View calls a contract's view method and unpacks its results.
func (c *Chain) View(name string, at common.Address, method string, args ...any) []any {
	c.T.Helper()
	a := c.Arts[name].ABI
	data, err := a.Pack(method, args...)
	if err != nil {
		c.T.Fatal(err)
	}
	out, err := c.Eth.CallContract(context.Background(), ethereum.CallMsg{To: &at, Data: data}, nil)
	if err != nil {
		c.T.Fatalf("%s: %v", method, err)
	}
	res, err := a.Unpack(method, out)
	if err != nil {
		c.T.Fatalf("%s: %v", method, err)
	}
	return res
}

// Advance moves the chain on by n blocks and n×12 seconds.
func (c *Chain) Advance(n int) {
	c.T.Helper()
	c.Wallet.Anvil.Call(c.T, "evm_increaseTime", n*12)
	for range n {
		c.Wallet.Anvil.Call(c.T, "evm_mine")
	}
}

// DAO is a deployed token and Governor.
type DAO struct {
	Token, Governor common.Address
	// CAIP10 names the Governor as a policy does: eip155:CHAIN:0xADDRESS.
	CAIP10   string
	Proposer *ecdsa.PrivateKey
}

// Delay and Period are TestGovernor's voting delay and period in blocks
// (a timestamp-clock DAO: 12 times as many seconds, Advance's pace).
const (
	Delay  = 2
	Period = 20
)

// DeployDAO deploys GovToken (its clock by timestamp or block number)
// and TestGovernor (see Delay, Period) from the wallet's account 0,
// which holds the 1,000,000 GOV minted; each of voters other than it gets
// 100,000, and every holder delegates to itself. One block later the
// votes count.
func (c *Chain) DeployDAO(timestamp bool, voters ...*ecdsa.PrivateKey) DAO {
	c.T.Helper()
	owner := c.Key(0)
	token := c.Deploy(owner, "GovToken", timestamp)
	delay, period := uint64(Delay), uint32(Period)
	if timestamp {
		delay, period = 12*Delay, 12*Period
	}
	gov := c.Deploy(owner, "TestGovernor", token, new(big.Int).SetUint64(delay), period)
	c.Invoke(owner, "GovToken", token, "delegate", crypto.PubkeyToAddress(owner.PublicKey))
	for _, v := range voters {
		addr := crypto.PubkeyToAddress(v.PublicKey)
		if addr != crypto.PubkeyToAddress(owner.PublicKey) {
			c.Invoke(owner, "GovToken", token, "transfer", addr, new(big.Int).Mul(big.NewInt(100_000), big.NewInt(1e18)))
		}
		c.Invoke(v, "GovToken", token, "delegate", addr)
	}
	c.Advance(1)
	return DAO{Token: token, Governor: gov, CAIP10: fmt.Sprintf("eip155:%s:%s", c.ChainID, gov.Hex()), Proposer: owner}
}

// Propose makes a proposal (a no-op call of the token) and returns its
// id; it opens for votes after Delay blocks (Advance(Delay+1)).
func (c *Chain) Propose(d DAO, desc string) *big.Int {
	c.T.Helper()
	r := c.Invoke(d.Proposer, "TestGovernor", d.Governor, "propose", []common.Address{d.Token}, []*big.Int{big.NewInt(0)}, [][]byte{{}}, desc)
	ev := c.Arts["TestGovernor"].ABI.Events["ProposalCreated"]
	for _, l := range r.Logs {
		if l.Topics[0] == ev.ID {
			vals, err := ev.Inputs.Unpack(l.Data)
			if err != nil {
				c.T.Fatal(err)
			}
			return vals[0].(*big.Int)
		}
	}
	c.T.Fatal("no ProposalCreated")
	return nil
}

// KeySender sends contract calls from Key, a raw key: a test's stand-in
// for the wallet's contract-call send path, and a relayer of signed
// ballots. It has governor.Sender's methods; Calls records every call
// asked for, sent or not.
type KeySender struct {
	Chain *Chain
	Key   *ecdsa.PrivateKey
	Calls []SentCall
}

// SentCall is one call a KeySender was asked to send.
type SentCall struct {
	Network wallet.Network
	To      wallet.EVMAddress
	Data    []byte
	Summary string
}

// From is Key's address.
func (k *KeySender) From() wallet.EVMAddress {
	return wallet.EVMAddress(crypto.PubkeyToAddress(k.Key.PublicKey))
}

// SendCall sends data to to and waits for it to be mined; a revert is an
// error.
func (k *KeySender) SendCall(_ context.Context, net wallet.Network, to wallet.EVMAddress, data []byte, summary string) (wallet.EVMHash, error) {
	k.Calls = append(k.Calls, SentCall{Network: net, To: to, Data: data, Summary: summary})
	addr := common.Address(to)
	r, err := k.Chain.TrySend(k.Key, &addr, data)
	if err != nil {
		return wallet.EVMHash{}, err
	}
	return wallet.EVMHash(r.TxHash), nil
}
