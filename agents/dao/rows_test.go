package dao_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/agents/dao/daotest"
)

// TestRowsAndFind: before a run the rows carry the rules' triage (a red
// line settles at once, an open question has none); after it, the stored
// decisions. Find resolves a prefix and returns the stored decision.
func TestRowsAndFind(t *testing.T) {
	f := newFixture(t, scripted{`{"policy_clauses":[],"rationale":"No clause.","choice":3,"confidence":90}`},
		daotest.ActiveProposal("0xp1", "Team allocation", "We will mint new tokens for the team.", 24*time.Hour),
		daotest.ActiveProposal("0xp2", "Rename the forum", "Cosmetic.", 12*time.Hour),
	)
	ctx := context.Background()
	if rows, err := f.d.Rows(); err != nil || len(rows) != 0 {
		t.Fatalf("before sync: %v %v", rows, err)
	}
	if _, err := f.d.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := f.d.Rows()
	if err != nil || len(rows) != 2 {
		t.Fatalf("rows %+v %v", rows, err)
	}
	if rows[0].ID != "0xp2" || rows[1].ID != "0xp1" {
		t.Fatalf("not by end time: %s, %s", rows[0].ID, rows[1].ID)
	}
	if rows[0].Decision != nil || rows[1].Decision == nil || rows[1].Decision.Choice == nil || rows[1].Decision.Choice.Index != 2 {
		t.Fatalf("triage: %+v / %+v", rows[0].Decision, rows[1].Decision)
	}
	if act, ch := rows[0].Status(); act != "undecided" || ch != "" {
		t.Fatalf("open row: %s %q", act, ch)
	}
	if act, ch := rows[1].Status(); act != string(rows[1].Decision.Action) || ch != "Against" {
		t.Fatalf("red-line row: %s %q", act, ch)
	}
	voted := rows[1]
	voted.Votes = []dao.VoteRecord{{}}
	if act, _ := voted.Status(); act != "voted" {
		t.Fatalf("voted row: %s", act)
	}
	p, dec, err := f.d.Find("0xp2")
	if err != nil || p.ID != "0xp2" || dec != nil {
		t.Fatalf("find before run: %+v %+v %v", p, dec, err)
	}
	if _, err := f.d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, dec, err = f.d.Find("0xp2"); err != nil || dec == nil || dec.By != "model" {
		t.Fatalf("find after run: %+v %v", dec, err)
	}
	if rows, err = f.d.Rows(); err != nil || rows[0].Decision == nil || rows[0].Decision.By != "model" {
		t.Fatalf("rows after run: %+v %v", rows, err)
	}
	if _, _, err := f.d.Find("0xnone"); !errors.Is(err, dao.ErrUnknownProposal) {
		t.Fatalf("unknown: %v", err)
	}
}
