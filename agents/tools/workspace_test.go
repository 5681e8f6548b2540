package tools

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// wsEnv is an Env with a fresh workspace, and a folder beside it that is
// outside the workspace, holding secret.txt.
func wsEnv(t *testing.T) (env *Env, ws, outside string) {
	t.Helper()
	dir := t.TempDir()
	ws, outside = filepath.Join(dir, "ws"), filepath.Join(dir, "outside")
	for _, d := range []string{ws, outside} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("the mnemonic"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &Env{Agent: "t", Workspace: ws}, ws, outside
}

func args(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWorkspaceRefusesEscapes: an absolute path, "..", a home path and
// symbolic links that lead out are refused by both tools, and nothing
// outside the workspace is read or written.
func TestWorkspaceRefusesEscapes(t *testing.T) {
	env, ws, outside := wsEnv(t)
	ctx := context.Background()
	// links inside the workspace pointing out: a folder and a file
	if err := os.Symlink(outside, filepath.Join(ws, "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(ws, "secret.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../outside", filepath.Join(ws, "rel")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		"../outside/secret.txt",
		"a/../../outside/secret.txt",
		filepath.Join(outside, "secret.txt"),
		"/etc/passwd",
		"~/.ssh/authorized_keys",
		"..",
		"out",
		"out/secret.txt",
		"out/new.txt",
		"out/sub/new.txt",
		"rel/secret.txt",
		"secret.txt",
	} {
		_, rerr := WorkspaceRead{}.Run(ctx, env, args(t, map[string]any{"path": p}))
		_, werr := WorkspaceWrite{}.Run(ctx, env, args(t, map[string]any{"path": p, "content": "pwned"}))
		for tool, err := range map[string]error{"read": rerr, "write": werr} {
			if !errors.Is(err, ErrOutsideWorkspace) {
				t.Errorf("%s %q: %v, want ErrOutsideWorkspace", tool, p, err)
			}
		}
	}
	// nothing changed outside
	entries, _ := os.ReadDir(outside)
	if len(entries) != 1 {
		t.Fatalf("outside now holds %d files", len(entries))
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret.txt")); string(b) != "the mnemonic" {
		t.Fatalf("secret.txt is now %q", b)
	}
	// a link that stays inside is followed
	if err := os.WriteFile(filepath.Join(ws, "real.md"), []byte("inside"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.md", filepath.Join(ws, "alias.md")); err != nil {
		t.Fatal(err)
	}
	if r, err := (WorkspaceRead{}).Run(ctx, env, args(t, map[string]any{"path": "alias.md"})); err != nil || r.Text != "inside" {
		t.Fatalf("link inside: %+v %v", r, err)
	}
}

func TestWorkspaceReadWrite(t *testing.T) {
	env, ws, _ := wsEnv(t)
	ctx := context.Background()
	write := func(p, content string, app bool) (Result, error) {
		return WorkspaceWrite{}.Run(ctx, env, args(t, map[string]any{"path": p, "content": content, "append": app}))
	}
	read := func(p string) (Result, error) {
		return WorkspaceRead{}.Run(ctx, env, args(t, map[string]any{"path": p}))
	}
	if _, err := write("notes/summary.md", "one\n", false); err != nil {
		t.Fatal(err)
	}
	if _, err := write("notes/summary.md", "two\n", true); err != nil {
		t.Fatal(err)
	}
	r, err := read("notes/summary.md")
	if err != nil || r.Text != "one\ntwo\n" || r.Source != "workspace" || r.Tainted {
		t.Fatalf("read back %+v %v", r, err)
	}
	if _, err := write("notes/summary.md", "three", false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "notes", "summary.md")); string(b) != "three" {
		t.Fatalf("replaced file holds %q", b)
	}
	if r, err := read("."); err != nil || r.Text != "notes/" {
		t.Fatalf("listing %+v %v", r, err)
	}
	if r, err := read("notes"); err != nil || r.Text != "summary.md" {
		t.Fatalf("listing notes %+v %v (a temporary file left behind?)", r, err)
	}
	// terminal control in a file is removed before anyone sees it
	os.WriteFile(filepath.Join(ws, "esc.txt"), []byte("a\x1b]52;c;cHduZWQ=\x07b"), 0o600)
	if r, _ := read("esc.txt"); r.Text != "ab" {
		t.Fatalf("escape kept: %q", r.Text)
	}

	for _, tc := range []struct {
		name string
		run  func() (Result, error)
		want error
	}{
		{"missing file", func() (Result, error) { return read("nope.md") }, os.ErrNotExist},
		{"empty path", func() (Result, error) { return read(" ") }, ErrBadArguments},
		{"unknown argument", func() (Result, error) {
			return WorkspaceRead{}.Run(ctx, env, json.RawMessage(`{"path":"a","mode":"rw"}`))
		}, ErrBadArguments},
		{"no content", func() (Result, error) {
			return WorkspaceWrite{}.Run(ctx, env, json.RawMessage(`{"path":"a"}`))
		}, ErrBadArguments},
		{"the workspace itself", func() (Result, error) { return write(".", "x", false) }, ErrBadArguments},
		{"no workspace", func() (Result, error) {
			return WorkspaceRead{}.Run(ctx, &Env{}, args(t, map[string]any{"path": "a"}))
		}, ErrUnavailable},
	} {
		if _, err := tc.run(); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// a folder, or a file grown past the limit, is refused and the file
	// is left as it was
	if _, err := write("notes", "x", false); err == nil || !strings.Contains(err.Error(), "folder") {
		t.Errorf("write onto a folder: %v", err)
	}
	if _, err := write("notes/summary.md", strings.Repeat("x", maxFileBytes), true); err == nil {
		t.Error("a file past the size limit was written")
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "notes", "summary.md")); string(b) != "three" {
		t.Fatalf("a refused write changed the file to %d bytes", len(b))
	}
}

// TestWorkspaceWriteIsAtomic: a reader racing the writer sees the old file
// or the new one, whole, never a mix or a torn one.
func TestWorkspaceWriteIsAtomic(t *testing.T) {
	env, ws, _ := wsEnv(t)
	ctx := context.Background()
	a, b := strings.Repeat("a", 256<<10), strings.Repeat("b", 256<<10)
	if _, err := (WorkspaceWrite{}).Run(ctx, env, args(t, map[string]any{"path": "f.txt", "content": a})); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad []int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, err := os.ReadFile(filepath.Join(ws, "f.txt"))
			if err != nil || string(got) != a && string(got) != b {
				bad = append(bad, len(got))
			}
		}
	}()
	for i := range 40 {
		content := a
		if i%2 == 0 {
			content = b
		}
		if _, err := (WorkspaceWrite{}).Run(ctx, env, args(t, map[string]any{"path": "f.txt", "content": content})); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("a reader saw %d partial files (sizes %v)", len(bad), bad[:min(len(bad), 5)])
	}
	if entries, _ := os.ReadDir(ws); len(entries) != 1 {
		t.Fatalf("workspace holds %d entries: a temporary file was left", len(entries))
	}
}

// planner is the run loop's agents.Planner, restated (agents imports this
// package): what an approval prompt shows.
type planner interface {
	Plan(ctx context.Context, env *Env, args json.RawMessage) (string, error)
}

var _ planner = WorkspaceWrite{}
var _ planner = WalletPay{}

// TestWorkspaceWritePlan: the approval text names the resolved file and
// the change in size, refuses what Run refuses, and writes nothing.
func TestWorkspaceWritePlan(t *testing.T) {
	dir := t.TempDir()
	ws := filepath.Join(dir, "ws")
	env := &Env{Workspace: ws}
	ctx := context.Background()
	plan := func(p, content string, app bool) (string, error) {
		return WorkspaceWrite{}.Plan(ctx, env, args(t, map[string]any{"path": p, "content": content, "append": app}))
	}
	if s, err := plan("a/b.md", "hello", false); err != nil || s != "Create "+filepath.Join(ws, "a", "b.md")+" (5 bytes), in a new workspace folder" {
		t.Fatalf("plan in a new workspace: %q %v", s, err)
	}
	if _, err := os.Stat(ws); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("planning created the workspace")
	}
	if _, err := plan("~/.ssh/authorized_keys", "k", false); !errors.Is(err, ErrOutsideWorkspace) {
		t.Fatalf("home path in a new workspace: %v", err)
	}
	os.MkdirAll(ws, 0o700)
	os.WriteFile(filepath.Join(ws, "f.md"), []byte("1234"), 0o600)
	os.Symlink(dir, filepath.Join(ws, "up"))
	for _, tc := range []struct {
		path, content string
		app           bool
		want          string
	}{
		{"new.md", "xy", false, "Create " + filepath.Join(ws, "new.md") + " (2 bytes)"},
		{"f.md", "xy", false, "Replace " + filepath.Join(ws, "f.md") + " (4 bytes now) with 2 bytes"},
		{"./f.md", "xy", true, "Append 2 bytes to " + filepath.Join(ws, "f.md") + " (4 bytes now)"},
	} {
		if s, err := plan(tc.path, tc.content, tc.app); err != nil || s != tc.want {
			t.Errorf("plan %q: %q %v, want %q", tc.path, s, err, tc.want)
		}
	}
	for _, p := range []string{"../x", "/etc/passwd", "up/x", "up/ws/f.md"} {
		if _, err := plan(p, "x", false); !errors.Is(err, ErrOutsideWorkspace) {
			t.Errorf("plan %q: %v", p, err)
		}
	}
	// a name shown otherwise than it is written is refused, by both
	for _, p := range []string{"n\x1b[2Jew.md", "a\u202eb.md", "x\ry.md"} {
		_, perr := plan(p, "x", false)
		_, werr := WorkspaceWrite{}.Run(ctx, env, args(t, map[string]any{"path": p, "content": "x"}))
		if !errors.Is(perr, ErrBadArguments) || !errors.Is(werr, ErrBadArguments) {
			t.Errorf("path %q: plan %v, write %v", p, perr, werr)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "f.md")); string(b) != "1234" {
		t.Fatalf("planning changed the file to %q", b)
	}
	if entries, _ := os.ReadDir(ws); len(entries) != 2 {
		t.Fatalf("planning left %d entries in the workspace", len(entries))
	}
}
