package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sovos/sov/agents/dao/daotest"
)

// The shell's /votes on the real binary: after a rules-only delegate
// pass, the red-line draft is listed; a (once the grace is over) casts it
// through the same path as `sov dao vote ID --yes`, the hub receives the
// envelope and the list empties.
func TestTUIEndToEndVotes(t *testing.T) {
	x := newTUITmux(t)
	home := t.TempDir()
	if r := runSov(t, home, walletTestEnv, walletTestAbandon+"\n", "wallet", "import"); r.Code != 0 {
		t.Fatalf("import: %d %s", r.Code, r.Stderr)
	}
	hub := daotest.NewHub(t, daotest.ActiveProposal("0xp1", "Team allocation", "We will mint new tokens for the team.", 12*time.Hour))
	if r := runSov(t, home, nil, "", "dao", "policy", "new"); r.Code != 0 {
		t.Fatalf("policy new: %d %s", r.Code, r.Stderr)
	}
	if err := os.WriteFile(filepath.Join(home, "dao", "policy.toml"), []byte(daotest.Policy(daotest.PolicySpec{Hub: hub.URL})), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"dao", "alias", "authorize", "--yes"}, {"dao", "run", "--no-model"}} {
		if r := runSov(t, home, walletTestEnv, "", args...); r.Code != 0 {
			t.Fatalf("%v: %d %s %s", args, r.Code, r.Stdout, r.Stderr)
		}
	}
	x.start("a", home, walletTestEnv)
	x.waitFor("a", `Message, or /help`, 20*time.Second)
	x.keys("a", "/votes", "Enter")
	x.waitFor("a", `Pending votes · 1 to decide(?s:.*)Team allocation(?s:.*)draft: Against`, 10*time.Second)
	time.Sleep(700 * time.Millisecond) // the grace after opening
	x.keys("a", "a")
	x.waitFor("a", `Voted Against on "Team allocation"(?s:.*)Nothing waits for you`, 20*time.Second)
	if n := len(hub.Envelopes()); n != 2 { // the alias, the vote
		t.Fatalf("%d envelopes", n)
	}
	x.keys("a", "Escape")
	time.Sleep(300 * time.Millisecond) // an Escape then ctrl+c at once reads as alt+ctrl+c
	x.keys("a", "C-c")
	x.waitFor("a", `SOV-EXIT=0`, 10*time.Second)
}
