package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

const (
	solanaMainnetGenesis = "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d"
	solanaDevnetGenesis  = "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG"
	solanaTestnetGenesis = "4uhcVJyU9pJkvQyS88uRDiswHXSCkY3zQawwpjk2NsNY"
)

// solanaIdentityRPC is a loopback Solana JSON-RPC server reporting genesis
// from getGenesisHash and a funded account from getBalance.
func solanaIdentityRPC(t *testing.T, genesis string) *loopbackRPC {
	return newLoopbackRPC(t, func(method string, _ json.RawMessage) (any, *RPCError) {
		switch method {
		case "getGenesisHash":
			return genesis, nil
		case "getBalance":
			return map[string]any{"context": map[string]int{"slot": 1}, "value": 5_000_000_000}, nil
		}
		return nil, &RPCError{Code: -32601, Message: "Method not found"}
	})
}

// nearIdentityRPC is a loopback NEAR JSON-RPC server reporting chainID
// (and genesis) from status, a funded account and an access key.
func nearIdentityRPC(t *testing.T, chainID, genesis string) *loopbackRPC {
	return newLoopbackRPC(t, func(method string, params json.RawMessage) (any, *RPCError) {
		var p map[string]any
		json.Unmarshal(params, &p)
		switch {
		case method == "status":
			return map[string]any{"chain_id": chainID, "genesis_hash": genesis, "sync_info": map[string]any{"latest_block_height": 9}}, nil
		case p["request_type"] == "view_account":
			return map[string]any{"amount": "5000000000000000000000000"}, nil
		case p["request_type"] == "view_access_key":
			return map[string]any{"nonce": 1, "block_hash": localGenesis}, nil
		}
		return nil, &RPCError{Code: -32601, Message: "Method not found"}
	})
}

// TestWalletSolanaRPCWithWrongGenesisIsRefused: before anything is planned
// or signed, each loopback Solana RPC's getGenesisHash must match the
// known cluster of the configured network (mainnet-beta, devnet, testnet),
// or for a custom network the genesis hash pinned on its first use.
func TestWalletSolanaRPCWithWrongGenesisIsRefused(t *testing.T) {
	_, acct, _ := testKeys(t)
	mainnet, _ := FindNetwork(Builtin(), "solana")
	devnet := Network{Name: "solana-devnet", CAIP2: "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1", Family: FamilySolana, Native: "SOL", NativeDecimals: 9}
	named := Network{Name: "sol-test", CAIP2: "solana:testnet", Family: FamilySolana, Native: "SOL", NativeDecimals: 9}
	local := Network{Name: "sol-local", CAIP2: "solana:localnet", Family: FamilySolana, Native: "SOL", NativeDecimals: 9}
	w := testWallet(t)
	tr := Transfer{Amount: "1", Asset: "SOL", To: "EN2sCsJ1WDV8UFqsiTXHcUPUxQ4juE71eCknHYYMifkd"}
	for _, tt := range []struct {
		name    string
		net     Network
		genesis []string // one loopback RPC each, in fail-over order
		refused string   // the genesis hash refused, "" when allowed
		pinned  bool
	}{
		{"mainnet", mainnet, []string{solanaMainnetGenesis}, "", false},
		{"a mock as mainnet", mainnet, []string{localGenesis}, localGenesis, false},
		{"devnet as mainnet", mainnet, []string{solanaDevnetGenesis}, solanaDevnetGenesis, false},
		{"a liar behind a good fail-over RPC", mainnet, []string{solanaMainnetGenesis, solanaTestnetGenesis}, solanaTestnetGenesis, false},
		{"devnet", devnet, []string{solanaDevnetGenesis}, "", false},
		{"testnet as devnet", devnet, []string{solanaTestnetGenesis}, solanaTestnetGenesis, false},
		{"testnet by name", named, []string{solanaTestnetGenesis}, "", false},
		{"mainnet as testnet by name", named, []string{solanaMainnetGenesis}, solanaMainnetGenesis, false},
		{"custom: first use pins", local, []string{localGenesis}, "", false},
		{"custom: same chain", local, []string{localGenesis, localGenesis}, "", false},
		{"custom: another chain later", local, []string{solanaDevnetGenesis}, solanaDevnetGenesis, true},
		{"custom: RPCs that disagree", Network{Name: "other", CAIP2: "solana:other", Family: FamilySolana, Native: "SOL", NativeDecimals: 9}, []string{localGenesis, solanaDevnetGenesis}, solanaDevnetGenesis, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.net
			var srvs []*loopbackRPC
			for _, g := range tt.genesis {
				srvs = append(srvs, solanaIdentityRPC(t, g))
				n.RPC = append(n.RPC, srvs[len(srvs)-1].URL)
			}
			p, err := w.Plan(context.Background(), tr, []Network{n}, acct)
			if tt.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				p.Close()
				return
			}
			var ie *ChainIdentityError
			if !errors.As(err, &ie) || ie.Got != tt.refused || ie.Pinned != tt.pinned || ie.What != "genesis hash" {
				t.Fatalf("got %v, want the genesis hash %s refused (pinned %v)", err, tt.refused, tt.pinned)
			}
			for _, s := range srvs {
				if slices.ContainsFunc(s.calls, func(m string) bool { return m != "getGenesisHash" }) {
					t.Fatalf("an unidentified RPC was asked %v", s.calls)
				}
			}
		})
	}
}

// TestWalletNEARRPCWithWrongChainIDIsRefused: a loopback NEAR RPC's status
// chain_id must be the configured network's (mainnet, testnet), or for a
// custom network the identity pinned on its first use.
func TestWalletNEARRPCWithWrongChainIDIsRefused(t *testing.T) {
	_, acct, _ := testKeys(t)
	mainnet, _ := FindNetwork(Builtin(), "near")
	testnet := Network{Name: "near-testnet", CAIP2: "near:testnet", Family: FamilyNEAR, Native: "NEAR", NativeDecimals: 24}
	local := Network{Name: "near-local", CAIP2: "near:localnet", Family: FamilyNEAR, Native: "NEAR", NativeDecimals: 24}
	w := testWallet(t)
	tr := Transfer{Amount: "1", Asset: "NEAR", To: "bob.near"}
	for _, tt := range []struct {
		name             string
		net              Network
		chainID, genesis string
		refused          bool
		pinned           bool
	}{
		{"mainnet", mainnet, "mainnet", "EPnLgE7iEq9s7yTkos96M3cWymH5avBAPm3qx3NXqR8H", false, false},
		{"a mock as mainnet", mainnet, "localnet", localGenesis, true, false},
		{"testnet as mainnet", mainnet, "testnet", "", true, false},
		{"testnet", testnet, "testnet", "", false, false},
		{"mainnet as testnet", testnet, "mainnet", "", true, false},
		{"custom: first use pins", local, "localnet", localGenesis, false, false},
		{"custom: same chain", local, "localnet", localGenesis, false, false},
		{"custom: a reset chain", local, "localnet", solanaDevnetGenesis, true, true},
		{"custom: another chain id", local, "test-chain-x1", localGenesis, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := nearIdentityRPC(t, tt.chainID, tt.genesis)
			n := tt.net
			n.RPC = []string{srv.URL}
			p, err := w.Plan(context.Background(), tr, []Network{n}, acct)
			if !tt.refused {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				p.Close()
				return
			}
			var ie *ChainIdentityError
			if !errors.As(err, &ie) || ie.Pinned != tt.pinned || ie.What != "chain id" {
				t.Fatalf("got %v, want chain id %s refused (pinned %v)", err, tt.chainID, tt.pinned)
			}
			if !slices.Equal(srv.calls, []string{"status"}) {
				t.Fatalf("an unidentified RPC was asked %v", srv.calls)
			}
		})
	}
}

// TestWalletBalanceFromRPCOfAnotherChainIsFailed: a loopback Solana or NEAR
// RPC of another chain than the known one configured is not believed about
// balances either: the chain is reported failed, never with its numbers.
func TestWalletBalanceFromRPCOfAnotherChainIsFailed(t *testing.T) {
	_, acct, _ := testKeys(t)
	sol, _ := FindNetwork(Builtin(), "solana")
	near, _ := FindNetwork(Builtin(), "near")
	w := testWallet(t)
	for _, tt := range []struct {
		name string
		net  Network
		rpc  *loopbackRPC
		ok   bool
	}{
		{"solana mainnet", sol, solanaIdentityRPC(t, solanaMainnetGenesis), true},
		{"a mock as solana mainnet", sol, solanaIdentityRPC(t, localGenesis), false},
		{"near mainnet", near, nearIdentityRPC(t, "mainnet", ""), true},
		{"a localnet as near mainnet", near, nearIdentityRPC(t, "localnet", localGenesis), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.net
			n.RPC = []string{tt.rpc.URL}
			rep := w.Balances(context.Background(), []Network{n}, acct)
			if c := rep.Chains[0]; (c.Status == "ok") != tt.ok || !tt.ok && c.Amount != "" || tt.ok && c.Amount != "5" {
				t.Fatalf("%+v", c)
			}
		})
	}
}
