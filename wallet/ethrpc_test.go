package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/wallet/internal/evm"
)

// fakeNode answers each eth_* method with a fixed raw JSON-RPC body part
// ("result":… or "error":…) and records the params it was sent.
func fakeNode(t *testing.T, answers map[string]string) (*ethClient, map[string]json.RawMessage) {
	t.Helper()
	got := map[string]json.RawMessage{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		got[req.Method] = req.Params
		a, ok := answers[req.Method]
		if !ok {
			a = `"error":{"code":-32601,"message":"method not found"}`
		}
		w.Write([]byte(`{"jsonrpc":"2.0","id":1,` + a + `}`))
	}))
	t.Cleanup(srv.Close)
	c, err := newEthClient(srv.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c, got
}

func TestWalletEthRPCClient(t *testing.T) {
	ctx := context.Background()
	to := evm.HexToAddress("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
	c, sent := fakeNode(t, map[string]string{
		"eth_chainId":               `"result":"0x2105"`,
		"eth_getBalance":            `"result":"0xde0b6b3a7640000"`,
		"eth_getTransactionCount":   `"result":"0x1f"`,
		"eth_call":                  `"result":"0x0000000000000000000000000000000000000000000000000000000000000001"`,
		"eth_estimateGas":           `"result":"0x5208"`,
		"eth_feeHistory":            `"result":{"oldestBlock":"0x10","baseFeePerGas":["0x1","0x2"],"reward":[["0x3"]],"gasUsedRatio":[0.5]}`,
		"eth_getTransactionReceipt": `"result":null`,
		"eth_getTransactionByHash":  `"result":null`,
		"eth_sendRawTransaction":    `"error":{"code":-32000,"message":"nonce too low"}`,
		"eth_maxPriorityFeePerGas":  `"result":"0x"`,
	})
	if id, err := c.ChainID(ctx); err != nil || id.Int64() != 8453 {
		t.Fatalf("chain id %v %v", id, err)
	}
	if b, err := c.BalanceAt(ctx, to, nil); err != nil || b.String() != "1000000000000000000" {
		t.Fatalf("balance %v %v", b, err)
	}
	if string(sent["eth_getBalance"]) != `["`+to.Hex()+`","latest"]` {
		t.Fatalf("balance params %s", sent["eth_getBalance"])
	}
	if n, err := c.PendingNonceAt(ctx, to); err != nil || n != 31 || !strings.Contains(string(sent["eth_getTransactionCount"]), `"pending"`) {
		t.Fatalf("nonce %d %v %s", n, err, sent["eth_getTransactionCount"])
	}
	out, err := c.CallContract(ctx, EVMCallMsg{To: &to, Value: big.NewInt(0), Data: []byte{0xa9, 0x05}}, nil)
	if err != nil || len(out) != 32 || out[31] != 1 {
		t.Fatalf("call %x %v", out, err)
	}
	if s := string(sent["eth_call"]); !strings.Contains(s, `"data":"0xa905"`) || !strings.Contains(s, `"value":"0x0"`) || strings.Contains(s, `"from"`) {
		t.Fatalf("call params %s", s)
	}
	if g, err := c.EstimateGas(ctx, EVMCallMsg{To: &to}); err != nil || g != 21000 {
		t.Fatalf("gas %d %v", g, err)
	}
	fh, err := c.FeeHistory(ctx, 5, nil, []float64{50})
	if err != nil || len(fh.BaseFee) != 2 || fh.Reward[0][0].Int64() != 3 || string(sent["eth_feeHistory"]) != `["0x5","latest",[50]]` {
		t.Fatalf("fee history %+v %v %s", fh, err, sent["eth_feeHistory"])
	}
	if _, err := c.TransactionReceipt(ctx, EVMHash{}); !errors.Is(err, ErrTxNotFound) {
		t.Fatalf("no receipt: %v", err)
	}
	if known, err := c.HasTransaction(ctx, EVMHash{}); err != nil || known {
		t.Fatalf("unknown tx: %v %v", known, err)
	}
	var rpcErr *RPCError
	if err := c.SendTransaction(ctx, []byte{1, 2}); !errors.As(err, &rpcErr) || rpcErr.Message != "nonce too low" || string(sent["eth_sendRawTransaction"]) != `["0x0102"]` {
		t.Fatalf("send: %v %s", err, sent["eth_sendRawTransaction"])
	}
	// a malformed quantity is an error, never a zero
	if _, err := c.SuggestGasTipCap(ctx); err == nil {
		t.Fatal(`"0x" read as a number`)
	}
	if _, err := newEthClient("ws://127.0.0.1:8546", time.Second); !errors.Is(err, ErrRPCScheme) {
		t.Fatalf("ws URL: %v", err)
	}
	if _, err := DialEVM(ctx, Network{Name: "x", Family: FamilyEVM, ChainID: 1, RPC: []string{"ws://127.0.0.1:1"}}); err == nil || !strings.Contains(err.Error(), ErrRPCScheme.Error()) {
		t.Fatalf("dial ws: %v", err)
	}
}
