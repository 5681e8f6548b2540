package wallet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// jsonRPC is a minimal JSON-RPC 2.0 client over HTTP with fail-over across
// endpoints (Solana and NEAR; the EVM client in ethrpc.go posts through it).
type jsonRPC struct {
	urls    []string
	hc      *http.Client
	timeout time.Duration
	id      atomic.Int64
}

func newJSONRPC(urls []string, timeout time.Duration) *jsonRPC {
	return &jsonRPC{urls: urls, hc: &http.Client{Timeout: timeout}, timeout: timeout}
}

// RPCError is an error object returned by the node.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
	// Name and Cause are NEAR's structured error, e.g. HANDLER_ERROR
	// caused by UNKNOWN_TRANSACTION or TIMEOUT_ERROR.
	Name  string         `json:"name,omitempty"`
	Cause *RPCErrorCause `json:"cause,omitempty"`
}

// RPCErrorCause is why a NEAR RPC call failed.
type RPCErrorCause struct {
	Name string          `json:"name"`
	Info json.RawMessage `json:"info,omitempty"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("RPC error %d: %s", e.Code, e.Message) }

// call tries each URL in turn; a node error (it answered) is returned at
// once, transport failures move on to the next URL.
func (c *jsonRPC) call(ctx context.Context, method string, params any, out any) error {
	if len(c.urls) == 0 {
		return fmt.Errorf("%s: no RPC configured", method)
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": c.id.Add(1), "method": method, "params": params})
	if err != nil {
		return err
	}
	var errs []string
	for _, u := range c.urls {
		err := c.post(ctx, u, body, out)
		if err == nil {
			return nil
		}
		if _, ok := err.(*RPCError); ok {
			return fmt.Errorf("%s: %w", method, err)
		}
		errs = append(errs, fmt.Sprintf("%s: %v", u, err))
	}
	return fmt.Errorf("%s: every RPC failed (%s)", method, strings.Join(errs, "; "))
}

func (c *jsonRPC) post(ctx context.Context, url string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  *RPCError       `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("not a JSON-RPC response: %v", err)
	}
	if env.Error != nil {
		return env.Error
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(env.Result, out)
}

// nativeBalance is a network's native-coin balance of v atomic units.
func nativeBalance(n Network, v *big.Int) Balance {
	return Balance{Network: n.Name, CAIP2: n.CAIP2, Asset: n.Native, Amount: FormatAtomic(v, n.NativeDecimals), Atomic: v.String(), Status: "ok"}
}

// recordLedger stores a broadcast transaction.
func (w *Wallet) recordLedger(e LedgerEntry) error {
	if e.Time == "" {
		e.Time = w.now().UTC().Format(time.RFC3339Nano)
	}
	return withDB(w.dir, func(tx *bolt.Tx) error { return putLedger(tx, e) })
}
