package feeds

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/feeds/nostr"
	"github.com/sovos/sov/feeds/relaytest"
	"github.com/sovos/sov/internal/config"
	"github.com/sovos/sov/internal/seal"
)

var testNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func openTestStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), Options{Now: func() time.Time { return testNow }, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newKey(t testing.TB) *nostr.SecretKey {
	t.Helper()
	sk, err := nostr.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

func article(t testing.TB, sk *nostr.SecretKey, slug, title string, at time.Time) *nostr.Event {
	t.Helper()
	ev := &nostr.Event{CreatedAt: at.Unix(), Kind: nostr.KindArticle, Content: "# " + title + "\n\nBody of " + title,
		Tags: [][]string{{"d", slug}, {"title", title}, {"summary", "about " + title}, {"t", "science"}}}
	if err := sk.Sign(ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func note(t testing.TB, sk *nostr.SecretKey, content string, at time.Time) *nostr.Event {
	t.Helper()
	ev := &nostr.Event{CreatedAt: at.Unix(), Kind: nostr.KindShortNote, Tags: [][]string{}, Content: content}
	if err := sk.Sign(ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func trust(t testing.TB, s *Store, sk *nostr.SecretKey, name string) {
	t.Helper()
	if _, err := s.Trust(nostr.Npub(sk.PublicKey()), name, []string{"science"}); err != nil {
		t.Fatal(err)
	}
}

func raws(evs ...*nostr.Event) [][]byte {
	var out [][]byte
	for _, e := range evs {
		out = append(out, e.Marshal())
	}
	return out
}

func TestFeedsIngestReasons(t *testing.T) {
	s := openTestStore(t)
	pub, stranger := newKey(t), newKey(t)
	trust(t, s, pub, "Pub")
	ctx := context.Background()
	base := testNow.Add(-time.Hour)

	good := article(t, pub, "a", "A", base)
	older := article(t, pub, "a", "A old", base.Add(-time.Minute)) // same d-tag, older
	tampered := *article(t, pub, "b", "B", base)
	tampered.Content += " (edited)"
	other := article(t, pub, "c", "C", base)
	sigSwap := *article(t, pub, "d", "D", base)
	sigSwap.Sig = other.Sig // a valid signature, but over a different id
	future := note(t, pub, "from the future", testNow.Add(2*time.Hour))
	untrusted := note(t, stranger, "hi", base)

	in := [][]byte{good.Marshal(), good.Marshal(), older.Marshal(), tampered.Marshal(), sigSwap.Marshal(),
		future.Marshal(), untrusted.Marshal(), []byte(`{"id":1}`), []byte("not json")}
	c, err := s.Ingest(ctx, "test", in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[Reason]int{RejectIDMismatch: 1, RejectBadSignature: 1, RejectFuture: 1, RejectUntrusted: 1, RejectMalformed: 2}
	for r, n := range want {
		if c.Rejected[r] != n {
			t.Errorf("%s: %d, want %d (%s)", r, c.Rejected[r], n, c)
		}
	}
	if c.New != 1 || c.Verified != 3 || c.Duplicate != 1 || c.Stale != 1 || c.Seen != len(in) || c.RejectedTotal() != 6 {
		t.Errorf("counts %+v", c)
	}
	items, err := s.List(ListOptions{Unverified: true})
	if err != nil || len(items) != 1 || items[0].ID != good.ID || !items[0].Verified || items[0].Publisher != "Pub" {
		t.Fatalf("stored %+v, %v", items, err)
	}
	// A newer version replaces the old one; the CID digest is the id.
	newer := article(t, pub, "a", "A v2", base.Add(time.Minute))
	if c, _ := s.Ingest(ctx, "test", raws(newer)); c.Updated != 1 || c.New != 0 {
		t.Fatalf("newer: %s", c)
	}
	items, _ = s.List(ListOptions{})
	if len(items) != 1 || items[0].ID != newer.ID || items[0].Title != "A v2" {
		t.Fatalf("after replace: %+v", items)
	}
	ec, _ := EventCID(newer.ID)
	if items[0].CID != ec.String() || items[0].BodyCID != RawCID([]byte(newer.Content)).String() {
		t.Fatalf("CIDs %s %s", items[0].CID, items[0].BodyCID)
	}
	blk, err := s.Blockstore().Get(ctx, ec)
	if err != nil || !bytes.Equal(blk.RawData(), newer.Serialize()) {
		t.Fatalf("event block: %v", err)
	}
	// Untrusting hides the events from the verified listing.
	if err := s.Untrust(pub.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if items, _ := s.List(ListOptions{}); len(items) != 0 {
		t.Fatalf("untrusted events still listed as verified: %+v", items)
	}
}

func TestFeedsTrustStore(t *testing.T) {
	s := openTestStore(t)
	sk := newKey(t)
	tests := []struct {
		key, name string
		ok        bool
	}{
		{sk.PublicKey(), "Hex", true},
		{nostr.Npub(sk.PublicKey()), "Npub", true},
		{"npub1qqqq", "Bad", false},
		{strings.Repeat("z", 64), "Bad", false},
		{sk.PublicKey(), "", false},
	}
	for _, tt := range tests {
		_, err := s.Trust(tt.key, tt.name, []string{"a, B", "c"})
		if (err == nil) != tt.ok {
			t.Errorf("Trust(%q,%q) err=%v", tt.key, tt.name, err)
		}
	}
	keys, _ := s.Keys()
	if len(keys) != 1 || keys[0].Name != "Npub" || strings.Join(keys[0].Topics, ",") != "a,b,c" {
		t.Fatalf("keys %+v", keys)
	}
	if err := s.Untrust("ab"); err == nil {
		t.Fatal("untrusting an unknown key succeeded")
	}
}

func TestFeedsSplitEvents(t *testing.T) {
	sk := newKey(t)
	e1, e2 := note(t, sk, "one, [two] {3} \"q\"", testNow), note(t, sk, "two", testNow)
	big := `{"content":"` + strings.Repeat("x", nostr.MaxEventSize+10) + `"}`
	tests := []struct {
		name   string
		in     string
		good   int
		errors int
	}{
		{"array", "[" + string(e1.Marshal()) + " ,\n" + string(e2.Marshal()) + "]", 2, 0},
		{"json lines", string(e1.Marshal()) + "\n" + string(e2.Marshal()) + "\n", 2, 0},
		{"empty", "  ", 0, 0},
		{"empty array", "[]", 0, 0},
		{"truncated array", "[" + string(e1.Marshal()), 1, 1},
		{"truncated object", string(e1.Marshal()[:50]), 0, 1},
		{"oversize in array", "[" + big + "," + string(e1.Marshal()) + "]", 1, 1},
		{"oversize line", big + "\n" + string(e2.Marshal()), 1, 1},
		{"scalars in array", `[1,"x",` + string(e1.Marshal()) + `]`, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var good, bad int
			err := splitEvents(strings.NewReader(tt.in), func(raw []byte, err error) error {
				if err != nil {
					bad++
				} else {
					good++
				}
				return nil
			})
			if err != nil || good != tt.good || bad != tt.errors {
				t.Fatalf("good %d bad %d err %v; want %d %d", good, bad, err, tt.good, tt.errors)
			}
		})
	}
}

// serveFile serves body on loopback at /events.
func serveFile(t *testing.T, body []byte, ctype string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/events" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/events"
}

func TestFeedsHTTPSource(t *testing.T) {
	s := openTestStore(t)
	pub := newKey(t)
	trust(t, s, pub, "Pub")
	var buf bytes.Buffer
	var evs []*nostr.Event
	for i := 0; i < 5; i++ {
		ev := article(t, pub, fmt.Sprint(i), fmt.Sprint("Title ", i), testNow.Add(-time.Duration(i)*time.Hour))
		evs = append(evs, ev)
		buf.Write(ev.Marshal())
		buf.WriteByte('\n')
	}
	tam := *evs[0]
	tam.Content = "tampered"
	buf.Write(tam.Marshal())
	buf.WriteString("\n{\"broken\n")
	// A 50 MB event is skipped in constant memory and counted.
	buf.WriteString(`{"content":"` + strings.Repeat("A", 50<<20) + "\"}\n")
	u := serveFile(t, buf.Bytes(), "application/x-ndjson")
	src, err := s.AddSource(Source{URL: u})
	if err != nil || src.Type != SourceHTTP {
		t.Fatalf("add: %+v %v", src, err)
	}
	res, err := s.Sync(context.Background(), FetchOptions{})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("sync: %+v %v", res, err)
	}
	c := res[0].Counts
	if c.New != 5 || c.Verified != 5 || c.Rejected[RejectIDMismatch] != 1 || c.Rejected[RejectMalformed] != 2 {
		t.Fatalf("counts: %s", c)
	}
	// Syncing again stores nothing new.
	res, _ = s.Sync(context.Background(), FetchOptions{})
	if res[0].Counts.New != 0 || res[0].Counts.Duplicate != 5 {
		t.Fatalf("second sync: %s", res[0].Counts)
	}
}

func TestFeedsRelaySource(t *testing.T) {
	s := openTestStore(t)
	pub, stranger := newKey(t), newKey(t)
	trust(t, s, pub, "Pub")
	relay := relaytest.New() // minimal loopback NIP-01 relay
	defer relay.Close()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := PublishRelay(ctx, relay.URL(), article(t, pub, fmt.Sprint(i), fmt.Sprint("T", i), testNow.Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	bad := *note(t, pub, "x", testNow)
	bad.Content = "y"
	if err := PublishRelay(ctx, relay.URL(), &bad); err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("relay accepted a tampered event: %v", err)
	}
	relay.Add(bad.Marshal(), note(t, stranger, "not asked for", testNow).Marshal())
	src, err := s.AddSource(Source{URL: relay.URL()})
	if err != nil || src.Type != SourceRelay {
		t.Fatal(err)
	}
	c, err := s.SyncSource(ctx, src, FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The filter asks for trusted authors only, so the stranger's note is
	// never sent; the tampered one is.
	if c.New != 3 || c.Rejected[RejectIDMismatch] != 1 || c.RejectedTotal() != 1 {
		t.Fatalf("counts %s", c)
	}

	// A relay that drops the connection mid-stream: what arrived is kept,
	// the error is reported.
	s2 := openTestStore(t)
	trust(t, s2, pub, "Pub")
	relay.DropAfter = 2
	c, err = s2.SyncSource(ctx, Source{URL: relay.URL(), Type: SourceRelay}, FetchOptions{})
	if err == nil || !strings.Contains(err.Error(), "closed before end of stored events") {
		t.Fatalf("mid-stream drop: %v", err)
	}
	if c.New != 2 {
		t.Fatalf("kept %d events before the drop, want 2 (%s)", c.New, c)
	}
}

func TestFeedsCARRoundTrip(t *testing.T) {
	ctx := context.Background()
	a := openTestStore(t)
	pub := newKey(t)
	trust(t, a, pub, "Pub")
	var evs []*nostr.Event
	for i := 0; i < 3; i++ {
		evs = append(evs, article(t, pub, fmt.Sprint(i), fmt.Sprint("T", i), testNow.Add(-time.Hour)))
	}
	evs = append(evs, note(t, pub, "short", testNow.Add(-time.Hour)))
	if _, err := a.Ingest(ctx, "t", raws(evs...)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "feed.car")
	root, n, err := a.WriteCARFile(ctx, path, nil)
	if err != nil || n != 4 || root == "" {
		t.Fatalf("export: %v %d", err, n)
	}
	data, _ := os.ReadFile(path)

	b := openTestStore(t)
	trust(t, b, pub, "Pub")
	c, err := b.ImportCAR(ctx, path, bytes.NewReader(data))
	if err != nil || c.New != 4 || c.Verified != 4 || c.RejectedTotal() != 0 {
		t.Fatalf("import: %s %v", c, err)
	}
	// Flip one byte inside the first event block's content: the block no
	// longer matches its CID and is rejected; the rest still import.
	i := bytes.Index(data, []byte("Body of T"))
	if i < 0 {
		t.Fatal("body not found in CAR")
	}
	bad := append([]byte{}, data...)
	bad[i] ^= 0x20
	cc := openTestStore(t)
	trust(t, cc, pub, "Pub")
	c, err = cc.ImportCAR(ctx, "bad.car", bytes.NewReader(bad))
	if err != nil || c.Rejected[RejectBadBlock] != 1 || c.New != 3 {
		t.Fatalf("tampered CAR: %s %v", c, err)
	}
	// Garbage and truncation are clear errors.
	if _, err := cc.ImportCAR(ctx, "x", strings.NewReader("garbage")); err == nil {
		t.Fatal("garbage CAR accepted")
	}
	if _, err := cc.ImportCAR(ctx, "x", bytes.NewReader(data[:len(data)-10])); err == nil {
		t.Fatal("truncated CAR accepted")
	}
}

func TestFeedsGatewayRoundTrip(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := openTestStore(t)
	pub := newKey(t)
	trust(t, a, pub, "Pub")
	var evs []*nostr.Event
	for i := 0; i < 3; i++ {
		evs = append(evs, article(t, pub, fmt.Sprint(i), fmt.Sprint("T", i), testNow.Add(-time.Hour)))
	}
	a.Ingest(ctx, "t", raws(evs...))
	ready := make(chan ServeInfo, 1)
	go a.Serve(ctx, "127.0.0.1:0", func(si ServeInfo) { ready <- si })
	si := <-ready
	gw := "http://" + si.Addr

	b := openTestStore(t)
	trust(t, b, pub, "Pub")
	src, err := b.AddSource(Source{URL: "ipfs://" + si.Manifest.String(), Gateway: []string{gw}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.SyncSource(ctx, src, FetchOptions{})
	if err != nil || c.New != 3 || c.Verified != 3 {
		t.Fatalf("gateway sync: %s %v", c, err)
	}
	// The events file served alongside verifies too.
	c2 := openTestStore(t)
	trust(t, c2, pub, "Pub")
	hs, _ := c2.AddSource(Source{URL: gw + "/events.jsonl"})
	if c, err := c2.SyncSource(ctx, hs, FetchOptions{}); err != nil || c.New != 3 {
		t.Fatalf("events.jsonl: %s %v", c, err)
	}

	// A gateway that returns wrong bytes for every block is caught.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(gw + r.URL.String())
		if err != nil {
			w.WriteHeader(502)
			return
		}
		defer resp.Body.Close()
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		data := body.Bytes()
		if strings.Contains(r.URL.Path, si.Manifest.String()) {
			w.Write(data) // the manifest is honest
			return
		}
		if len(data) > 0 {
			data[len(data)/2] ^= 1
		}
		w.Write(data)
	}))
	defer evil.Close()
	d := openTestStore(t)
	trust(t, d, pub, "Pub")
	c, err = d.SyncSource(ctx, Source{URL: src.URL, Type: SourceIPFS, Gateway: []string{evil.URL}}, FetchOptions{})
	if err != nil || c.New != 0 || c.Rejected[RejectBadBlock] != 3 {
		t.Fatalf("evil gateway: %s %v", c, err)
	}
}

func TestFeedsAddSourceErrors(t *testing.T) {
	s := openTestStore(t)
	for _, u := range []string{"ftp://x", "ipfs://notacid", "/no/such/file.car", "http://"} {
		if _, err := s.AddSource(Source{URL: u}); err == nil {
			t.Errorf("AddSource(%q) accepted", u)
		}
	}
	if _, err := s.AddSource(Source{URL: "ipfs://bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"}); !errors.Is(err, ErrNoGateway) {
		t.Errorf("ipfs without gateway: %v", err)
	}
}

func TestFeedsKeygenPublish(t *testing.T) {
	dir := t.TempDir()
	kdf := fastKDF()
	pub, err := Keygen(dir, []byte("pw"), kdf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Keygen(dir, []byte("pw"), kdf); err == nil {
		t.Fatal("keygen overwrote a key")
	}
	if _, err := UnlockKey(dir, []byte("wrong")); err == nil {
		t.Fatal("wrong passphrase accepted")
	}
	sk, err := UnlockKey(dir, []byte("pw"))
	if err != nil || sk.PublicKey() != pub {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, keyFileName))
	if bytes.Contains(raw, []byte(hex.EncodeToString(sk.Bytes()))) {
		t.Fatal("secret key on disk in plaintext")
	}
	ev, err := NewArticle(sk, Article{Title: "Hello World!", Summary: "s", Topics: []string{"Go"}, Body: "body"}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Tag("d") != "hello-world" || ev.Tag("t") != "go" || ev.Verify() != nil {
		t.Fatalf("article %+v", ev)
	}
	s := openTestStore(t)
	s.Trust(pub, "Me", nil)
	relay := relaytest.New()
	defer relay.Close()
	ef := filepath.Join(t.TempDir(), "events.jsonl")
	car := filepath.Join(t.TempDir(), "out.car")
	rep, err := s.Publish(context.Background(), ev, PublishTargets{Relays: []string{relay.URL()}, EventsFile: ef, CARFile: car})
	if err != nil || len(rep.Targets) != 3 || relay.Count() != 1 {
		t.Fatalf("publish: %+v %v", rep, err)
	}
}

func fastKDF() seal.KDF { return seal.FastKDF() }

// TestFeedsManifestParts: more events than one manifest block lists are
// split into parts and still round-trip through a CAR.
func TestFeedsManifestParts(t *testing.T) {
	ctx := context.Background()
	a := openTestStore(t)
	pub := newKey(t)
	trust(t, a, pub, "Pub")
	var evs []*nostr.Event
	for i := 0; i < manifestChunk+5; i++ {
		evs = append(evs, note(t, pub, fmt.Sprint("n", i), testNow.Add(-time.Hour)))
	}
	var buf bytes.Buffer
	root, n, err := a.ExportCAR(ctx, &buf, evs)
	if err != nil || n != len(evs) {
		t.Fatal(err)
	}
	blk, _ := a.Blockstore().Get(ctx, root)
	m, _ := parseManifest(blk.RawData())
	if len(m.Parts) != 1 || len(m.Events) != manifestChunk {
		t.Fatalf("root manifest: %d events, %d parts", len(m.Events), len(m.Parts))
	}
	b := openTestStore(t)
	trust(t, b, pub, "Pub")
	c, err := b.ImportCAR(ctx, "parts.car", &buf)
	if err != nil || c.New != len(evs) {
		t.Fatalf("import: %s %v", c, err)
	}
}

func TestFeedsNIP05Hint(t *testing.T) {
	sk, other := newKey(t), newKey(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/nostr.json" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"names":{"alice":%q}}`, sk.PublicKey())
	}))
	defer srv.Close()
	domain := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	if err := NIP05Check(ctx, nil, "alice@"+domain, sk.PublicKey()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ ident, key string }{
		{"alice@" + domain, other.PublicKey()},
		{"bob@" + domain, sk.PublicKey()},
		{"nodomain", sk.PublicKey()},
	} {
		if err := NIP05Check(ctx, nil, tt.ident, tt.key); err == nil {
			t.Errorf("NIP05Check(%s) accepted", tt.ident)
		}
	}
	s := openTestStore(t)
	trust(t, s, sk, "Alice")
	if err := s.SetNIP05(sk.PublicKey(), "alice@"+domain); err != nil {
		t.Fatal(err)
	}
	keys, _ := s.Keys()
	if keys[0].NIP05 != "alice@"+domain {
		t.Fatalf("hint not stored: %+v", keys[0])
	}
}

func TestFeedsConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	os.WriteFile(path, []byte("[feeds]\nrelays = [\"wss://r\"]\nblocked = [\"x\"]\nmax_future = \"1h\"\n[feeds.interests]\nscience = 3.0\n"), 0o600)
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(f)
	if err != nil || c.Relays[0] != "wss://r" || c.Interests["science"] != 3 || c.MaxFutureDuration() != time.Hour || c.Blocked[0] != "x" {
		t.Fatalf("%+v %v", c, err)
	}
	os.WriteFile(path, []byte("[feeds]\nmax_future = \"soon\"\n"), 0o600)
	f, _ = config.Load(path)
	if _, err := LoadConfig(f); err == nil || !strings.Contains(err.Error(), "15m") {
		t.Fatalf("bad max_future: %v", err)
	}
}

// TestFeedsReplaceableUpdatedStale: a newer version of a stored article
// (kind 30023, same key and d tag) replaces it and counts as updated; an
// older or same-time one counts as stale and changes nothing.
func TestFeedsReplaceableUpdatedStale(t *testing.T) {
	s := openTestStore(t)
	pub := newKey(t)
	trust(t, s, pub, "Pub")
	ctx := context.Background()
	base := testNow.Add(-time.Hour)
	v1 := article(t, pub, "post", "v1", base)
	v2 := article(t, pub, "post", "v2", base.Add(time.Minute))
	older := article(t, pub, "post", "v0", base.Add(-time.Minute))
	// Same second as v2: NIP-01 keeps the lower id, so make it the higher.
	tie := article(t, pub, "post", "tie", base.Add(time.Minute))
	for i := 0; tie.ID < v2.ID; i++ {
		tie = article(t, pub, "post", fmt.Sprint("tie ", i), base.Add(time.Minute))
	}
	steps := []struct {
		name                       string
		ev                         *nostr.Event
		new, updated, stale, total int
		title                      string
	}{
		{"first", v1, 1, 0, 0, 1, "v1"},
		{"newer", v2, 0, 1, 0, 1, "v2"},
		{"older", older, 0, 0, 1, 1, "v2"},
		{"same time, higher id", tie, 0, 0, 1, 1, "v2"},
		{"the replaced one again", v1, 0, 0, 1, 1, "v2"},
	}
	for _, st := range steps {
		c, err := s.Ingest(ctx, "test", raws(st.ev))
		if err != nil {
			t.Fatal(err)
		}
		if c.New != st.new || c.Updated != st.updated || c.Stale != st.stale || c.RejectedTotal() != 0 || c.Err() != nil {
			t.Errorf("%s: counts %s", st.name, c)
		}
		if st.stale > 0 && !strings.Contains(c.String(), "stale 1") || st.updated > 0 && !strings.Contains(c.String(), "updated 1") {
			t.Errorf("%s: summary %q", st.name, c)
		}
		items, _ := s.List(ListOptions{})
		if len(items) != st.total || items[0].Title != st.title {
			t.Errorf("%s: stored %+v", st.name, items)
		}
	}
}
