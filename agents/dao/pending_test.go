package dao_test

import (
	"context"
	"testing"
	"time"

	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/agents/dao/daotest"
)

func keys(qs []dao.Queued) []string {
	var out []string
	for _, q := range qs {
		out = append(out, q.Proposal.ID)
	}
	return out
}

// TestPendingAndDismiss: after a run, Pending holds the drafts (queued)
// and the grant whose review window has not begun (waiting); a dismissed
// proposal leaves it, is recorded, and later runs count it skipped rather
// than queue it; a vote takes a proposal out too.
func TestPendingAndDismiss(t *testing.T) {
	f := newFixture(t, scripted{`{"policy_clauses":["treasury-over-1m"],"rationale":"Over 1M and no audit.","choice":2,"confidence":90}`},
		daotest.ActiveProposal("0xp1", "Public goods grant: documentation", "10k for docs.", 72*time.Hour),
		daotest.ActiveProposal("0xp2", "Spend 2M from the treasury on marketing", "No audit.", 12*time.Hour),
		daotest.ActiveProposal("0xp3", "Team allocation", "We will mint new tokens for the team.", 24*time.Hour),
	)
	ctx := context.Background()
	if q, w, err := f.d.Pending(); err != nil || len(q)+len(w) != 0 {
		t.Fatalf("before a run: %v %v %v", q, w, err)
	}
	if _, err := f.d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	q, w, err := f.d.Pending()
	if err != nil || len(q) != 2 || len(w) != 1 || q[0].Proposal.ID != "0xp2" || q[1].Proposal.ID != "0xp3" || w[0].Proposal.ID != "0xp1" {
		t.Fatalf("pending: %v %v %v", keys(q), keys(w), err)
	}
	if q[0].Decision.Action != dao.Draft || q[0].Decision.Choice == nil || q[0].Decision.Choice.Index != 2 {
		t.Fatalf("draft: %+v", q[0].Decision)
	}
	before := len(f.rec.recs)
	if p, err := f.d.Dismiss(ctx, "0xp2"); err != nil || p.ID != "0xp2" {
		t.Fatal(p, err)
	}
	if _, err := f.d.Dismiss(ctx, "0xp2"); err != nil { // again: nothing more
		t.Fatal(err)
	}
	if n := len(f.rec.recs) - before; n != 1 || f.rec.recs[before].Fields["action"] != "dismiss" || f.rec.recs[before].Fields["by"] != "user" {
		t.Fatalf("%d ledger entries for the dismissal: %+v", n, f.rec.recs[before:])
	}
	if q, w, _ = f.d.Pending(); len(q) != 1 || q[0].Proposal.ID != "0xp3" || len(w) != 1 {
		t.Fatalf("after dismiss: %v %v", keys(q), keys(w))
	}
	rep, err := f.d.Run(ctx)
	if err != nil || len(rep.Queued) != 1 || rep.Queued[0].Proposal.ID != "0xp3" || rep.Skipped != 1 {
		t.Fatalf("run after dismiss: %+v %v", rep, err)
	}
	if _, err := f.d.Dismiss(ctx, "0xnone"); err == nil {
		t.Fatal("dismissed an unknown proposal")
	}
	if _, err := f.d.AuthorizeAlias(ctx, f.v); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.d.Vote(ctx, "0xp3", nil); err != nil {
		t.Fatal(err)
	}
	if q, w, _ = f.d.Pending(); len(q) != 0 || len(w) != 1 {
		t.Fatalf("after the vote: %v %v", keys(q), keys(w))
	}
	// The user may still vote on what they set aside.
	if _, vr, err := f.d.Vote(ctx, "0xp2", &dao.Choice{Type: dao.Basic, Index: 1}); err != nil || vr.By != "user" {
		t.Fatal(vr, err)
	}
}
