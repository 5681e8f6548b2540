package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovos/sov/wallet"
	"github.com/sovos/sov/wallet/wallettest"
)

// TestWalletAnvilPayX402: `sov wallet pay --x402` signs an x402 payment for
// a request on anvil whose asset is an EIP-3009 token, prints its
// PAYMENT-SIGNATURE value (a facilitator verifies it), refuses a price
// above --max and the same request twice unless --again.
func TestWalletAnvilPayX402(t *testing.T) {
	an := wallettest.StartAnvil(t)
	home := t.TempDir()
	if r := runSov(t, home, walletTestEnv, walletTestAbandon+"\n", "wallet", "import"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	seed, _ := wallet.SeedFromMnemonic(walletTestAbandon, "")
	keys := wallet.NewKeys(seed)
	defer keys.Wipe()
	an.Fund(t, "0x9858EfFD232B4033E47d90003D41EC34EcaEda94", 10)
	usdc := an.DeployEIP3009(t, keys)
	if r := runSov(t, home, nil, "", "wallet", "networks", "add", "anvil", "--rpc", an.URL, "--usdc", usdc); r.Code != 0 {
		t.Fatalf("networks add: %s", r.Stderr)
	}
	payee := "0x00000000000000000000000000000000000000B3"
	req := fmt.Sprintf(`{"x402Version":2,"resource":{"url":"http://127.0.0.1/answer"},"accepts":[{"scheme":"exact","network":"eip155:31337","amount":"10000","asset":%q,"payTo":%q,"maxTimeoutSeconds":60,"extra":{"name":"USD Coin","version":"2"}}]}`, usdc, payee)
	f := filepath.Join(t.TempDir(), "req.json")
	os.WriteFile(f, []byte(req), 0o600)

	if r := runSov(t, home, walletTestEnv, "", "wallet", "pay", f, "--x402", "--max", "0.001"); r.Code != 1 || !strings.Contains(r.Stderr, "above") || !strings.Contains(r.Stderr, "--max") {
		t.Fatalf("above max: %d %s", r.Code, r.Stderr)
	}
	r := runSov(t, home, walletTestEnv, "", "wallet", "pay", f, "--x402", "--max", "0.01", "--json")
	if r.Code != 0 {
		t.Fatalf("pay --x402: %d %s", r.Code, r.Stderr)
	}
	var p wallet.X402Payment
	if err := json.Unmarshal([]byte(r.Stdout), &p); err != nil || p.Amount != "0.01 USDC" {
		t.Fatalf("%v %s", err, r.Stdout)
	}
	var cfg wallet.Config
	if err := cfg.AddRPC(context.Background(), wallet.NetworkConfig{Name: "anvil", RPC: []string{an.URL}, USDC: usdc}); err != nil {
		t.Fatal(err)
	}
	nets, _ := cfg.All()
	fac := wallet.NewFacilitator(wallet.New(t.TempDir()), nets, nil)
	var prq wallet.PaymentRequired
	json.Unmarshal([]byte(req), &prq)
	if v := fac.Verify(context.Background(), p.Payload, prq.Accepts[0]); !v.IsValid {
		t.Fatalf("the printed payment does not verify: %+v", v)
	}
	if r := runSov(t, home, walletTestEnv, "", "wallet", "pay", f, "--x402"); r.Code != 1 || !strings.Contains(r.Stderr, "paid already by a signed x402 authorization") || !strings.Contains(r.Stderr, "--again") {
		t.Fatalf("paid twice: %d %s", r.Code, r.Stderr)
	}
	r = runSov(t, home, walletTestEnv, "", "wallet", "pay", f, "--x402", "--again")
	if r.Code != 0 || !strings.Contains(r.Stderr, "signed an x402 authorization of 0.01 USDC on anvil") {
		t.Fatalf("--again: %d %s", r.Code, r.Stderr)
	}
	if again, err := wallet.ParsePaymentSignature(strings.TrimSpace(r.Stdout)); err != nil || again.Payload.Authorization.Nonce == p.Payload.Payload.Authorization.Nonce {
		t.Fatalf("PAYMENT-SIGNATURE %q: %v", r.Stdout, err)
	}
}
