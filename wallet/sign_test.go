package wallet

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/wallet/internal/evm"
)

func TestWalletNEP413HashVector(t *testing.T) {
	// near-api-js "generate correct hash for NEP-413-compliant message"
	nonce, _ := base64.StdEncoding.DecodeString("KNV0cOpvJ50D5vfF9pqWom8wo2sliQ4W+Wa7uZ3Uk6Y=")
	m := NEP413Message{Message: "Hello NEAR!", Recipient: "round-toad.testnet"}
	copy(m.Nonce[:], nonce)
	h := m.Hash()
	if hex.EncodeToString(h[:]) != "0198ecdf67dae6002236d212f4446cfc8ca66639f204caeacd5ef6f5c68d17fa" {
		t.Fatalf("NEP-413 hash %x", h)
	}
}

func TestWalletSigningAPIPassesThePolicyGate(t *testing.T) {
	w := testWallet(t)
	_, acct, unlock := testKeys(t)
	ctx := context.Background()
	sess := w.NewSession(SessionConfig{Caller: "agent:x", Unlock: unlock})
	sig, err := sess.SignPersonal(ctx, []byte("Hello World"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if addr, err := evm.RecoverAddress(PersonalHash([]byte("Hello World")), sig); err != nil || addr.Hex() != acct.EVM {
		t.Fatal("EIP-191 signature does not recover the wallet's address")
	}
	td, err := ParseTypedData([]byte(`{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"chainId","type":"uint256"}],"Ballot":[{"name":"proposalId","type":"uint256"},{"name":"support","type":"uint8"}]},"primaryType":"Ballot","domain":{"name":"DAO","chainId":"1"},"message":{"proposalId":"7","support":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	tsig, err := sess.SignTypedData(ctx, td, 0)
	if err != nil || len(tsig) != 65 {
		t.Fatal(err)
	}
	ssig, err := sess.SignSolanaMessage(ctx, []byte("login"), 0)
	if err != nil || !ed25519.Verify(b58(t, acct.Solana), []byte("login"), ssig) {
		t.Fatalf("solana message: %v", err)
	}
	m := NEP413Message{Message: "login", Recipient: "app.near"}
	nsig, err := sess.SignNEARMessage(ctx, m, 0)
	h := m.Hash()
	if err != nil || !ed25519.Verify(b58(t, strings.TrimPrefix(acct.NEARPublicKey, "ed25519:")), h[:], nsig) {
		t.Fatalf("NEAR message: %v", err)
	}
	// with approval required, a headless agent is refused and nothing unlocks
	w.setPolicy(Policy{ApproveMessages: true}, "test")
	unlocked := false
	sess = w.NewSession(SessionConfig{Caller: "agent:x", Unlock: func() (*Keys, error) { unlocked = true; return unlock() }})
	_, err = sess.SignPersonal(ctx, []byte("transfer everything"), 0)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no human is present") || unlocked {
		t.Fatalf("headless: %v unlocked=%v", err, unlocked)
	}
	// each signature: the decision, then the signed entry naming the
	// message by digest only; the refusal last, unsigned, with its rule
	log := audit(t, w)
	if len(log) != 10 {
		t.Fatalf("%d entries:\n%s", len(log), log)
	}
	first := log[1]
	if first.Action != "signed" || !first.Signed || first.Fields["message_sha256"] != ledger.SHA256(PersonalHash([]byte("Hello World"))) || log[0].Fields["message_sha256"] != first.Fields["message_sha256"] {
		t.Fatalf("signature entries %s\n%s", log[0], first)
	}
	last := log[len(log)-1]
	if last.Action != "refused" || last.Signed || last.Fields["request"] != "sign-message" || last.Fields["rule"] != RuleApproval || last.Principal != "agent:x" {
		t.Fatalf("refusal %+v", last)
	}
	for _, e := range log {
		if strings.Contains(fmt.Sprint(e.Fields), "transfer everything") || strings.Contains(fmt.Sprint(e.Fields), "Hello") {
			t.Fatalf("message text in the ledger: %s", e)
		}
	}
}
