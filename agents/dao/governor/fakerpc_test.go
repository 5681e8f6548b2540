package governor

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sovos/sov/wallet"
)

// fakeNode answers just enough JSON-RPC for Open to accept a Governor,
// and serves logs as given: a node that returns garbage.
func fakeNode(t *testing.T, logs string) wallet.Network {
	t.Helper()
	str := func(s string) string { return "0x" + hex.EncodeToString(calldata("f()", s)[4:]) }
	calls := map[string]string{
		hex.EncodeToString(selector("COUNTING_MODE()")): str("support=bravo&quorum=for,abstain"),
		hex.EncodeToString(selector("name()")):          str("Fake"),
		hex.EncodeToString(selector("CLOCK_MODE()")):    str("mode=timestamp"),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     json.RawMessage   `json:"id"`
			Method string            `json:"method"`
			Params []json.RawMessage `json:"params"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		result := `null`
		switch req.Method {
		case "eth_chainId":
			result = `"0x7a69"`
		case "eth_blockNumber":
			result = `"0x10"`
		case "eth_getBlockByNumber":
			result = `{"timestamp":"0x6553f100"}`
		case "eth_getLogs":
			result = logs
		case "eth_call":
			var msg struct{ Data, Input string }
			json.Unmarshal(req.Params[0], &msg)
			data := strings.TrimPrefix(msg.Data+msg.Input, "0x")
			if len(data) >= 8 {
				if out, ok := calls[data[:8]]; ok {
					result = `"` + out + `"`
					break
				}
			}
			w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(req.ID) + `,"error":{"code":3,"message":"execution reverted"}}`))
			return
		}
		w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(req.ID) + `,"result":` + result + `}`))
	}))
	t.Cleanup(srv.Close)
	return wallet.Network{Name: "fake", CAIP2: "eip155:31337", Family: wallet.FamilyEVM, ChainID: 31337, Native: "ETH", NativeDecimals: 18, RPC: []string{srv.URL}}
}

// A node that returns garbage logs makes Sync fail, naming the Governor:
// never a partial list that looks complete.
func TestSyncRefusesGarbage(t *testing.T) {
	ref, _ := ParseRef("eip155:31337:0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
	topic0 := hex32(topicProposalCreated)
	for _, tc := range []struct{ name, logs, want string }{
		{"truncated data", `[{"topics":["` + topic0 + `"],"data":"0x0001","blockNumber":"0x5","transactionHash":"0x00"}]`, "ABI data is truncated"},
		{"not hex", `[{"topics":["` + topic0 + `"],"data":"zz","blockNumber":"0x5","transactionHash":"0x00"}]`, "eth_getLogs"},
		{"not a list", `{"oops":1}`, "eth_getLogs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(context.Background(), []wallet.Network{fakeNode(t, tc.logs)}, ref, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ps, err := s.Sync(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `governor "Fake"`) {
				t.Fatalf("Sync = %v, %v; want an error with %q naming the Governor", ps, err, tc.want)
			}
		})
	}
	// a node that is down: Open fails, saying which network
	down := fakeNode(t, `[]`)
	down.RPC = []string{"http://127.0.0.1:1"}
	if _, err := Open(context.Background(), []wallet.Network{down}, ref, Options{}); err == nil || !strings.Contains(err.Error(), "fake") {
		t.Fatalf("Open on a node that is down = %v", err)
	}
}
