package dao

import (
	"strings"
	"testing"
	"time"
)

// The public log's note: one slug per proposal (a later vote replaces the
// earlier), the choice by its label, the rationale, and the proposal's
// title cleaned of terminal controls.
func TestNewVoteNote(t *testing.T) {
	p := Proposal{Source: SourceSnapshot, Space: "sov.eth", ID: "0xp1", Title: "Grant\x1b[2J for docs", Choices: []string{"For", "Against", "Abstain"}, Type: "basic"}
	v := VoteRecord{Choice: Choice{Type: "basic", Index: 1}, By: "auto", At: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC), Receipt: Receipt{ID: "0xabc", Signer: "0xdef"}}
	n := NewVoteNote(p, v, "Matches public-goods-grants.")
	again := NewVoteNote(p, VoteRecord{Choice: Choice{Type: "basic", Index: 2}, By: "user"}, "changed")
	other := NewVoteNote(Proposal{Source: SourceSnapshot, Space: "sov.eth", ID: "0xp2"}, v, "")
	for _, want := range []string{"choice: For", "cast by: auto", "receipt: 0xabc", "signer: 0xdef", "Matches public-goods-grants.", "> Grant for docs"} {
		if !strings.Contains(n.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, n.Body)
		}
	}
	if strings.ContainsRune(n.Body+n.Title, '\x1b') || n.Title != "Vote: Grant for docs" {
		t.Errorf("title %q", n.Title)
	}
	if n.Slug != again.Slug || n.Slug == other.Slug || !strings.HasPrefix(n.Slug, "sov-dao-vote-") {
		t.Errorf("slugs %s %s %s", n.Slug, again.Slug, other.Slug)
	}
}
