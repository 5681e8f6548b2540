package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sovos/sov/wallet/internal/evm"
)

// The eth_* JSON-RPC client: the dozen calls the wallet makes to an EVM
// node, over the same HTTP transport as Solana and NEAR.

// EVMAddress is a 20-byte EVM account address; Hex is its EIP-55 form.
type EVMAddress = evm.Address

// EVMHash is a 32-byte transaction hash.
type EVMHash = evm.Hash

// EVMCallMsg is an eth_call or eth_estimateGas request.
type EVMCallMsg struct {
	From  EVMAddress // zero: none
	To    *EVMAddress
	Value *big.Int
	Data  []byte
}

// EVMFeeHistory is what eth_feeHistory reports: base fees (one more than
// blocks asked, the next block's last) and the asked reward percentiles.
type EVMFeeHistory struct {
	BaseFee []*big.Int
	Reward  [][]*big.Int
}

// EVMReceipt is the part of a transaction receipt sov reads.
type EVMReceipt struct {
	Status          uint64 // 1 success, 0 reverted
	BlockNumber     *big.Int
	ContractAddress EVMAddress
	// GasUsed × EffectiveGasPrice is the fee the transaction paid (nil
	// when the node did not say).
	GasUsed           *big.Int
	EffectiveGasPrice *big.Int
}

// Fee is what the transaction paid for gas, in wei; nil when unknown.
func (r *EVMReceipt) Fee() *big.Int {
	if r == nil || r.GasUsed == nil || r.EffectiveGasPrice == nil {
		return nil
	}
	return new(big.Int).Mul(r.GasUsed, r.EffectiveGasPrice)
}

// EVMBackend is what sov needs from an EVM node. Block arguments are nil
// for the latest block.
type EVMBackend interface {
	ChainID(ctx context.Context) (*big.Int, error)
	BalanceAt(ctx context.Context, addr EVMAddress, block *big.Int) (*big.Int, error)
	NonceAt(ctx context.Context, addr EVMAddress, block *big.Int) (uint64, error)
	PendingNonceAt(ctx context.Context, addr EVMAddress) (uint64, error)
	CallContract(ctx context.Context, msg EVMCallMsg, block *big.Int) ([]byte, error)
	EstimateGas(ctx context.Context, msg EVMCallMsg) (uint64, error)
	SuggestGasTipCap(ctx context.Context) (*big.Int, error)
	FeeHistory(ctx context.Context, blocks uint64, last *big.Int, percentiles []float64) (*EVMFeeHistory, error)
	// TransactionReceipt returns ErrTxNotFound while the transaction is
	// not mined.
	TransactionReceipt(ctx context.Context, h EVMHash) (*EVMReceipt, error)
	// HasTransaction reports whether the node knows h, mined or pending.
	HasTransaction(ctx context.Context, h EVMHash) (bool, error)
	SendTransaction(ctx context.Context, raw []byte) error
}

// ErrTxNotFound means the node has no receipt for a transaction (yet).
var ErrTxNotFound = errors.New("transaction not found")

// ErrRPCScheme means an RPC URL is not http or https.
var ErrRPCScheme = errors.New("EVM RPC URLs must be http:// or https://")

// ethClient speaks eth_* JSON-RPC to one node.
type ethClient struct {
	url string
	rpc *jsonRPC
}

// newEthClient checks url and returns a client whose calls each take at
// most timeout.
func newEthClient(rawURL string, timeout time.Duration) (*ethClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("RPC URL %q: %w", rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w, not %q", ErrRPCScheme, rawURL)
	}
	return &ethClient{url: rawURL, rpc: newJSONRPC([]string{rawURL}, timeout)}, nil
}

func (c *ethClient) call(ctx context.Context, out any, method string, params ...any) error {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": c.rpc.id.Add(1), "method": method, "params": params})
	if err != nil {
		return err
	}
	if err := c.rpc.post(ctx, c.url, body, out); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	return nil
}

// quantity is a JSON-RPC hex number ("0x1a").
type quantity big.Int

func (q *quantity) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("quantity: %w", err)
	}
	h, ok := strings.CutPrefix(s, "0x")
	if !ok || h == "" || len(h) > 64 {
		return fmt.Errorf("quantity %q is not 0x hex", s)
	}
	if _, ok := (*big.Int)(q).SetString(h, 16); !ok {
		return fmt.Errorf("quantity %q is not 0x hex", s)
	}
	return nil
}

func (q *quantity) big() *big.Int { return new(big.Int).Set((*big.Int)(q)) }

func (q *quantity) uint64() (uint64, error) {
	b := (*big.Int)(q)
	if !b.IsUint64() {
		return 0, fmt.Errorf("%s does not fit 64 bits", b)
	}
	return b.Uint64(), nil
}

// hexData is JSON-RPC "0x…" bytes.
type hexData []byte

func (d *hexData) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if !strings.HasPrefix(s, "0x") || len(s)%2 != 0 {
		return fmt.Errorf("data %.20q is not 0x hex", s)
	}
	*d = evm.FromHex(s)
	if *d == nil && len(s) > 2 {
		return fmt.Errorf("data %.20q is not 0x hex", s)
	}
	return nil
}

func encQuantity(n *big.Int) string { return "0x" + n.Text(16) }

func blockTag(n *big.Int) string {
	if n == nil {
		return "latest"
	}
	return encQuantity(n)
}

func (c *ethClient) bigCall(ctx context.Context, method string, params ...any) (*big.Int, error) {
	var q quantity
	if err := c.call(ctx, &q, method, params...); err != nil {
		return nil, err
	}
	return q.big(), nil
}

func (c *ethClient) uintCall(ctx context.Context, method string, params ...any) (uint64, error) {
	var q quantity
	if err := c.call(ctx, &q, method, params...); err != nil {
		return 0, err
	}
	n, err := q.uint64()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", method, err)
	}
	return n, nil
}

func (c *ethClient) ChainID(ctx context.Context) (*big.Int, error) {
	return c.bigCall(ctx, "eth_chainId")
}

func (c *ethClient) BalanceAt(ctx context.Context, a EVMAddress, block *big.Int) (*big.Int, error) {
	return c.bigCall(ctx, "eth_getBalance", a.Hex(), blockTag(block))
}

func (c *ethClient) NonceAt(ctx context.Context, a EVMAddress, block *big.Int) (uint64, error) {
	return c.uintCall(ctx, "eth_getTransactionCount", a.Hex(), blockTag(block))
}

func (c *ethClient) PendingNonceAt(ctx context.Context, a EVMAddress) (uint64, error) {
	return c.uintCall(ctx, "eth_getTransactionCount", a.Hex(), "pending")
}

func callArg(m EVMCallMsg) map[string]any {
	arg := map[string]any{}
	if m.From != (EVMAddress{}) {
		arg["from"] = m.From.Hex()
	}
	if m.To != nil {
		arg["to"] = m.To.Hex()
	}
	if m.Value != nil {
		arg["value"] = encQuantity(m.Value)
	}
	if len(m.Data) > 0 {
		arg["data"] = "0x" + fmt.Sprintf("%x", m.Data)
	}
	return arg
}

func (c *ethClient) CallContract(ctx context.Context, m EVMCallMsg, block *big.Int) ([]byte, error) {
	var out hexData
	if err := c.call(ctx, &out, "eth_call", callArg(m), blockTag(block)); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *ethClient) EstimateGas(ctx context.Context, m EVMCallMsg) (uint64, error) {
	return c.uintCall(ctx, "eth_estimateGas", callArg(m))
}

func (c *ethClient) SuggestGasTipCap(ctx context.Context) (*big.Int, error) {
	return c.bigCall(ctx, "eth_maxPriorityFeePerGas")
}

func (c *ethClient) FeeHistory(ctx context.Context, blocks uint64, last *big.Int, percentiles []float64) (*EVMFeeHistory, error) {
	var r struct {
		BaseFee []*quantity   `json:"baseFeePerGas"`
		Reward  [][]*quantity `json:"reward"`
	}
	if err := c.call(ctx, &r, "eth_feeHistory", "0x"+strconv.FormatUint(blocks, 16), blockTag(last), percentiles); err != nil {
		return nil, err
	}
	fh := &EVMFeeHistory{}
	for _, q := range r.BaseFee {
		if q == nil {
			return nil, errors.New("eth_feeHistory: a base fee is null")
		}
		fh.BaseFee = append(fh.BaseFee, q.big())
	}
	for _, row := range r.Reward {
		var out []*big.Int
		for _, q := range row {
			if q != nil {
				out = append(out, q.big())
			}
		}
		fh.Reward = append(fh.Reward, out)
	}
	return fh, nil
}

func (c *ethClient) TransactionReceipt(ctx context.Context, h EVMHash) (*EVMReceipt, error) {
	var r *struct {
		Status          *quantity   `json:"status"`
		BlockNumber     *quantity   `json:"blockNumber"`
		ContractAddress *EVMAddress `json:"contractAddress"`
		GasUsed         *quantity   `json:"gasUsed"`
		Price           *quantity   `json:"effectiveGasPrice"`
	}
	if err := c.call(ctx, &r, "eth_getTransactionReceipt", h.Hex()); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, ErrTxNotFound
	}
	if r.BlockNumber == nil {
		return nil, errors.New("eth_getTransactionReceipt: the receipt has no block number")
	}
	out := &EVMReceipt{BlockNumber: r.BlockNumber.big()}
	if r.Status != nil {
		out.Status, _ = r.Status.uint64()
	}
	if r.ContractAddress != nil {
		out.ContractAddress = *r.ContractAddress
	}
	if r.GasUsed != nil && r.Price != nil {
		out.GasUsed, out.EffectiveGasPrice = r.GasUsed.big(), r.Price.big()
	}
	return out, nil
}

func (c *ethClient) HasTransaction(ctx context.Context, h EVMHash) (bool, error) {
	var tx json.RawMessage
	if err := c.call(ctx, &tx, "eth_getTransactionByHash", h.Hex()); err != nil {
		return false, err
	}
	return len(tx) > 0 && string(tx) != "null", nil
}

func (c *ethClient) SendTransaction(ctx context.Context, raw []byte) error {
	return c.call(ctx, nil, "eth_sendRawTransaction", fmt.Sprintf("0x%x", raw))
}
