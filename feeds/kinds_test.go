package feeds

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/feeds/nostr"
)

func signed(t testing.TB, sk *nostr.SecretKey, kind int, content string, tags [][]string, at time.Time) *nostr.Event {
	t.Helper()
	if tags == nil {
		tags = [][]string{}
	}
	ev := &nostr.Event{CreatedAt: at.Unix(), Kind: kind, Tags: tags, Content: content}
	if err := sk.Sign(ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func listedIDs(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	items, err := s.List(ListOptions{Unverified: true})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, it := range items {
		ids[it.ID] = true
	}
	return ids
}

func TestFeedsNonNewsKindsIgnored(t *testing.T) {
	s := openTestStore(t)
	alice := newKey(t)
	trust(t, s, alice, "Alice")
	at := testNow.Add(-time.Hour)
	art, n := article(t, alice, "a", "Tides", at), note(t, alice, "hello", at)
	dm := signed(t, alice, 4, "ciphertext?iv=x", [][]string{{"p", alice.PublicKey()}}, at)
	reaction := signed(t, alice, 7, "+", [][]string{{"e", art.ID}}, at)
	contacts := signed(t, alice, 3, "", [][]string{{"p", alice.PublicKey()}}, at)
	c, err := s.Ingest(context.Background(), "test", raws(art, n, dm, reaction, contacts))
	if err != nil {
		t.Fatal(err)
	}
	if c.New != 2 || c.Ignored[4] != 1 || c.Ignored[7] != 1 || c.Ignored[3] != 1 {
		t.Fatalf("counts %+v", c)
	}
	if got := c.String(); !strings.Contains(got, "ignored (kind 3) 1, ignored (kind 4) 1, ignored (kind 7) 1") {
		t.Fatalf("report %q", got)
	}
	ids := listedIDs(t, s)
	if len(ids) != 2 || !ids[art.ID] || !ids[n.ID] {
		t.Fatalf("listed %v", ids)
	}
}

// A database written before kinds were checked may hold a DM: it is not
// listed.
func TestFeedsLegacyNonNewsNotListed(t *testing.T) {
	s := openTestStore(t)
	alice := newKey(t)
	trust(t, s, alice, "Alice")
	dm := signed(t, alice, 4, "secret", nil, testNow.Add(-time.Hour))
	c, err := s.Ingest(context.Background(), "test", raws(dm))
	if err != nil || c.New != 0 {
		t.Fatalf("%+v %v", c, err)
	}
	// Store it the way the old code did.
	rec, _ := json.Marshal(record{Event: dm.Marshal(), Source: "legacy"})
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bEvents).Put([]byte(dm.ID), rec)
	}); err != nil {
		t.Fatal(err)
	}
	if ids := listedIDs(t, s); len(ids) != 0 {
		t.Fatalf("legacy DM listed: %v", ids)
	}
	if _, _, err := s.Get(dm.ID[:12]); err == nil {
		t.Fatal("legacy DM shown by Get")
	}
}

func TestFeedsDeletions(t *testing.T) {
	alice, mallory := newKey(t), newKey(t)
	at := testNow.Add(-2 * time.Hour)
	later := testNow.Add(-time.Hour)
	art := article(t, alice, "tides", "Tides", at)
	n := note(t, alice, "a note", at)
	addr := func(sk *nostr.SecretKey, slug string) string {
		return "30023:" + sk.PublicKey() + ":" + slug
	}
	tests := []struct {
		name      string
		delFirst  bool
		by        *nostr.SecretKey
		tags      func() [][]string
		delAt     time.Time
		wantGone  []string
		wantStays []string
	}{
		{"e tags by author", false, alice, func() [][]string { return [][]string{{"e", art.ID}, {"e", n.ID}} }, later, []string{art.ID, n.ID}, nil},
		{"a tag by author", false, alice, func() [][]string { return [][]string{{"a", addr(alice, "tides")}} }, later, []string{art.ID}, []string{n.ID}},
		{"a tag older than article", false, alice, func() [][]string { return [][]string{{"a", addr(alice, "tides")}} }, at.Add(-time.Minute), nil, []string{art.ID, n.ID}},
		{"by someone else", false, mallory, func() [][]string {
			return [][]string{{"e", art.ID}, {"e", n.ID}, {"a", addr(alice, "tides")}}
		}, later, nil, []string{art.ID, n.ID}},
		{"deletion first, e tags", true, alice, func() [][]string { return [][]string{{"e", art.ID}, {"e", n.ID}} }, later, []string{art.ID, n.ID}, nil},
		{"deletion first, a tag", true, alice, func() [][]string { return [][]string{{"a", addr(alice, "tides")}} }, later, []string{art.ID}, []string{n.ID}},
		{"deletion first by someone else", true, mallory, func() [][]string { return [][]string{{"e", art.ID}} }, later, nil, []string{art.ID, n.ID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestStore(t)
			trust(t, s, alice, "Alice")
			trust(t, s, mallory, "Mallory")
			del := signed(t, tc.by, nostr.KindDeletion, "", tc.tags(), tc.delAt)
			batches := [][]*nostr.Event{{art, n}, {del}}
			if tc.delFirst {
				batches[0], batches[1] = batches[1], batches[0]
			}
			var total Counts
			for _, b := range batches {
				c, err := s.Ingest(context.Background(), "test", raws(b...))
				if err != nil {
					t.Fatal(err)
				}
				total.Add(c)
			}
			// A copy arriving again later stays deleted.
			c, err := s.Ingest(context.Background(), "again", raws(art, n))
			if err != nil {
				t.Fatal(err)
			}
			total.Add(c)
			ids := listedIDs(t, s)
			for _, id := range tc.wantGone {
				if ids[id] {
					t.Errorf("%s still listed", id[:12])
				}
				if _, err := s.Event(id); err == nil {
					t.Errorf("%s still stored", id[:12])
				}
			}
			for _, id := range tc.wantStays {
				if !ids[id] {
					t.Errorf("%s not listed", id[:12])
				}
			}
			if len(ids) != len(tc.wantStays) {
				t.Errorf("listed %d items, want %d", len(ids), len(tc.wantStays))
			}
			if tc.delFirst && total.Withdrawn < len(tc.wantGone) || total.RejectedTotal() != 0 {
				t.Errorf("counts %+v", total)
			}
			if !tc.delFirst && total.Deleted != len(tc.wantGone) {
				t.Errorf("deleted %d, want %d", total.Deleted, len(tc.wantGone))
			}
		})
	}
}

// A newer version of a deleted address is not covered by the deletion.
func TestFeedsDeletionKeepsNewerVersion(t *testing.T) {
	s := openTestStore(t)
	alice := newKey(t)
	trust(t, s, alice, "Alice")
	del := signed(t, alice, nostr.KindDeletion, "", [][]string{{"a", "30023:" + alice.PublicKey() + ":tides"}}, testNow.Add(-2*time.Hour))
	newer := article(t, alice, "tides", "Tides v2", testNow.Add(-time.Hour))
	if _, err := s.Ingest(context.Background(), "test", raws(del, newer)); err != nil {
		t.Fatal(err)
	}
	if ids := listedIDs(t, s); !ids[newer.ID] {
		t.Fatal("newer version hidden by an older deletion")
	}
}

func TestFeedsProfileNames(t *testing.T) {
	s := openTestStore(t)
	alice, bob := newKey(t), newKey(t)
	trust(t, s, alice, "Alice")
	at := testNow.Add(-time.Hour)
	old := signed(t, alice, nostr.KindMetadata, `{"name":"old"}`, nil, at.Add(-time.Hour))
	prof := signed(t, alice, nostr.KindMetadata, `{"name":"alice","display_name":"Bob\u001b[31m   Corp`+strings.Repeat("x", 60)+`"}`, nil, at)
	art := article(t, alice, "a", "Tides", at)
	// Bob is not trusted: his profile is rejected like any event of his.
	bobProf := signed(t, bob, nostr.KindMetadata, `{"name":"Alice"}`, nil, at)
	c, err := s.Ingest(context.Background(), "test", raws(prof, old, art, bobProf))
	if err != nil {
		t.Fatal(err)
	}
	if c.Rejected[RejectUntrusted] != 1 {
		t.Fatalf("counts %+v", c)
	}
	items, err := s.List(ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 {
		t.Fatalf("listed %d items (profiles are not news)", len(items))
	}
	it := items[0]
	if it.Publisher != "Alice" {
		t.Fatalf("publisher %q: a profile replaced the trusted name", it.Publisher)
	}
	if strings.ContainsRune(it.Profile, 0x1b) || !strings.HasPrefix(it.Profile, "Bob") || !strings.Contains(it.Profile, "Corp") || len([]rune(it.Profile)) != maxProfileName {
		t.Fatalf("profile %q", it.Profile)
	}
	if l := it.PublisherLabel(); !strings.HasPrefix(l, `Alice (profile: "Bob`) {
		t.Fatalf("label %q", l)
	}
	var buf bytes.Buffer
	if err := RenderItems(&buf, items); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `Alice (profile: "Bob`) {
		t.Fatalf("ls:\n%s", buf.String())
	}
	// Untrusted now: no profile, no name.
	if err := s.Untrust(alice.PublicKey()); err != nil {
		t.Fatal(err)
	}
	items, _ = s.List(ListOptions{Unverified: true})
	if len(items) != 1 || items[0].Profile != "" || items[0].PublisherLabel() == "Alice" {
		t.Fatalf("untrusted: %+v", items)
	}
}

func TestFeedsProfileNameTable(t *testing.T) {
	sk := newKey(t)
	for _, tc := range []struct{ content, want string }{
		{`{"display_name":"Dee","name":"dee"}`, "Dee"},
		{`{"display_name":"  ","name":"dee"}`, "dee"},
		{`{"name":"a\nb\tc"}`, "a b c"},
		{`not json`, ""},
		{`{}`, ""},
	} {
		if got := profileName(signed(t, sk, 0, tc.content, nil, testNow)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.content, got, tc.want)
		}
	}
	if got := (Item{Publisher: "Alice", Profile: "Alice"}).PublisherLabel(); got != "Alice" {
		t.Errorf("same name: %q", got)
	}
}
