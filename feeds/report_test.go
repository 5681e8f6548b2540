package feeds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/feeds/nostr"
	"github.com/sovos/sov/feeds/relaytest"
)

// Library errors are typed so callers can add their own fix; none names
// a command-line flag or command.
func TestFeedsErrorsTyped(t *testing.T) {
	s := openTestStore(t)
	sk := newKey(t)
	other := strings.Repeat("ab", 32)
	var notTrusted *NotTrustedError
	_, _, getShort := s.Get("ab")
	_, _, getNone := s.Get("abcdef")
	_, syncNone := s.Sync(context.Background(), FetchOptions{})
	_, noName := s.Trust("not even a key", " ", nil) // the name is checked first
	_, badCID := s.AddSource(Source{URL: "ipfs://nope"})
	tests := []struct {
		name   string
		err    error
		target error
	}{
		{"trust without a name", noName, ErrNoName},
		{"short id", getShort, ErrShortID},
		{"no item", getNone, ErrNoItem},
		{"no source", s.RemoveSource("http://x"), ErrNoSource},
		{"no sources", syncNone, ErrNoSources},
		{"bad cid", badCID, ErrBadCID},
		{"empty passphrase", func() error { _, err := Keygen(t.TempDir(), nil, fastKDF()); return err }(), ErrEmptyPassphrase},
		{"no key", func() error { _, err := PublicKey(t.TempDir()); return err }(), ErrNoKey},
		{"no title", func() error { _, err := NewArticle(sk, Article{Title: " ", Body: "b"}, testNow); return err }(), ErrNoTitle},
		{"bad author", func() error { _, err := s.EventsBy("zz"); return err }(), ErrBadAuthor},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.target) {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.target)
		}
		if tt.err != nil && (strings.Contains(tt.err.Error(), "--") || strings.Contains(tt.err.Error(), "sov feeds")) {
			t.Errorf("%s: %q names a flag or command", tt.name, tt.err)
		}
	}
	if err := s.Untrust(other); !errors.As(err, &notTrusted) || notTrusted.Key != other {
		t.Errorf("untrust: %v", err)
	}
	relay := relaytest.New()
	defer relay.Close()
	if _, err := s.SyncSource(context.Background(), Source{URL: relay.URL(), Type: SourceRelay}, FetchOptions{}); !errors.Is(err, ErrNoTrustedKeys) {
		t.Errorf("relay without trusted keys: %v", err)
	}
}

// CreateKey seals a key, trusts it, and asks for the passphrase once;
// PublishFile checks the title before reading the file and the key before
// asking, and sends to the configured targets when none are given.
func TestFeedsCreateKeyAndPublishFile(t *testing.T) {
	relay := relaytest.New()
	defer relay.Close()
	events := filepath.Join(t.TempDir(), "events.jsonl")
	s, err := Open(t.TempDir(), Options{NoSync: true, Config: Config{Relays: []string{relay.URL()}, EventsFile: events}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	asked := 0
	pass := func() ([]byte, error) { asked++; return []byte("pw"), nil }
	md := filepath.Join(t.TempDir(), "a.md")
	os.WriteFile(md, []byte("# Hello\n\nBody.\n"), 0o600)
	if _, _, err := s.PublishFile(context.Background(), "/no/such.md", Article{}, pass, PublishTargets{}); !errors.Is(err, ErrNoTitle) || asked != 0 {
		t.Fatalf("no title: %v (asked %d)", err, asked)
	}
	if _, _, err := s.PublishFile(context.Background(), md, Article{Title: "Hello"}, pass, PublishTargets{}); !errors.Is(err, ErrNoKey) || asked != 0 {
		t.Fatalf("no key: %v (asked %d)", err, asked)
	}
	pub, err := s.CreateKey("Me", nil, pass)
	if err != nil || asked != 1 {
		t.Fatalf("create key: %v (asked %d)", err, asked)
	}
	if keys, _ := s.Keys(); len(keys) != 1 || keys[0].Key != pub || keys[0].Name != "Me" {
		t.Fatalf("key not trusted: %+v", keys)
	}
	if _, err := s.CreateKey("Me", nil, pass); err == nil {
		t.Fatal("a second key replaced the first")
	}
	ev, rep, err := s.PublishFile(context.Background(), md, Article{Title: "Hello"}, pass, PublishTargets{})
	if err != nil || ev == nil || ev.PubKey != pub || len(rep.Targets) != 2 || relay.Count() != 1 {
		t.Fatalf("publish: %+v %+v %v", ev, rep, err)
	}
	if _, err := os.Stat(events); err != nil {
		t.Fatalf("configured events file not written: %v", err)
	}
	// An explicit empty relay list overrides the configured one.
	if _, rep, err := s.PublishFile(context.Background(), md, Article{Title: "Hello", Slug: "two"}, pass, PublishTargets{Relays: []string{}, EventsFile: filepath.Join(t.TempDir(), "e")}); err != nil || len(rep.Targets) != 1 {
		t.Fatalf("explicit targets: %+v %v", rep, err)
	}
	// The wallet's key, given as the secret, becomes the identity.
	sk := newKey(t)
	s2, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got, err := s2.CreateKey("W", sk.Bytes(), pass); err != nil || got != sk.PublicKey() {
		t.Fatalf("create from secret: %s %v", got, err)
	}
}

func TestFeedsEventsByAndConfiguredGateway(t *testing.T) {
	s, err := Open(t.TempDir(), Options{Now: func() time.Time { return testNow }, NoSync: true, Config: Config{Gateways: []string{"http://127.0.0.1:1"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, b := newKey(t), newKey(t)
	trust(t, s, a, "A")
	trust(t, s, b, "B")
	in, err := s.NewIngester("test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.IngestEvents(context.Background(), []*nostr.Event{note(t, a, "one", testNow.Add(-2*time.Hour)), note(t, b, "two", testNow.Add(-time.Hour))}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		author string
		want   int
	}{{"", 2}, {nostr.Npub(a.PublicKey()), 1}, {b.PublicKey(), 1}} {
		evs, err := s.EventsBy(tt.author)
		if err != nil || len(evs) != tt.want {
			t.Errorf("EventsBy(%q): %d events, %v", tt.author, len(evs), err)
		}
	}
	if _, err := s.EventsBy("zz"); err == nil {
		t.Error("a bad author key was accepted")
	}
	empty, _ := Open(t.TempDir(), Options{NoSync: true})
	defer empty.Close()
	if evs, err := empty.EventsBy(""); err != nil || evs == nil {
		t.Errorf("no events: %v %v (want an empty, non-nil slice)", evs, err)
	}
	src, err := s.AddSource(Source{URL: "ipfs://bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"})
	if err != nil || len(src.Gateway) != 1 {
		t.Fatalf("configured gateway not used: %+v %v", src, err)
	}
}

func TestFeedsSyncReport(t *testing.T) {
	res := []SyncResult{
		{Source: Source{URL: "wss://a", Type: SourceRelay}, Counts: Counts{Seen: 2, New: 2, Verified: 2}},
		{Source: Source{URL: "http://b\x1b[2J", Type: SourceHTTP}, Err: errors.New("boom")},
	}
	var fe *SyncFailedError
	if err := SyncErr(res); !errors.As(err, &fe) || fe.Failed != 1 || fe.Total != 2 {
		t.Fatalf("SyncErr: %v", err)
	}
	if err := SyncErr(res[:1]); err != nil {
		t.Fatalf("SyncErr without failures: %v", err)
	}
	raw, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	json.Unmarshal(raw, &rows)
	if len(rows) != 2 || rows[0]["source"] != "wss://a" || rows[0]["type"] != "relay" || rows[1]["error"] != "boom" || rows[0]["error"] != nil {
		t.Fatalf("sync JSON: %s", raw)
	}
	var buf bytes.Buffer
	RenderSync(&buf, res)
	if !strings.Contains(buf.String(), "wss://a: ") || strings.Contains(buf.String(), "\x1b") {
		t.Fatalf("render:\n%q", buf.String())
	}
}

// The text views drop control characters from feed-supplied text.
func TestFeedsRender(t *testing.T) {
	sk := newKey(t)
	it := Item{ID: strings.Repeat("a", 64), Publisher: "Evil\x1b]0;pwned\x07 Corp", Kind: nostr.KindArticle, Title: "Title\twith tab",
		Created: testNow, CID: "bafk", Verified: false, PubKey: sk.PublicKey(), Topics: []string{"x"}, Content: "body \x1b[31mred"}
	var buf bytes.Buffer
	if err := RenderItems(&buf, []Item{it}); err != nil {
		t.Fatal(err)
	}
	it.Render(&buf)
	keys := []TrustedKey{{Key: sk.PublicKey(), Type: "nostr", Name: "N\x1b[2Jame"}, {Key: "RWmini", Type: "minisign", Name: "M"}}
	if err := RenderKeys(&buf, keys); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Fatalf("control characters reach the terminal:\n%q", out)
	}
	for _, want := range []string{"aaaaaaaaaaaa  ", "UNVERIFIED", "article", "key: npub1", "body red", nostr.Npub(sk.PublicKey()), "RWmini"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	for k, want := range map[int]string{nostr.KindArticle: "article", nostr.KindShortNote: "note", -1: "feed", 7: "7"} {
		if got := KindName(k); got != want {
			t.Errorf("KindName(%d) = %q, want %q", k, got, want)
		}
	}
}

// The views of sources, a publish and an item with its event.
func TestFeedsRenderSourcesPublishItemEvent(t *testing.T) {
	var buf bytes.Buffer
	RenderSources(&buf, []Source{{URL: "wss://r\x1b[2J", Type: SourceRelay}, {URL: "http://h/e.jsonl", Type: SourceHTTP}})
	if got := buf.String(); got != "relay  wss://r\nhttp   http://h/e.jsonl\n" {
		t.Fatalf("sources:\n%q", got)
	}
	buf.Reset()
	PublishReport{}.Write(&buf)
	if buf.Len() != 0 {
		t.Fatalf("nothing signed, yet: %q", buf.String())
	}
	ev := note(t, newKey(t), "hello", testNow)
	cid, _ := EventCID(ev.ID)
	PublishReport{Event: ev, Targets: []string{"wss://r", "/tmp/e\x07.jsonl"}}.Write(&buf)
	if want := "published " + ev.ID + "\ncid: " + cid.String() + "\nsent to wss://r\nsent to /tmp/e.jsonl\n"; buf.String() != want {
		t.Fatalf("publish:\n%q\nwant\n%q", buf.String(), want)
	}
	for _, tt := range []struct {
		ie        ItemEvent
		withEvent bool
	}{{ItemEvent{Item: Item{ID: "x"}}, false}, {ItemEvent{Item: Item{ID: "x"}, Event: ev}, true}} {
		raw, err := json.Marshal(tt.ie)
		var got map[string]json.RawMessage
		if err != nil || json.Unmarshal(raw, &got) != nil {
			t.Fatalf("item JSON: %s %v", raw, err)
		}
		if _, ok := got["event"]; ok != tt.withEvent || !strings.Contains(string(got["item"]), `"id":"x"`) {
			t.Errorf("item JSON: %s", raw)
		}
	}
}

// TestSyncErrRejected: rejected items give a *RejectedError, a failed
// source still wins, and a clean run is nil.
func TestSyncErrRejected(t *testing.T) {
	bad := Counts{Rejected: map[Reason]int{RejectIDMismatch: 2}}
	var re *RejectedError
	if err := SyncErr([]SyncResult{{}, {Counts: bad}}); !errors.As(err, &re) || re.N != 2 {
		t.Errorf("SyncErr with rejections = %v", err)
	}
	var fe *SyncFailedError
	if err := SyncErr([]SyncResult{{Err: errors.New("x")}, {Counts: bad}}); !errors.As(err, &fe) {
		t.Errorf("SyncErr with a failure = %v", err)
	}
	if err := SyncErr([]SyncResult{{Counts: Counts{New: 3}}}); err != nil {
		t.Errorf("clean SyncErr = %v", err)
	}
	if (Counts{}).Err() != nil || bad.Err() == nil {
		t.Error("Counts.Err")
	}
}

// TestServeInfoExposed: only loopback addresses count as private.
func TestServeInfoExposed(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8089": false, "127.3.2.1:1": false, "[::1]:8089": false,
		"0.0.0.0:8089": true, "[::]:8089": true, "192.168.1.5:80": true, "example.org:80": true, "nonsense": true,
	} {
		if got := (ServeInfo{Addr: addr}).Exposed(); got != want {
			t.Errorf("Exposed(%s) = %v, want %v", addr, got, want)
		}
	}
}
