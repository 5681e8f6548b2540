package governor

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"sort"
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

// The test harness: OpenZeppelin v5 contracts compiled with npm solc (both
// from scripts/deps.d/node.sh) by testdata/compile.mjs, cached in the
// build cache under the hash of everything that goes into them, and
// deployed on a real anvil.

// artifact is one compiled contract.
type artifact struct {
	ABI abi.ABI
	Bin []byte
}

var compiled struct {
	sync.Mutex
	arts map[string]artifact
}

// artifacts compiles testdata/*.sol once per cache key (the sources, the
// script, the solc and OpenZeppelin versions installed); a later run reads
// the cached JSON.
func artifacts(t *testing.T) map[string]artifact {
	t.Helper()
	compiled.Lock()
	defer compiled.Unlock()
	if compiled.arts != nil {
		return compiled.arts
	}
	nodeDir := testtool.NodeClients(t)
	src, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(src, "compile.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	h.Write(script)
	names, _ := filepath.Glob(filepath.Join(src, "*.sol"))
	sort.Strings(names)
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(filepath.Base(n)))
		h.Write(b)
	}
	for _, pkg := range []string{"solc", "@openzeppelin/contracts"} {
		b, err := os.ReadFile(filepath.Join(nodeDir, "node_modules", pkg, "package.json"))
		if err != nil {
			msg := pkg + " is not installed: run `bash scripts/deps.d/node.sh` (or `make deps`)"
			if os.Getenv("SOV_REQUIRE_TOOLS") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		h.Write(b)
	}
	cache := filepath.Join(testtool.BuildCache(), "governor-artifacts", hex.EncodeToString(h.Sum(nil))[:16]+".json")
	out, err := os.ReadFile(cache)
	if err != nil {
		out = testtool.RunNode(t, string(script), 5*time.Minute, nil, src)
		if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
			t.Fatal(err)
		}
		tmp := cache + ".tmp" + hex.EncodeToString(h.Sum(nil))[:4]
		if err := os.WriteFile(tmp, out, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, cache); err != nil {
			t.Fatal(err)
		}
	}
	var doc struct {
		Contracts map[string]struct {
			ABI json.RawMessage `json:"abi"`
			Bin string          `json:"bin"`
		} `json:"contracts"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("compiled artifacts %s: %v", cache, err)
	}
	arts := map[string]artifact{}
	for name, c := range doc.Contracts {
		a, err := abi.JSON(strings.NewReader(string(c.ABI)))
		if err != nil {
			t.Fatalf("%s ABI: %v", name, err)
		}
		arts[name] = artifact{ABI: a, Bin: common.FromHex(c.Bin)}
	}
	for _, want := range []string{"GovToken", "TestGovernor", "BravoLike"} {
		if _, ok := arts[want]; !ok {
			t.Fatalf("compiled artifacts lack %s", want)
		}
	}
	compiled.arts = arts
	return arts
}

// chain is an anvil-backed wallet plus a raw client for the test's own
// transactions (deploying, delegating, proposing).
type chain struct {
	t       *testing.T
	aw      *wallettest.AnvilWallet
	eth     *ethclient.Client
	chainID *big.Int
	arts    map[string]artifact
}

func newChain(t *testing.T) *chain {
	t.Helper()
	arts := artifacts(t)
	aw := wallettest.NewAnvilWallet(t)
	eth, err := ethclient.Dial(aw.Anvil.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eth.Close)
	id, err := eth.ChainID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &chain{t: t, aw: aw, eth: eth, chainID: id, arts: arts}
}

// key is the wallet's EVM key at index i, funded with 10 ETH.
func (c *chain) key(i uint32) *ecdsa.PrivateKey {
	c.t.Helper()
	k, err := c.aw.Keys.EVMKey(i)
	if err != nil {
		c.t.Fatal(err)
	}
	c.aw.Anvil.Fund(c.t, crypto.PubkeyToAddress(k.PublicKey).Hex(), 10)
	return k
}

// send signs and sends a transaction from key and waits for its receipt;
// a reverted one fails the test.
func (c *chain) send(key *ecdsa.PrivateKey, to *common.Address, data []byte) *types.Receipt {
	c.t.Helper()
	r, err := c.trySend(key, to, data)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

func (c *chain) trySend(key *ecdsa.PrivateKey, to *common.Address, data []byte) (*types.Receipt, error) {
	ctx := context.Background()
	from := crypto.PubkeyToAddress(key.PublicKey)
	nonce, err := c.eth.PendingNonceAt(ctx, from)
	if err != nil {
		return nil, err
	}
	gas := uint64(8_000_000)
	if to != nil {
		if gas, err = c.eth.EstimateGas(ctx, ethereum.CallMsg{From: from, To: to, Data: data}); err != nil {
			return nil, err
		}
		gas += gas / 5
	}
	tx := types.NewTx(&types.DynamicFeeTx{ChainID: c.chainID, Nonce: nonce, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(1e11), Gas: gas, To: to, Data: data})
	signed, err := types.SignTx(tx, types.LatestSignerForChainID(c.chainID), key)
	if err != nil {
		return nil, err
	}
	if err := c.eth.SendTransaction(ctx, signed); err != nil {
		return nil, err
	}
	for range 200 {
		if r, err := c.eth.TransactionReceipt(ctx, signed.Hash()); err == nil {
			if r.Status != types.ReceiptStatusSuccessful {
				c.t.Fatalf("transaction %s reverted", signed.Hash().Hex())
			}
			return r, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("no receipt for %s", signed.Hash().Hex())
	return nil, nil
}

// deploy deploys a compiled contract with constructor args.
func (c *chain) deploy(key *ecdsa.PrivateKey, name string, args ...any) common.Address {
	c.t.Helper()
	a := c.arts[name]
	packed, err := a.ABI.Pack("", args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.send(key, nil, append(append([]byte(nil), a.Bin...), packed...)).ContractAddress
}

// invoke calls a contract's method as a transaction from key.
func (c *chain) invoke(key *ecdsa.PrivateKey, name string, at common.Address, method string, args ...any) *types.Receipt {
	c.t.Helper()
	data, err := c.arts[name].ABI.Pack(method, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.send(key, &at, data)
}

// view calls a contract's view method and unpacks its results.
func (c *chain) view(name string, at common.Address, method string, args ...any) []any {
	c.t.Helper()
	a := c.arts[name].ABI
	data, err := a.Pack(method, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	out, err := c.eth.CallContract(context.Background(), ethereum.CallMsg{To: &at, Data: data}, nil)
	if err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
	res, err := a.Unpack(method, out)
	if err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
	return res
}

// advance moves the chain on by n blocks, and n*12 seconds.
func (c *chain) advance(n int) {
	c.t.Helper()
	c.aw.Anvil.Call(c.t, "evm_increaseTime", n*12)
	for range n {
		c.aw.Anvil.Call(c.t, "evm_mine")
	}
}

// dao is a deployed token and Governor; voters hold its votes.
type daoFixture struct {
	token, gov common.Address
	ref        Ref
	proposer   *ecdsa.PrivateKey
}

// deployDAO deploys GovToken (clock by timestamp or block number) and
// TestGovernor (delay 2, period 20 of that clock's units: blocks, or
// seconds scaled by 12), gives each of voters 100,000 GOV and has every
// holder delegate to itself.
func (c *chain) deployDAO(timestamp bool, voters ...*ecdsa.PrivateKey) daoFixture {
	c.t.Helper()
	owner := c.key(0)
	token := c.deploy(owner, "GovToken", timestamp)
	delay, period := uint64(2), uint32(20)
	if timestamp {
		delay, period = 24, 240
	}
	gov := c.deploy(owner, "TestGovernor", token, new(big.Int).SetUint64(delay), period)
	c.invoke(owner, "GovToken", token, "delegate", crypto.PubkeyToAddress(owner.PublicKey))
	for _, v := range voters {
		addr := crypto.PubkeyToAddress(v.PublicKey)
		if addr != crypto.PubkeyToAddress(owner.PublicKey) {
			c.invoke(owner, "GovToken", token, "transfer", addr, new(big.Int).Mul(big.NewInt(100_000), big.NewInt(1e18)))
		}
		c.invoke(v, "GovToken", token, "delegate", addr)
	}
	c.advance(1)
	ref := Ref{Chain: "eip155:" + c.chainID.String(), Address: wallet.EVMAddress(gov)}
	return daoFixture{token: token, gov: gov, ref: ref, proposer: owner}
}

// propose makes a proposal (a no-op call of the token) and returns its id.
func (c *chain) propose(d daoFixture, desc string) *big.Int {
	c.t.Helper()
	r := c.invoke(d.proposer, "TestGovernor", d.gov, "propose", []common.Address{d.token}, []*big.Int{big.NewInt(0)}, [][]byte{{}}, desc)
	ev := c.arts["TestGovernor"].ABI.Events["ProposalCreated"]
	for _, l := range r.Logs {
		if l.Topics[0] == ev.ID {
			vals, err := ev.Inputs.Unpack(l.Data)
			if err != nil {
				c.t.Fatal(err)
			}
			return vals[0].(*big.Int)
		}
	}
	c.t.Fatal("no ProposalCreated")
	return nil
}

// keySender is a Sender that signs with a raw key: the test's stand-in
// for the wallet's contract-call send path, and a relayer.
type keySender struct {
	c     *chain
	key   *ecdsa.PrivateKey
	calls []Call
}

func (k *keySender) From() wallet.EVMAddress {
	return wallet.EVMAddress(crypto.PubkeyToAddress(k.key.PublicKey))
}

func (k *keySender) SendCall(ctx context.Context, call Call) (wallet.EVMHash, error) {
	k.calls = append(k.calls, call)
	to := common.Address(call.To)
	r, err := k.c.trySend(k.key, &to, call.Data)
	if err != nil {
		return wallet.EVMHash{}, err
	}
	return wallet.EVMHash(r.TxHash), nil
}
