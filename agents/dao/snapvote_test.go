package dao_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/agents/dao/daotest"
	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/internal/seal"
	"github.com/sovos/sov/wallet"
	"github.com/sovos/sov/wallet/wallettest"
)

// testWallet is the Abandon wallet in a temporary folder with a headless
// session (nobody approves) and its two addresses.
func testWallet(t *testing.T) (s *wallet.Session, main, alias string) {
	t.Helper()
	w := wallet.New(t.TempDir(), wallet.WithLedger(ledger.Open(t.TempDir())), wallet.WithStoreOptions(wallet.WithKDF(func() (seal.KDF, error) { return seal.FastKDF(), nil })))
	if _, err := w.Store().Create(wallettest.Abandon, "", []byte(wallettest.Pass), false); err != nil {
		t.Fatal(err)
	}
	s = w.NewSession(wallet.SessionConfig{Caller: "test", Unlock: w.Store().Unlocker(func() ([]byte, error) { return []byte(wallettest.Pass), nil })})
	m, err := s.Accounts(dao.MainIndex)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Accounts(dao.AliasIndex)
	if err != nil {
		t.Fatal(err)
	}
	return s, m.EVM, a.EVM
}

func openProposal(id string, typ dao.VotingType, choices ...string) dao.Proposal {
	now := time.Now()
	return dao.Proposal{Source: dao.SourceSnapshot, Space: "sov.eth", ID: id, Title: "t", Type: typ, Choices: choices,
		Start: now.Add(-time.Hour), End: now.Add(time.Hour), State: "active"}
}

// TestSnapshotEnvelopesVerifyWithSnapshotJS: the alias authorisation and
// a vote of every voting type pass snapshot.js's own checks (known types
// hash, signature, the alias authorised by the main address).
func TestSnapshotEnvelopesVerifyWithSnapshotJS(t *testing.T) {
	s, main, alias := testWallet(t)
	if strings.EqualFold(main, alias) {
		t.Fatal("alias is the main account")
	}
	hub := daotest.NewHub(t)
	v := &dao.SnapshotVoter{Hub: &dao.Hub{URL: hub.URL}, Signer: s, From: main, Alias: alias}
	ctx := context.Background()
	if _, _, err := v.Authorize(ctx); err != nil {
		t.Fatal(err)
	}
	yn := []string{"For", "Against", "Abstain"}
	votes := []struct {
		p dao.Proposal
		c string
	}{
		{openProposal("0x"+strings.Repeat("a1", 32), dao.SingleChoice, yn...), "2"},
		{openProposal("0x"+strings.Repeat("a2", 32), dao.Basic, yn...), "For"},
		{openProposal("0x"+strings.Repeat("a3", 32), dao.Approval, "A", "B", "C"), "1,3"},
		{openProposal("0x"+strings.Repeat("a4", 32), dao.RankedChoice, "A", "B", "C"), "3,1,2"},
		{openProposal("0x"+strings.Repeat("a5", 32), dao.Weighted, "A", "B", "C"), "1=2,3=1"},
		{openProposal("0x"+strings.Repeat("a6", 32), dao.Quadratic, "A", "B"), "2=5"},
	}
	for _, tc := range votes {
		c, err := dao.ParseChoice(tc.p, tc.c)
		if err != nil {
			t.Fatalf("%s %q: %v", tc.p.Type, tc.c, err)
		}
		r, err := v.Vote(ctx, tc.p, c, "rationale for "+string(tc.p.Type))
		if err != nil {
			t.Fatalf("%s: %v", tc.p.Type, err)
		}
		if !strings.EqualFold(r.Signer, alias) || r.ID == "" || len(r.Digest) != 64 {
			t.Fatalf("%s: receipt %+v", tc.p.Type, r)
		}
	}
	envs := hub.Envelopes()
	if len(envs) != 1+len(votes) {
		t.Fatalf("%d envelopes", len(envs))
	}
	want := []string{"alias", "vote", "vote", "vote-array", "vote-array", "vote-string", "vote-string"}
	for i, vd := range daotest.Verify(t, envs) {
		if !vd.OK || vd.Kind != want[i] {
			t.Errorf("envelope %d: %+v (want kind %s)\n%s", i, vd, want[i], envs[i])
		}
	}
	// The verifier is not a rubber stamp: a vote whose alias was never
	// authorised, and one with its choice changed after signing, fail.
	var tampered map[string]any
	json.Unmarshal(envs[1], &tampered)
	tampered["data"].(map[string]any)["message"].(map[string]any)["choice"] = 1
	bad, _ := json.Marshal(tampered)
	for i, vd := range daotest.Verify(t, []json.RawMessage{envs[2], bad}) {
		if vd.OK {
			t.Errorf("bad envelope %d passed: %+v", i, vd)
		}
	}
}

func TestVoteRefusedOutsideTheWindowAndForInvalidChoices(t *testing.T) {
	s, main, alias := testWallet(t)
	hub := daotest.NewHub(t)
	v := &dao.SnapshotVoter{Hub: &dao.Hub{URL: hub.URL}, Signer: s, From: main, Alias: alias}
	p := openProposal("0x01", dao.SingleChoice, "For", "Against")
	closed := p
	closed.End = time.Now().Add(-time.Minute)
	if _, err := v.Vote(context.Background(), closed, dao.Choice{Type: dao.SingleChoice, Index: 1}, "r"); !errors.Is(err, dao.ErrClosed) {
		t.Fatalf("closed: %v", err)
	}
	if _, err := v.Vote(context.Background(), p, dao.Choice{Type: dao.SingleChoice, Index: 3}, "r"); !errors.Is(err, dao.ErrInvalidChoice) {
		t.Fatalf("choice 3 of 2: %v", err)
	}
	if n := len(hub.Envelopes()); n != 0 {
		t.Fatalf("%d envelopes posted", n)
	}
}
