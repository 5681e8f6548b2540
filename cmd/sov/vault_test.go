package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/vault"
)

const vaultTestPass = "test vault passphrase"

// vaultEnv is the scripted environment: passphrase from the environment.
var vaultEnv = []string{"SOV_VAULT_PASSPHRASE=" + vaultTestPass, "SOV_VAULT_EXPORT_PASSPHRASE=export pass"}

// vaultInit creates a vault with the cheapest KDF parameters the CLI takes.
func vaultInit(t *testing.T, home string) {
	t.Helper()
	r := runSov(t, home, vaultEnv, "", "vault", "init", "--kdf-time", "1", "--kdf-memory", "19", "--kdf-threads", "1")
	if r.Code != 0 {
		t.Fatalf("vault init: %d %s", r.Code, r.Stderr)
	}
}

func vaultRun(t *testing.T, home string, want int, args ...string) sovResult {
	t.Helper()
	r := runSov(t, home, vaultEnv, "", append([]string{"vault"}, args...)...)
	if r.Code != want {
		t.Fatalf("sov vault %v: exit %d want %d\nstdout: %s\nstderr: %s", args, r.Code, want, r.Stdout, r.Stderr)
	}
	return r
}

func vaultWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVaultCLIEndToEnd(t *testing.T) {
	home := t.TempDir()
	src := t.TempDir()
	vaultWrite(t, filepath.Join(src, "garden.md"), "# Garden\n\nThe tomatoes need water every morning.\n\n# Kitchen\n\nBake sourdough on sunday.\n")
	vaultWrite(t, filepath.Join(src, "sub", "page.html"), "<html><body><h1>Bread</h1><p>Flour, water and salt.</p></body></html>")
	vaultWrite(t, filepath.Join(src, "photo.jpg"), "\xff\xd8\xff\xe0\x00\x10JFIF\x00")

	r := vaultRun(t, home, 1, "ls")
	if !strings.Contains(r.Stderr, "sov vault init") {
		t.Fatalf("ls before init: %q", r.Stderr)
	}
	vaultInit(t, home)
	r = vaultRun(t, home, 0, "add", src)
	if !strings.Contains(r.Stdout, "added 2") || !strings.Contains(r.Stdout, "skipped "+filepath.Join(src, "photo.jpg")) {
		t.Fatalf("add: %s", r.Stdout)
	}
	r = vaultRun(t, home, 0, "search", "sourdough")
	if !strings.Contains(r.Stdout, "lexical-only") || !strings.Contains(r.Stdout, "garden.md:5-7") || !strings.Contains(r.Stdout, "**sourdough**") {
		t.Fatalf("search: %s", r.Stdout)
	}
	r = vaultRun(t, home, 0, "search", "--json", "-k", "5", "water")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("json lines: %q", r.Stdout)
	}
	for _, l := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		for _, k := range []string{"source", "lines", "score", "text"} {
			if _, ok := obj[k]; !ok {
				t.Fatalf("missing %q in %s", k, l)
			}
		}
	}
	if !strings.Contains(r.Stderr, "lexical-only") {
		t.Fatalf("json search does not say lexical-only on stderr: %q", r.Stderr)
	}
	r = vaultRun(t, home, 0, "ls")
	if strings.Count(r.Stdout, "\n") != 2 {
		t.Fatalf("ls: %s", r.Stdout)
	}
	vaultRun(t, home, 0, "stats")

	// Wrong passphrase: one line, exit 1, nothing changed.
	db := filepath.Join(home, "vault", "vault.db")
	before, _ := os.ReadFile(db)
	bad := runSov(t, home, []string{"SOV_VAULT_PASSPHRASE=wrong"}, "", "vault", "add", src)
	if bad.Code != 1 || strings.Count(strings.TrimSpace(bad.Stderr), "\n") != 0 || !strings.Contains(bad.Stderr, "wrong vault passphrase") {
		t.Fatalf("wrong passphrase: %d %q", bad.Code, bad.Stderr)
	}
	after, _ := os.ReadFile(db)
	if !bytes.Equal(before, after) {
		t.Fatal("wrong passphrase changed the database")
	}
	// No passphrase at all, no terminal.
	none := runSov(t, home, nil, "", "vault", "ls")
	if none.Code != 1 || !strings.Contains(none.Stderr, "SOV_VAULT_PASSPHRASE") {
		t.Fatalf("no passphrase: %d %q", none.Code, none.Stderr)
	}

	// Export, then import into a fresh vault.
	// (X25519 recipients here: the passphrase path runs in the canary test.)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "key.txt")
	vaultWrite(t, idFile, id.String()+"\n")
	archive := filepath.Join(t.TempDir(), "vault.age")
	vaultRun(t, home, 0, "export", "--recipient", id.Recipient().String(), archive)
	vaultRun(t, home, 1, "export", "--recipient", id.Recipient().String(), archive) // exists
	vaultRun(t, home, 2, "export", "--recipient", "not-a-key", archive+"2")
	home2 := t.TempDir()
	vaultInit(t, home2)
	r = vaultRun(t, home2, 0, "import", "--identity", idFile, archive)
	if !strings.Contains(r.Stdout, "imported 2") {
		t.Fatalf("import: %s", r.Stdout)
	}
	r = vaultRun(t, home2, 0, "search", "sourdough")
	if !strings.Contains(r.Stdout, "garden.md:5-7") {
		t.Fatalf("search after import: %s", r.Stdout)
	}

	// passwd, then the old passphrase fails and the new one works.
	r = runSov(t, home2, append(vaultEnv, "SOV_VAULT_NEW_PASSPHRASE=second"), "", "vault", "passwd")
	if r.Code != 0 {
		t.Fatalf("passwd: %s", r.Stderr)
	}
	if r := runSov(t, home2, vaultEnv, "", "vault", "ls"); r.Code != 1 {
		t.Fatal("old passphrase still works after passwd")
	}
	if r := runSov(t, home2, []string{"SOV_VAULT_PASSPHRASE=second"}, "", "vault", "search", "sourdough"); r.Code != 0 || !strings.Contains(r.Stdout, "garden.md") {
		t.Fatalf("new passphrase: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}

	// rm and sync.
	r = vaultRun(t, home, 0, "rm", filepath.Join(src, "sub"))
	if !strings.Contains(r.Stdout, "removed 1") {
		t.Fatalf("rm: %s", r.Stdout)
	}
	vaultRun(t, home, 1, "rm", filepath.Join(src, "nothing-here"))
	os.Remove(filepath.Join(src, "garden.md"))
	r = vaultRun(t, home, 0, "sync")
	if !strings.Contains(r.Stdout, "removed 1") {
		t.Fatalf("sync: %s", r.Stdout)
	}
	r = vaultRun(t, home, 0, "search", "sourdough")
	if !strings.Contains(r.Stdout, "no matches") {
		t.Fatalf("search after sync: %s", r.Stdout)
	}
	vaultRun(t, home, 0, "lock")
	vaultRun(t, home, 2, "search")
	vaultRun(t, home, 2, "search", "-k", "0", "x")
}

func TestVaultCLILockedByAnotherProcess(t *testing.T) {
	home := t.TempDir()
	vaultInit(t, home)
	// This test process holds the database open for writing.
	v, err := vault.Open(context.Background(), filepath.Join(home, "vault"), []byte(vaultTestPass), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	start := time.Now()
	r := runSov(t, home, vaultEnv, "", "vault", "add", t.TempDir())
	if r.Code != 1 || !strings.Contains(r.Stderr, fmt.Sprintf("in use by process %d", os.Getpid())) {
		t.Fatalf("locked vault: %d %q", r.Code, r.Stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("open timeout took %v", d)
	}
}

// kill -9 in the middle of adding 1,000 files: after re-opening, every file
// is fully indexed (all its chunks findable) or absent, and re-running the
// add completes.
func TestVaultCLIKill9DuringAdd(t *testing.T) {
	home := t.TempDir()
	src := t.TempDir()
	vaultInit(t, home)
	const n = 1000
	for i := 0; i < n; i++ {
		var b strings.Builder
		for s := 0; s < 3; s++ {
			fmt.Fprintf(&b, "# Part %d\n\nmark%04dz section %d of file %d with some padding words\n\n", s, i, s, i)
		}
		vaultWrite(t, filepath.Join(src, fmt.Sprintf("d%02d", i/100), fmt.Sprintf("f%04d.md", i)), b.String())
	}
	db := filepath.Join(home, "vault", "vault.db")
	fi, _ := os.Stat(db)
	initial := fi.Size()
	cmd := exec.Command(sovBin, "vault", "add", "--batch-files", "3", src)
	cmd.Env = append(cleanEnv(), "SOV_HOME="+home)
	cmd.Env = append(cmd.Env, vaultEnv...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Kill once the database has grown (some batches committed).
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(db); err == nil && fi.Size() > initial+256<<10 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	err := <-exited
	killed := err != nil && strings.Contains(err.Error(), "killed")
	t.Logf("add killed=%v (%v)", killed, err)

	check := func() int {
		v, err := vault.Open(context.Background(), filepath.Join(home, "vault"), []byte(vaultTestPass), vault.Options{})
		if err != nil {
			t.Fatalf("re-open after kill: %v", err)
		}
		defer v.Close()
		docs, warn, err := v.List(context.Background(), "")
		if err != nil || len(warn) > 0 {
			t.Fatalf("list: %v %v", err, warn)
		}
		listed := map[string]bool{}
		for _, d := range docs {
			listed[d.Path] = true
		}
		for i := 0; i < n; i++ {
			path := filepath.Join(src, fmt.Sprintf("d%02d", i/100), fmt.Sprintf("f%04d.md", i))
			res, err := v.Search(context.Background(), fmt.Sprintf("mark%04dz", i), vault.SearchOptions{K: 10})
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			if listed[path] {
				want = 3
			}
			if len(res.Results) != want || len(res.Warnings) > 0 {
				t.Fatalf("file %d: listed=%v but %d of 3 chunks found (warnings %v)", i, listed[path], len(res.Results), res.Warnings)
			}
		}
		return len(docs)
	}
	got := check()
	t.Logf("%d of %d files indexed when killed", got, n)
	if killed && (got == 0 || got == n) {
		t.Logf("kill landed outside the ingest window (%d files); all-or-nothing still verified", got)
	}
	r := vaultRun(t, home, 0, "add", src)
	if !strings.Contains(r.Stdout, fmt.Sprintf("added %d", n-got)) {
		t.Fatalf("re-run: %s", r.Stdout)
	}
	if got := check(); got != n {
		t.Fatalf("after re-run: %d of %d files", got, n)
	}
}

// Unique canary strings in file contents, file and folder names and
// queries must appear in no file sov wrote: not the raw database, not the
// export, not anything else under SOV_HOME.
func TestVaultCLICanary(t *testing.T) {
	home := t.TempDir()
	src := t.TempDir()
	canaries := []string{"zqxcanarycontent", "zqxcanaryfilename", "zqxcanaryfolder", "zqxcanaryquery", "zqxcanaryheading"}
	vaultInit(t, home)
	vaultWrite(t, filepath.Join(src, "zqxcanaryfolder", "zqxcanaryfilename.md"),
		"# zqxcanaryheading\n\nsecret text zqxcanarycontent and zqxcanaryquery here\n")
	vaultWrite(t, filepath.Join(src, "zqxcanaryfolder", "mail.eml"), "Subject: zqxcanarycontent\n\nbody zqxcanarycontent\n")
	vaultRun(t, home, 0, "add", src)
	r := vaultRun(t, home, 0, "search", "--json", "zqxcanaryquery")
	if !strings.Contains(r.Stdout, "zqxcanarycontent") {
		t.Fatalf("canary document not found: %s", r.Stdout)
	}
	vaultRun(t, home, 0, "search", "zqxcanaryquery zqxcanaryheading")
	vaultRun(t, home, 0, "ls")
	vaultRun(t, home, 0, "stats")
	vaultRun(t, home, 0, "export", filepath.Join(home, "export.age"))
	home2 := t.TempDir()
	vaultInit(t, home2)
	if r := vaultRun(t, home2, 0, "import", filepath.Join(home, "export.age")); !strings.Contains(r.Stdout, "imported 2") {
		t.Fatalf("import with the export passphrase: %s", r.Stdout)
	}
	vaultRun(t, home, 0, "sync")
	vaultRun(t, home, 0, "rm", filepath.Join(src, "zqxcanaryfolder", "mail.eml"))
	vaultRun(t, home, 0, "lock")
	var files int
	err := filepath.Walk(home, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		files++
		for _, c := range canaries {
			if strings.Contains(path, c) {
				t.Errorf("canary %q in file name %s", c, path)
			}
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		low := bytes.ToLower(raw)
		for _, c := range canaries {
			if bytes.Contains(low, []byte(c)) {
				t.Errorf("canary %q found in %s", c, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 2 {
		t.Fatalf("only %d files scanned", files)
	}
}

func TestVaultCLIAsk(t *testing.T) {
	modelPath := testtool.Model(t, testtool.Stories)
	home := t.TempDir()
	src := t.TempDir()
	vaultInit(t, home)
	vaultWrite(t, filepath.Join(src, "story.md"), "# Lily\n\nLily had a red ball. She played with the ball in the park every day.\n")
	vaultRun(t, home, 0, "add", src)
	// The answer is grammar-forced JSON: statements citing the one passage.
	chat := testtool.Model(t, testtool.Chat)
	r := vaultRun(t, home, 0, "ask", "--model", chat, "what", "did", "Lily", "play", "with?")
	if !strings.Contains(r.Stdout, "[1]\n\nSources:\n[1] "+filepath.Join(src, "story.md")+":1-3\n") {
		t.Fatalf("ask: %s", r.Stdout)
	}
	r = vaultRun(t, home, 0, "ask", "--model", chat, "--json", "what", "did", "Lily", "play", "with?")
	var ans struct {
		Answer  string `json:"answer"`
		Sources []any  `json:"sources"`
		Cited   []int  `json:"cited"`
	}
	if err := json.NewDecoder(bufio.NewReader(strings.NewReader(r.Stdout))).Decode(&ans); err != nil || len(ans.Sources) != 1 || len(ans.Cited) != 1 {
		t.Fatalf("ask --json: %v %s", err, r.Stdout)
	}
	r = vaultRun(t, home, 0, "ask", "--model", "/nonexistent.gguf", "quantum", "chromodynamics") // no model loaded
	if strings.TrimSpace(r.Stdout) != vault.NotInVault {
		t.Fatalf("irrelevant question: %q", r.Stdout)
	}
	// With an embedding model, search fuses vectors and stops saying
	// lexical-only.
	vaultWrite(t, filepath.Join(src, "tom.md"), "# Tom\n\nTom found a shiny stone near the river.\n")
	vaultRun(t, home, 0, "add", "--embed-model", modelPath, src)
	r = vaultRun(t, home, 0, "search", "--embed-model", modelPath, "shiny", "stone")
	if strings.Contains(r.Stdout, "lexical-only") || !strings.Contains(r.Stdout, "tom.md:1-3") {
		t.Fatalf("hybrid search: %s", r.Stdout)
	}
}

// Vectors of one embedding model are not searched with another; reembed
// switches the collection over and records the new model.
func TestVaultCLIReembed(t *testing.T) {
	stories, tiny := testtool.Model(t, testtool.Stories), testtool.Model(t, testtool.TinyRandom)
	home, src := t.TempDir(), t.TempDir()
	vaultInit(t, home)
	vaultWrite(t, filepath.Join(src, "tom.md"), "# Tom\n\nTom found a shiny stone near the river.\n")
	vaultRun(t, home, 0, "add", "--embed-model", stories, src)
	r := vaultRun(t, home, 1, "search", "--embed-model", tiny, "stone")
	if msg := strings.TrimSuffix(r.Stderr, "\n"); strings.Contains(msg, "\n") || !strings.Contains(msg, "stories260K.gguf (sha256 ") ||
		!strings.Contains(msg, "llama-2-tiny-random.gguf (sha256 ") || !strings.Contains(msg, "sov vault reembed --embed-model") {
		t.Fatalf("mixed models: %q", r.Stderr)
	}
	if r := vaultRun(t, home, 1, "reembed"); !strings.Contains(r.Stderr, "pass --embed-model") {
		t.Fatalf("reembed without a model: %q", r.Stderr)
	}
	if r := vaultRun(t, home, 0, "reembed", "--embed-model", tiny); !strings.Contains(r.Stdout, "re-embedded 1 chunks with llama-2-tiny-random.gguf") {
		t.Fatalf("reembed: %q", r.Stdout)
	}
	if r := vaultRun(t, home, 0, "search", "--embed-model", tiny, "stone"); !strings.Contains(r.Stdout, "tom.md:1-3") {
		t.Fatalf("search with the new model: %s", r.Stdout)
	}
	vaultRun(t, home, 1, "search", "--embed-model", stories, "stone")
}

// truncateDB cuts a bbolt file to its two meta pages and a bit: bbolt
// would map it and fault (SIGBUS, not recoverable) on a page past the end.
func truncateDB(t *testing.T, path string) {
	t.Helper()
	if err := os.Truncate(path, 2*4096+100); err != nil {
		t.Fatal(err)
	}
}

// wantDamaged checks that sov failed in one line naming the file and fix.
func wantDamaged(t *testing.T, r sovResult, path, fix string) {
	t.Helper()
	msg := strings.TrimSuffix(r.Stderr, "\n")
	if r.Code != 1 || strings.Contains(msg, "\n") || strings.Contains(msg, "goroutine") ||
		!strings.Contains(msg, path+" is damaged") || !strings.Contains(msg, fix) {
		t.Fatalf("exit %d, want 1 and one line naming %s and %q:\n%s", r.Code, path, fix, r.Stderr)
	}
}

func TestVaultCLIDamagedFile(t *testing.T) {
	home := t.TempDir()
	vaultInit(t, home)
	db := filepath.Join(home, "vault", "vault.db")
	truncateDB(t, db)
	r := runSov(t, home, vaultEnv, "", "vault", "ls")
	wantDamaged(t, r, db, "restore it from a `sov vault export`, or move it aside and re-create the vault")
}

// hostile carries a clipboard write (OSC 52), a window title (OSC 0), a
// screen clear (CSI 2J), 8-bit CSI/OSC and a bidi override.
const hostile = "x\x1b]52;c;ZWNobyBvd25lZA==\x07\x1b]0;owned\x1b\\\x1b[2J\u009b2J\u009d0;t\x07\u202egpj.exe"

// assertTermSafe fails when out holds ESC, a C1 control or a bidi control.
func assertTermSafe(t *testing.T, what, out string) {
	t.Helper()
	for _, r := range out {
		if r == 0x1b || r >= 0x80 && r < 0xa0 || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f {
			t.Fatalf("%s: control %U reaches the terminal: %q", what, r, out)
		}
	}
}

func TestVaultCLITerminalSafe(t *testing.T) {
	home, src := t.TempDir(), t.TempDir()
	vaultInit(t, home)
	name := filepath.Join(src, "doc"+hostile+".md")
	vaultWrite(t, name, "# Notes\n\nzqxhostile "+hostile+" end\n")
	r := vaultRun(t, home, 0, "add", src)
	assertTermSafe(t, "add", r.Stdout+r.Stderr)
	for _, args := range [][]string{{"search", "zqxhostile"}, {"ls"}, {"stats"}} {
		r := vaultRun(t, home, 0, args...)
		assertTermSafe(t, args[0], r.Stdout+r.Stderr)
		if !strings.Contains(r.Stdout, "gpj.exe") && args[0] != "stats" {
			t.Errorf("%s lost the visible text: %q", args[0], r.Stdout)
		}
	}
	// JSON escapes the controls and decodes back to the original bytes.
	r = vaultRun(t, home, 0, "search", "--json", "zqxhostile")
	var hit vault.Hit
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &hit); err != nil || hit.Source != name {
		t.Fatalf("search --json: %v %q", err, r.Stdout)
	}
	assertTermSafe(t, "search --json", r.Stdout)
	if !strings.Contains(r.Stdout, `\u001b`) || !strings.Contains(r.Stdout, `\u202e`) {
		t.Errorf("search --json does not escape the controls: %q", r.Stdout)
	}
	r = vaultRun(t, home, 0, "ls", "--json")
	var doc vault.Doc
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &doc); err != nil || doc.Path != name {
		t.Fatalf("ls --json: %v %q", err, r.Stdout)
	}
	assertTermSafe(t, "ls --json", r.Stdout)
	// An error that embeds the name is cleaned too (exitCode).
	r = vaultRun(t, home, 1, "rm", filepath.Join(src, "missing"+hostile))
	assertTermSafe(t, "rm error", r.Stderr)
}
