package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// walletTypedDoc writes an EIP-712 document of primary type typ
// (members: "type name" pairs) for Ethereum's USDC and returns its path.
func walletTypedDoc(t *testing.T, typ, members, message string) string {
	t.Helper()
	var fields []string
	for _, m := range strings.Split(members, ",") {
		ty, name, _ := strings.Cut(m, " ")
		fields = append(fields, fmt.Sprintf(`{"name":%q,"type":%q}`, name, ty))
	}
	doc := fmt.Sprintf(`{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],%q:[%s]},
"primaryType":%q,"domain":{"name":"USD Coin","version":"2","chainId":1,"verifyingContract":"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"},"message":%s}`,
		typ, strings.Join(fields, ","), typ, message)
	p := filepath.Join(t.TempDir(), "typed.json")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestWalletSignTypedDataIsLimited: a headless `sov wallet sign
// --typed-data` of an EIP-3009 authorization for 1,000,000 USDC is refused
// by the USDC per-transaction limit (exit 1, nothing signed, the refusal
// in `sov wallet audit` with amount and payee); 5 USDC is signed. An
// unlimited permit signed at a terminal shows the person what it allows.
func TestWalletSignTypedDataIsLimited(t *testing.T) {
	home := t.TempDir()
	if r := runSov(t, home, walletTestEnv, walletTestAbandon+"\n", "wallet", "import"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	walletSetPolicy(t, home, "--asset", "USDC", "--per-tx", "100")
	auth := func(value string) string {
		return walletTypedDoc(t, "TransferWithAuthorization", "address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce",
			fmt.Sprintf(`{"from":"0x9858EfFD232B4033E47d90003D41EC34EcaEda94","to":"0x1111111111111111111111111111111111111111","value":%q,"validAfter":"0","validBefore":"1798761600","nonce":"0x%s"}`, value, strings.Repeat("ab", 32)))
	}
	r := runSov(t, home, walletTestEnv, "", "wallet", "sign", "--typed-data", auth("1000000000000"))
	if r.Code != 1 || strings.Contains(r.Stdout, "0x") || !strings.Contains(r.Stderr, "1000000 USDC exceeds the per-transaction limit of 100 USDC") {
		t.Fatalf("1,000,000 USDC: exit %d, stdout %q, stderr %q", r.Code, r.Stdout, r.Stderr)
	}
	audit := runSov(t, home, nil, "", "wallet", "audit")
	if audit.Code != 0 || !strings.Contains(audit.Stdout, "refused") || !strings.Contains(audit.Stdout, "sign-typed-data 1000000 USDC to 0x1111111111111111111111111111111111111111") {
		t.Fatalf("audit: %d\n%s%s", audit.Code, audit.Stdout, audit.Stderr)
	}
	if r := runSov(t, home, walletTestEnv, "", "wallet", "sign", "--typed-data", auth("5000000")); r.Code != 0 || !strings.HasPrefix(r.Stdout, "0x") || len(strings.TrimSpace(r.Stdout)) != 132 {
		t.Fatalf("5 USDC: exit %d, stdout %q, stderr %q", r.Code, r.Stdout, r.Stderr)
	}
	permit := walletTypedDoc(t, "Permit", "address owner,address spender,uint256 value,uint256 nonce,uint256 deadline",
		`{"owner":"0x9858EfFD232B4033E47d90003D41EC34EcaEda94","spender":"0x2222222222222222222222222222222222222222","value":"0x`+strings.Repeat("f", 64)+`","nonce":"0","deadline":"1798761600"}`)
	walletSetPolicy(t, home, "--asset", "USDC", "--per-tx", "none")
	if r := runSov(t, home, walletTestEnv, "", "wallet", "sign", "--typed-data", permit); r.Code != 1 || !strings.Contains(r.Stderr, "UNLIMITED") || !strings.Contains(r.Stderr, "no human is present") {
		t.Fatalf("unlimited permit headless: exit %d %q", r.Code, r.Stderr)
	}
	r = runSovTTY(t, home, walletTestEnv, walletApproveTyped, "wallet", "sign", "--typed-data", permit)
	if r.Code != 0 || !strings.Contains(r.Stdout, "allow 0x2222222222222222222222222222222222222222 to spend UNLIMITED USDC") || !strings.Contains(r.Stdout, "until 2027-01-01T00:00:00Z") {
		t.Fatalf("unlimited permit at a terminal: exit %d\n%s", r.Code, r.Stdout)
	}
}
