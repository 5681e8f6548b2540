package governor

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sovos/sov/wallet"
)

// The two reads the wallet's EVM client does not make (logs and block
// times), over the same RPC URL it verified the chain id of.

type logClient struct {
	url  string
	http *http.Client
	id   atomic.Int64
}

func newLogClient(url string, timeout time.Duration) *logClient {
	return &logClient{url: url, http: &http.Client{Timeout: timeout}}
}

// rpcLimit bounds a response body: a hostile or broken node cannot make
// sov hold gigabytes.
const rpcLimit = 32 << 20

func (c *logClient) call(ctx context.Context, out any, method string, params ...any) error {
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": c.id.Add(1), "method": method, "params": params})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, rpcLimit))
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", method, resp.StatusCode)
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: the node's answer is not JSON-RPC: %w", method, err)
	}
	if r.Error != nil {
		return fmt.Errorf("%s: RPC error %d: %s", method, r.Error.Code, r.Error.Message)
	}
	if err := json.Unmarshal(r.Result, out); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	return nil
}

// hexNum is a JSON-RPC quantity.
type hexNum uint64

func (q *hexNum) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, ok := new(big.Int).SetString(strings.TrimPrefix(s, "0x"), 16)
	if !ok || !strings.HasPrefix(s, "0x") || !v.IsUint64() {
		return fmt.Errorf("quantity %.20q is not 0x hex", s)
	}
	*q = hexNum(v.Uint64())
	return nil
}

// hexBytes is JSON-RPC data.
type hexBytes []byte

func (d *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	h, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return fmt.Errorf("data %.20q is not 0x hex", s)
	}
	v, err := hex.DecodeString(h)
	if err != nil {
		return fmt.Errorf("data %.20q is not 0x hex", s)
	}
	*d = v
	return nil
}

func qty(n uint64) string { return fmt.Sprintf("0x%x", n) }

// rawLog is one eth_getLogs entry.
type rawLog struct {
	Topics      []hexBytes `json:"topics"`
	Data        hexBytes   `json:"data"`
	BlockNumber hexNum     `json:"blockNumber"`
	TxHash      string     `json:"transactionHash"`
	Removed     bool       `json:"removed"`
}

func (c *logClient) blockNumber(ctx context.Context) (uint64, error) {
	var n hexNum
	err := c.call(ctx, &n, "eth_blockNumber")
	return uint64(n), err
}

// blockTime is the timestamp of block n.
func (c *logClient) blockTime(ctx context.Context, n uint64) (time.Time, error) {
	var b *struct {
		Timestamp hexNum `json:"timestamp"`
	}
	if err := c.call(ctx, &b, "eth_getBlockByNumber", qty(n), false); err != nil {
		return time.Time{}, err
	}
	if b == nil {
		return time.Time{}, fmt.Errorf("eth_getBlockByNumber: no block %d", n)
	}
	return time.Unix(int64(b.Timestamp), 0).UTC(), nil
}

// logs reads addr's logs with topic0 in [from, to], step blocks per call
// (public RPCs cap the range of one eth_getLogs).
func (c *logClient) logs(ctx context.Context, addr wallet.EVMAddress, topics []any, from, to, step uint64) ([]rawLog, error) {
	var out []rawLog
	for lo := from; lo <= to; lo += step {
		hi := min(lo+step-1, to)
		var part []rawLog
		filter := map[string]any{"address": addr.Hex(), "topics": topics, "fromBlock": qty(lo), "toBlock": qty(hi)}
		if err := c.call(ctx, &part, "eth_getLogs", filter); err != nil {
			return nil, err
		}
		for _, l := range part {
			if !l.Removed {
				out = append(out, l)
			}
		}
		if hi == to {
			break
		}
	}
	return out, nil
}

func hex32(b [32]byte) string { return "0x" + hex.EncodeToString(b[:]) }
