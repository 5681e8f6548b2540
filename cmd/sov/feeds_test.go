package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sovos/sov/feeds/nostr"
	"github.com/sovos/sov/feeds/relaytest"
	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/wallet"
)

// feedsRun runs sov and fails the test on a non-zero exit.
func feedsRun(t *testing.T, home string, env []string, args ...string) string {
	t.Helper()
	r := runSov(t, home, env, "", args...)
	if r.Code != 0 {
		t.Fatalf("sov %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// feedsServe starts `sov feeds serve` as a real process and returns its
// address and manifest CID; the process is stopped with SIGTERM at cleanup.
func feedsServe(t *testing.T, home string) (addr, manifest string) {
	t.Helper()
	cmd := exec.Command(sovBin, "feeds", "serve", "--addr", "127.0.0.1:0")
	cmd.Env = append(cleanEnv(), "SOV_HOME="+home)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	sc := bufio.NewScanner(out)
	deadline := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "serving ") {
			f := strings.Fields(line)
			addr = strings.TrimPrefix(f[len(f)-1], "http://")
		}
		if strings.HasPrefix(line, "manifest: ipfs://") {
			manifest = strings.TrimPrefix(line, "manifest: ipfs://")
			go func() { // keep draining
				for sc.Scan() {
				}
			}()
			return addr, manifest
		}
	}
	t.Fatalf("sov feeds serve did not start: %s", stderr.String())
	return "", ""
}

// TestFeedsEndToEnd: keygen → publish three articles → serve/export → a
// second data directory trusts the key and syncs from the HTTP events file,
// a relay (the minimal loopback NIP-01 relay), the CAR file and the
// trustless gateway → all verified; a tampered copy is rejected with the
// right reason.
func TestFeedsEndToEnd(t *testing.T) {
	pub, sub := t.TempDir(), t.TempDir()
	env := []string{"SOV_FEEDS_PASSPHRASE=correct horse battery staple"}
	relay := relaytest.New()
	defer relay.Close()

	out := feedsRun(t, pub, env, "feeds", "keygen", "--name", "Alice")
	m := regexp.MustCompile(`npub: (npub1\w+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keygen output: %q", out)
	}
	npub := m[1]
	eventsFile := filepath.Join(t.TempDir(), "events.jsonl")
	for i, title := range []string{"Tides rise", "Comet seen", "Bees return"} {
		md := filepath.Join(t.TempDir(), "a.md")
		os.WriteFile(md, []byte(fmt.Sprintf("# %s\n\nReport number %d about %s.\n", title, i, title)), 0o600)
		feedsRun(t, pub, env, "feeds", "publish", md, "--title", title, "--summary", "s"+title,
			"--topic", "science", "--relay", relay.URL(), "--events-file", eventsFile)
	}
	if relay.Count() != 3 {
		t.Fatalf("relay holds %d events, want 3", relay.Count())
	}
	car := filepath.Join(t.TempDir(), "alice.car")
	feedsRun(t, pub, nil, "feeds", "export", "--car", car)
	addr, manifest := feedsServe(t, pub)

	// The second data directory.
	feedsRun(t, sub, nil, "feeds", "trust", npub, "--name", "Alice", "--topics", "science")
	for _, src := range [][]string{
		{"http://" + addr + "/events.jsonl"},
		{relay.URL()},
		{car},
		{"ipfs://" + manifest, "--gateway", "http://" + addr},
	} {
		feedsRun(t, sub, nil, append([]string{"feeds", "add"}, src...)...)
	}
	out = feedsRun(t, sub, nil, "feeds", "sync")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("sync output: %q", out)
	}
	for _, l := range lines {
		if !strings.Contains(l, "verified 3, rejected 0") {
			t.Errorf("source not fully verified: %s", l)
		}
	}
	var items []struct {
		ID        string `json:"id"`
		Publisher string `json:"publisher"`
		Verified  bool   `json:"verified"`
		CID       string `json:"cid"`
	}
	if err := json.Unmarshal([]byte(feedsRun(t, sub, nil, "feeds", "ls", "--json")), &items); err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 {
		t.Fatalf("stored %d items, want 3", len(items))
	}
	for _, it := range items {
		if !it.Verified || it.Publisher != "Alice" || !strings.HasPrefix(it.CID, "bafkrei") {
			t.Errorf("item %+v", it)
		}
	}
	// sov news on stories260K: every citation resolves to a stored,
	// verified item.
	t.Run("news", func(t *testing.T) {
		mp := testtool.Model(t, testtool.Stories)
		var d struct {
			Stories []struct {
				Citations []struct {
					ID       string `json:"id"`
					Verified bool   `json:"verified"`
				} `json:"citations"`
			} `json:"stories"`
		}
		out := feedsRun(t, sub, nil, "news", "--model", mp, "--max-stories", "1", "--json")
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("news output: %v\n%s", err, out)
		}
		stored := map[string]bool{}
		for _, it := range items {
			stored[it.ID] = it.Verified
		}
		n := 0
		for _, st := range d.Stories {
			for _, c := range st.Citations {
				n++
				if !stored[c.ID] || !c.Verified {
					t.Errorf("citation %s does not resolve to a stored verified item", c.ID)
				}
			}
		}
		if n == 0 {
			t.Fatalf("digest without citations: %s", out)
		}
	})

	show := feedsRun(t, sub, nil, "feeds", "show", items[0].ID[:10])
	if !strings.Contains(show, "verified (signature checked, key trusted)") {
		t.Errorf("show: %s", show)
	}

	// A tampered copy of the events file: one article's text changed.
	data, _ := os.ReadFile(eventsFile)
	tampered := bytes.Replace(data, []byte("Report number 1"), []byte("Report number 9"), 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(tampered) }))
	defer srv.Close()
	third := t.TempDir()
	feedsRun(t, third, nil, "feeds", "trust", npub, "--name", "Alice")
	feedsRun(t, third, nil, "feeds", "add", srv.URL+"/tampered.jsonl")
	r := runSov(t, third, nil, "", "feeds", "sync")
	if r.Code != exitRejected || !strings.Contains(r.Stdout, "new 2, verified 2, rejected 1 (id mismatch 1)") {
		t.Fatalf("tampered sync: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
}

// TestFeedsCLIErrors: bad input gives one clear line and a non-zero exit.
func TestFeedsCLIErrors(t *testing.T) {
	home := t.TempDir()
	garbage := filepath.Join(t.TempDir(), "x.car")
	os.WriteFile(garbage, []byte("not a car"), 0o600)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"feeds", "trust", "npub1nope", "--name", "X"}, exitError, "not a valid npub"},
		{[]string{"feeds", "trust", "abcd"}, exitUsage, "--name"},
		{[]string{"feeds", "untrust", strings.Repeat("ab", 32)}, exitError, "not trusted"},
		{[]string{"feeds", "add", "gopher://x"}, exitError, "neither"},
		{[]string{"feeds", "sync"}, exitError, "sov feeds add"},
		{[]string{"feeds", "publish", "x.md"}, exitUsage, "--title"},
		{[]string{"feeds", "publish", "/etc/hostname", "--title", "T"}, exitError, "sov feeds keygen"},
		{[]string{"feeds", "import", garbage}, exitError, "not a readable CAR"},
		{[]string{"feeds", "show", "ab"}, exitError, "too short"},
		{[]string{"feeds", "show"}, exitUsage, "needs"},
	}
	for _, tt := range tests {
		r := runSov(t, home, nil, "", tt.args...)
		if r.Code != tt.code || !strings.Contains(r.Stderr, tt.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
			t.Errorf("sov %v: exit %d stderr %q; want exit %d mentioning %q", tt.args, r.Code, r.Stderr, tt.code, tt.want)
		}
	}
}

// TestFeedsKeygenFromWallet: the publishing key can be the wallet's NIP-06
// key; checked with NIP-06 test vector 1.
func TestFeedsKeygenFromWallet(t *testing.T) {
	home := t.TempDir()
	const mnemonic = "leader monkey parrot ring guide accident before fence cannon height naive bean"
	if _, err := wallet.OpenStore(filepath.Join(home, "wallet")).Create(mnemonic, "", []byte("wallet pw"), false); err != nil {
		t.Fatal(err)
	}
	env := []string{"SOV_WALLET_PASSPHRASE=wallet pw", "SOV_FEEDS_PASSPHRASE=feeds pw"}
	out := feedsRun(t, home, env, "feeds", "keygen", "--from-wallet")
	if !strings.Contains(out, "hex:  17162c921dc4d2518f9a101db33695df1afb56ab82f5ff3e5da6eec3ca5cd917") {
		t.Fatalf("keygen --from-wallet: %s", out)
	}
	r := runSov(t, t.TempDir(), []string{"SOV_WALLET_PASSPHRASE=x", "SOV_FEEDS_PASSPHRASE=y"}, "", "feeds", "keygen", "--from-wallet")
	if r.Code == 0 || !strings.Contains(r.Stderr, "wallet") {
		t.Fatalf("keygen --from-wallet without a wallet: exit %d %q", r.Code, r.Stderr)
	}
}

func TestFeedsCLIDamagedFile(t *testing.T) {
	home := t.TempDir()
	feedsRun(t, home, nil, "feeds", "ls") // creates feeds.db
	db := filepath.Join(home, "feeds", "feeds.db")
	truncateDB(t, db)
	// A read-write open: bbolt reads its freelist page, past the end.
	r := runSov(t, home, nil, "", "feeds", "export", "--car", filepath.Join(home, "out.car"))
	wantDamaged(t, r, db, "move feeds.db aside")
	// A read-only one touches fewer pages but is refused all the same.
	wantDamaged(t, runSov(t, home, nil, "", "feeds", "ls"), db, "move feeds.db aside")
}

// TestFeedsTerminalSafe: a trusted publisher's item whose title and text
// carry OSC 52, CSI 2J and a bidi override (see hostile) is listed and
// shown without a control reaching the terminal; --json escapes them and
// decodes back to the original text.
func TestFeedsTerminalSafe(t *testing.T) {
	pub, sub := t.TempDir(), t.TempDir()
	env := []string{"SOV_FEEDS_PASSPHRASE=correct horse battery staple"}
	out := feedsRun(t, pub, env, "feeds", "keygen", "--name", "Mallory")
	m := regexp.MustCompile(`npub: (npub1\w+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keygen output: %q", out)
	}
	eventsFile := filepath.Join(t.TempDir(), "events.jsonl")
	md := filepath.Join(t.TempDir(), "a.md")
	os.WriteFile(md, []byte("Body "+hostile+" end\n"), 0o600)
	title := "Title " + hostile
	feedsRun(t, pub, env, "feeds", "publish", md, "--title", title, "--events-file", eventsFile)
	data, _ := os.ReadFile(eventsFile)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(data) }))
	defer srv.Close()
	feedsRun(t, sub, nil, "feeds", "trust", m[1], "--name", "Mallory")
	feedsRun(t, sub, nil, "feeds", "add", srv.URL+"/events.jsonl")
	assertTermSafe(t, "sync", feedsRun(t, sub, nil, "feeds", "sync"))

	js := feedsRun(t, sub, nil, "feeds", "ls", "--json")
	var items []struct{ ID, Title string }
	if err := json.Unmarshal([]byte(js), &items); err != nil || len(items) != 1 || items[0].Title != title {
		t.Fatalf("ls --json: %v %q", err, js)
	}
	assertTermSafe(t, "ls --json", js)
	if !strings.Contains(js, `\u001b`) || !strings.Contains(js, `\u009b`) || !strings.Contains(js, `\u202e`) {
		t.Errorf("ls --json does not escape the controls: %q", js)
	}
	ls := feedsRun(t, sub, nil, "feeds", "ls")
	assertTermSafe(t, "ls", ls)
	show := feedsRun(t, sub, nil, "feeds", "show", items[0].ID)
	assertTermSafe(t, "show", show)
	if !strings.Contains(show, "gpj.exe end") {
		t.Errorf("show lost the text: %q", show)
	}
	js = feedsRun(t, sub, nil, "feeds", "show", "--json", items[0].ID)
	assertTermSafe(t, "show --json", js)
	var it struct {
		Item struct{ Title, Content string }
	}
	if err := json.Unmarshal([]byte(js), &it); err != nil || it.Item.Title != title || !strings.Contains(it.Item.Content, hostile) {
		t.Fatalf("show --json: %v %q", err, js)
	}
}

// TestFeedsCLIKindsDeletionsProfiles: a synced file's DM and reaction are
// ignored, the author's deletion removes a note (by id) and an article (by
// address), and the profile name shows beside the trusted name.
func TestFeedsCLIKindsDeletionsProfiles(t *testing.T) {
	sk, err := nostr.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour).Unix()
	ev := func(kind int, content string, tags ...[]string) *nostr.Event {
		if tags == nil {
			tags = [][]string{}
		}
		e := &nostr.Event{CreatedAt: at, Kind: kind, Content: content, Tags: tags}
		if err := sk.Sign(e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	keep := ev(nostr.KindArticle, "# Kept\n\nbody", []string{"d", "kept"}, []string{"title", "Kept article"})
	gone := ev(nostr.KindArticle, "# Gone\n\nbody", []string{"d", "gone"}, []string{"title", "Gone article"})
	note := ev(nostr.KindShortNote, "Gone note")
	evs := []*nostr.Event{
		ev(nostr.KindMetadata, `{"name":"mal","display_name":"Mallory"}`), keep, gone, note,
		ev(4, "Secret DM"), ev(7, "+", []string{"e", keep.ID}),
		ev(nostr.KindDeletion, "", []string{"e", note.ID}, []string{"a", "30023:" + sk.PublicKey() + ":gone"}),
	}
	var file bytes.Buffer
	for _, e := range evs {
		file.Write(e.Marshal())
		file.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	feedsRun(t, home, nil, "feeds", "trust", nostr.Npub(sk.PublicKey()), "--name", "Alice")
	feedsRun(t, home, nil, "feeds", "add", path)
	out := feedsRun(t, home, nil, "feeds", "sync")
	if !strings.Contains(out, "deleted 2, ignored (kind 4) 1, ignored (kind 7) 1") {
		t.Fatalf("sync: %s", out)
	}
	ls := feedsRun(t, home, nil, "feeds", "ls", "--unverified")
	if !strings.Contains(ls, "Kept article") || !strings.Contains(ls, `Alice (profile: "Mallory")`) {
		t.Fatalf("ls:\n%s", ls)
	}
	for _, bad := range []string{"Gone", "Secret", "DM", "+ "} {
		if strings.Contains(ls, bad) {
			t.Errorf("ls shows %q:\n%s", bad, ls)
		}
	}
	if n := strings.Count(strings.TrimSpace(ls), "\n"); n != 1 {
		t.Errorf("ls lists %d items, want 1:\n%s", n, ls)
	}
}

// TestFeedsSyncRejectedExitCode: a tampered event makes sync
// exit 3 naming the reason; a clean sync exits 0.
func TestFeedsSyncRejectedExitCode(t *testing.T) {
	sk, err := nostr.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	var evs []*nostr.Event
	for i, body := range []string{"first", "second"} {
		e := &nostr.Event{CreatedAt: time.Now().Add(-time.Hour).Unix(), Kind: nostr.KindShortNote, Content: body, Tags: [][]string{}}
		e.CreatedAt += int64(i)
		if err := sk.Sign(e); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	write := func(evs ...*nostr.Event) string {
		var b bytes.Buffer
		for _, e := range evs {
			b.Write(e.Marshal())
			b.WriteByte('\n')
		}
		p := filepath.Join(t.TempDir(), "events.jsonl")
		if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	clean := write(evs[0])
	tampered := *evs[1]
	tampered.Content = "forged"
	bad := write(evs[0], &tampered)

	home := t.TempDir()
	feedsRun(t, home, nil, "feeds", "trust", nostr.Npub(sk.PublicKey()), "--name", "Alice")
	feedsRun(t, home, nil, "feeds", "add", clean)
	if out := feedsRun(t, home, nil, "feeds", "sync"); !strings.Contains(out, "rejected 0") {
		t.Fatalf("clean sync: %s", out)
	}
	feedsRun(t, home, nil, "feeds", "add", bad)
	r := runSov(t, home, nil, "", "feeds", "sync")
	if r.Code != exitRejected || !strings.Contains(r.Stdout, "rejected 1 (id mismatch 1)") ||
		!strings.Contains(r.Stdout, "id mismatch: "+tampered.ID[:12]) || !strings.Contains(r.Stderr, "1 item(s) rejected") {
		t.Fatalf("tampered sync: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
	if exitRejected == exitError || exitRejected == exitUsage || exitRejected == exitInterrupted {
		t.Fatal("exitRejected is not distinct")
	}
	if h := feedsRun(t, home, nil, "feeds", "--help"); !strings.Contains(h, "exit 3") {
		t.Errorf("feeds --help does not document exit 3:\n%s", h)
	}
}

// TestFeedsServeNetworkWarning: serving on a non-loopback address warns on
// stderr, in one line naming the address.
func TestFeedsServeNetworkWarning(t *testing.T) {
	cmd := exec.Command(sovBin, "feeds", "serve", "--addr", "0.0.0.0:0")
	cmd.Env = append(cleanEnv(), "SOV_HOME="+t.TempDir())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	deadline := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	sc := bufio.NewScanner(stderr)
	if !sc.Scan() {
		t.Fatal("sov feeds serve --addr 0.0.0.0:0 wrote nothing on stderr")
	}
	line := sc.Text()
	if !regexp.MustCompile(`^sov: warning: serving to the network: anyone who can reach (0\.0\.0\.0|\[::\]):\d+ can read your feeds$`).MatchString(line) {
		t.Fatalf("warning line %q", line)
	}
}

// TestFeedsServeReadOnly: a running serve holds the database read-only, so
// keys and ls work beside it; a command that writes still names serve.
func TestFeedsServeReadOnly(t *testing.T) {
	sk, err := nostr.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	feedsRun(t, home, nil, "feeds", "trust", nostr.Npub(sk.PublicKey()), "--name", "Alice")
	feedsServe(t, home)
	if out := feedsRun(t, home, nil, "feeds", "keys"); !strings.Contains(out, "Alice") {
		t.Fatalf("keys while serving: %s", out)
	}
	feedsRun(t, home, nil, "feeds", "ls")
	if r := runSov(t, home, nil, "", "feeds", "untrust", nostr.Npub(sk.PublicKey())); r.Code != exitError || !strings.Contains(r.Stderr, "sov feeds serve") {
		t.Fatalf("untrust while serving: exit %d %s", r.Code, r.Stderr)
	}
}
