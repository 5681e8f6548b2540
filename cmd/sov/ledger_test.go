package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/testtool"
)

// ledgerRun runs sov run --json and returns the ledger entry of its call.
func ledgerRun(t *testing.T, home string, env []string, args ...string) string {
	t.Helper()
	r := runSov(t, home, env, "", append([]string{"run", "--json"}, args...)...)
	if r.Code != 0 {
		t.Fatalf("run: exit %d: %s", r.Code, r.Stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	var done struct {
		Type   string `json:"type"`
		Ledger *int   `json:"ledger_entry"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &done); err != nil || done.Type != "done" || done.Ledger == nil {
		t.Fatalf("done event without a ledger entry: %s (%v)", lines[len(lines)-1], err)
	}
	return strconv.Itoa(*done.Ledger)
}

// TestLedgerReplayIdentical records a stories260K call (sampled, seeded)
// and a SmolLM2 chat call (greedy, through its template), replays both and
// gets identical bytes; a changed model file is named.
func TestLedgerReplayIdentical(t *testing.T) {
	home := t.TempDir()
	stories := testtool.Model(t, testtool.Stories)
	smol := testtool.Model(t, testtool.Chat)
	ids := []string{
		ledgerRun(t, home, nil, "--model", stories, "--temp", "0.8", "--seed", "1234", "--max-tokens", "48", "Once upon a time"),
		ledgerRun(t, home, nil, "--model", smol, "--temp", "0", "--max-tokens", "24", "--system", "Answer in one sentence.", "What is the capital of France?"),
	}
	for _, id := range ids {
		r := runSov(t, home, nil, "", "ledger", "replay", id)
		if r.Code != 0 || !strings.Contains(r.Stdout, "entry "+id+": identical") {
			t.Fatalf("replay %s: exit %d %q %q", id, r.Code, r.Stdout, r.Stderr)
		}
	}
	// The entries name the model by digest and hold no prompt or output.
	r := runSov(t, home, nil, "", "ledger", "show", ids[1])
	if r.Code != 0 || !strings.Contains(r.Stdout, `"model_sha256"`) || strings.Contains(r.Stdout, "France") || strings.Contains(r.Stdout, "Paris") {
		t.Fatalf("show: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}

	// A model file that changed after the call is named, and nothing runs.
	copyModel := filepath.Join(t.TempDir(), "stories.gguf")
	copyFile(t, stories, copyModel)
	id := ledgerRun(t, home, nil, "--model", copyModel, "--temp", "0", "--max-tokens", "8", "Once")
	f, err := os.OpenFile(copyModel, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 32))
	f.Close()
	r = runSov(t, home, nil, "", "ledger", "replay", id)
	if r.Code != 1 || !strings.Contains(r.Stderr, "model changed: sha256") || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
		t.Fatalf("changed model: exit %d %q", r.Code, r.Stderr)
	}
	// A model file that is gone is named with the way out; --model points at
	// a copy, which must still have the recorded digest.
	os.Remove(copyModel)
	r = runSov(t, home, nil, "", "ledger", "replay", id)
	if r.Code != 1 || !strings.Contains(r.Stderr, "is gone") || !strings.Contains(r.Stderr, "--model") {
		t.Fatalf("missing model: exit %d %q", r.Code, r.Stderr)
	}
	if r := runSov(t, home, nil, "", "ledger", "replay", ids[0], "--model", stories); r.Code != 0 || !strings.Contains(r.Stdout, "identical") {
		t.Fatalf("replay with --model: exit %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	for _, bad := range []struct{ id, want string }{{"999", "no such ledger entry"}, {"xyz", "no such ledger entry"}} {
		if r := runSov(t, home, nil, "", "ledger", "replay", bad.id); r.Code != 1 || !strings.Contains(r.Stderr, bad.want) {
			t.Fatalf("replay %s: %d %q", bad.id, r.Code, r.Stderr)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
}

// TestLedgerVerifyCheckpointExport signs entries, checkpoints, exports, and
// catches a flipped byte with the entry it breaks while still listing the
// rest.
func TestLedgerVerifyCheckpointExport(t *testing.T) {
	home := t.TempDir()
	stories := testtool.Model(t, testtool.Stories)
	pass := []string{"SOV_LEDGER_PASSPHRASE=correct horse"}
	// Without a key nothing can be exported or checkpointed headless.
	if r := runSov(t, home, nil, "", "ledger", "export", filepath.Join(t.TempDir(), "x")); r.Code != 1 || !strings.Contains(r.Stderr, "sov ledger checkpoint") {
		t.Fatalf("export without key: %d %q", r.Code, r.Stderr)
	}
	ledgerRun(t, home, nil, "--model", stories, "--temp", "0", "--max-tokens", "8", "One")
	if r := runSov(t, home, pass, "", "ledger", "checkpoint"); r.Code != 0 || !strings.Contains(r.Stdout, "checkpoint 1: 1 entries") {
		t.Fatalf("checkpoint: %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	// With the passphrase in the environment entries are signed as written.
	ledgerRun(t, home, pass, "--model", stories, "--temp", "0", "--max-tokens", "8", "Two")
	ledgerRun(t, home, pass, "--model", stories, "--temp", "0", "--max-tokens", "8", "Three")
	r := runSov(t, home, nil, "", "ledger", "verify")
	if r.Code != 0 || !strings.Contains(r.Stdout, "4 entries") || !strings.Contains(r.Stdout, "3 signed, 1 covered") {
		t.Fatalf("verify: %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	if r := runSov(t, home, []string{"SOV_LEDGER_PASSPHRASE=wrong"}, "", "ledger", "checkpoint"); r.Code != 1 || !strings.Contains(r.Stderr, "wrong ledger passphrase") {
		t.Fatalf("wrong passphrase: %d %q", r.Code, r.Stderr)
	}
	// A checkpoint published as a signed article through the user's feed
	// carries the signed tree head and the public key.
	feedsEnv := []string{"SOV_FEEDS_PASSPHRASE=feeds pass", "SOV_LEDGER_PASSPHRASE=correct horse"}
	feedsRun(t, home, feedsEnv, "feeds", "keygen", "--name", "Me")
	if r := runSov(t, home, feedsEnv, "", "ledger", "checkpoint", "--publish"); r.Code != 0 || !strings.Contains(r.Stdout, "published ") {
		t.Fatalf("checkpoint --publish: %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	if r := runSov(t, home, nil, "", "feeds", "ls", "--json"); r.Code != 0 || !strings.Contains(r.Stdout, "sov ledger checkpoint: 4 entries") {
		t.Fatalf("published checkpoint not in the feed: %q %q", r.Stdout, r.Stderr)
	}
	if r := runSov(t, home, nil, "", "ledger", "verify"); r.Code != 0 || !strings.Contains(r.Stdout, "5 entries") {
		t.Fatalf("verify after publish: %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	out := filepath.Join(t.TempDir(), "ledger.jsonl")
	if r := runSov(t, home, nil, "", "ledger", "export", out); r.Code != 0 {
		t.Fatalf("export: %d %q", r.Code, r.Stderr)
	}
	if b, err := os.ReadFile(out + ".pub"); err != nil || !bytes.HasPrefix(b, []byte("-----BEGIN PUBLIC KEY-----")) {
		t.Fatalf("public key: %v %q", err, b)
	}
	// Flip one byte inside entry 2's signature.
	path := filepath.Join(home, "ledger", "entries.jsonl") // SOV_HOME holds the data directly
	data, _ := os.ReadFile(path)
	lines := bytes.SplitAfter(data, []byte("\n"))
	i := bytes.Index(lines[2], []byte(`"sig":"`)) + 12
	lines[2][i] ^= 0x01
	os.WriteFile(path, bytes.Join(lines, nil), 0o600)
	r = runSov(t, home, nil, "", "ledger", "verify")
	if r.Code != 1 || !strings.Contains(r.Stderr, "entry 2: ") {
		t.Fatalf("flipped byte: %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	r = runSov(t, home, nil, "", "ledger", "ls")
	if r.Code != 0 || strings.Count(r.Stdout, "\n") != 6 {
		t.Fatalf("ls after damage should list every entry: %q", r.Stdout)
	}
	r = runSov(t, home, nil, "", "ledger", "ls", "--json", "--kind", "checkpoint")
	if r.Code != 0 || strings.Count(r.Stdout, "\n") != 2 || !strings.Contains(r.Stdout, `"kind":"checkpoint"`) {
		t.Fatalf("ls --kind: %q", r.Stdout)
	}
	if r := runSov(t, home, nil, "", "ledger", "ls", "--kind", "bogus"); r.Code != 2 {
		t.Fatalf("bad kind: %d", r.Code)
	}
}
