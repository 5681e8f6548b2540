package main

import (
	"strings"
	"testing"
)

// TestWalletPolicyAllowCall: --allow-call adds a contract call made
// without asking (a policy change: the passphrase typed at a terminal,
// refused headless), --disallow-call removes it, and a malformed rule is a
// usage error naming the form.
func TestWalletPolicyAllowCall(t *testing.T) {
	home := t.TempDir()
	if r := runSov(t, home, walletTestEnv, walletTestAbandon+"\n", "wallet", "import"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	const rule = "base:0x00000000000000000000000000000000000000A1:0x7b3c71d3"
	policy := func() string {
		t.Helper()
		r := runSov(t, home, nil, "", "wallet", "policy")
		if r.Code != 0 {
			t.Fatal(r.Stderr)
		}
		return r.Stdout
	}
	if r := runSov(t, home, walletTestEnv, "", "wallet", "policy", "--allow-call", rule); r.Code != 1 || strings.Contains(policy(), "0x7b3c71d3") {
		t.Fatalf("headless --allow-call: exit %d %q", r.Code, r.Stderr)
	}
	walletSetPolicy(t, home, "--allow-call", rule)
	if p := policy(); !strings.Contains(p, "contract call allowed without approval: base:0x00000000000000000000000000000000000000A1:0x7b3c71d3") {
		t.Fatalf("policy after --allow-call: %q", p)
	}
	walletSetPolicy(t, home, "--disallow-call", strings.ToLower(rule))
	if p := policy(); strings.Contains(p, "0x7b3c71d3") {
		t.Fatalf("policy after --disallow-call: %q", p)
	}
	r := runSov(t, home, nil, "", "wallet", "policy", "--allow-call", "base:0x7b3c71d3")
	if r.Code != 2 || !strings.Contains(r.Stderr, "NETWORK:0xCONTRACT:0xSELECTOR") {
		t.Fatalf("malformed rule: exit %d %q", r.Code, r.Stderr)
	}
}
