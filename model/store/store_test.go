package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sovos/sov/internal/config"
	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/model/gguf"
	"github.com/sovos/sov/model/store/hftest"
)

// testModel returns the shared stories260K model, skipping when absent and
// failing when SOV_REQUIRE_MODEL=1.
func testModel(t testing.TB) (string, []byte) {
	t.Helper()
	p := testtool.Model(t, testtool.Stories)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, data
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// badFiles are the bad inputs: not GGUF, a GGUF cut to 1,000 bytes,
// and the magic followed by garbage.
func badFiles(model []byte) map[string][]byte {
	garbage := []byte("GGUF")
	x := uint32(7)
	for len(garbage) < 5000 {
		x = x*1103515245 + 12345
		garbage = append(garbage, byte(x>>16))
	}
	return map[string][]byte{
		"not-gguf":  []byte("<html>this is a web page, not a model</html>\n"),
		"truncated": model[:1000],
		"garbage":   garbage,
	}
}

type recorder struct {
	mu     sync.Mutex
	events []Progress
}

func (r *recorder) fn(p Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, p)
}

func (r *recorder) last() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		return Progress{}
	}
	return r.events[len(r.events)-1]
}

func newHub(t *testing.T, model []byte) *hftest.Server {
	hub := hftest.New()
	t.Cleanup(hub.Close)
	hub.Add("karpathy/stories-GGUF", "stories260K-F32.gguf", hftest.File{Data: model})
	hub.Add("karpathy/stories-GGUF", "sub/stories260K-Q8_0.gguf", hftest.File{Data: model})
	hub.Add("karpathy/stories-GGUF", "mmproj-stories260K-F32.gguf", hftest.File{Data: []byte("x")})
	hub.Add("karpathy/stories-GGUF", "README.md", hftest.File{Data: []byte("# stories")})
	return hub
}

func TestStorePullHuggingFace(t *testing.T) {
	_, model := testModel(t)
	hub := newHub(t, model)
	s := New(t.TempDir())
	ctx := context.Background()
	var rec recorder
	m, err := s.Pull(ctx, "hf.co/karpathy/stories-GGUF:f32", PullOptions{Endpoint: hub.URL, Progress: rec.fn})
	if err != nil {
		t.Fatal(err)
	}
	want := Model{Name: "stories260K-F32", Size: int64(len(model)), SHA256: sha(model), Architecture: "llama",
		Parameters: 292800, Quantization: "F32", ContextLength: 2048, EmbeddingLength: 64, Source: "hf.co/karpathy/stories-GGUF:f32"}
	if m.Name != want.Name || m.Size != want.Size || m.SHA256 != want.SHA256 || m.Architecture != want.Architecture ||
		m.Parameters != want.Parameters || m.Quantization != want.Quantization || m.ContextLength != want.ContextLength ||
		m.EmbeddingLength != want.EmbeddingLength || m.Source != want.Source || m.ChatTemplate || m.Linked {
		t.Errorf("pulled %+v\nwant %+v", m, want)
	}
	if p := rec.last(); !p.Final || p.Done != int64(len(model)) || p.Total != int64(len(model)) || p.Phase != "download" {
		t.Errorf("last progress %+v", p)
	}
	if got, _ := os.ReadFile(m.Path); sha(got) != sha(model) || filepath.Dir(m.Path) != s.Dir() {
		t.Errorf("installed file %s wrong", m.Path)
	}
	if _, err := os.Stat(m.Path + ".partial"); !os.IsNotExist(err) {
		t.Errorf(".partial left behind: %v", err)
	}
	// Pulling again is a no-op.
	n := len(hub.Downloads())
	if again, err := s.Pull(ctx, "hf.co/karpathy/stories-GGUF:f32", PullOptions{Endpoint: hub.URL}); err != nil || again.Path != m.Path {
		t.Errorf("second pull: %v %+v", err, again)
	}
	if len(hub.Downloads()) != n {
		t.Errorf("second pull downloaded again")
	}
	// A file in a sub-folder, by name, under another model name.
	m2, err := s.Pull(ctx, "hf.co/karpathy/stories-GGUF/sub/stories260K-Q8_0.gguf", PullOptions{Endpoint: hub.URL, Name: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	if m2.Name != "tiny" || m2.SHA256 != sha(model) {
		t.Errorf("file pull %+v", m2)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 || list[0].Name != "stories260K-F32" || list[1].Name != "tiny" {
		t.Fatalf("list %v %+v", err, list)
	}
	mm, gf, err := s.Show("STORIES260K-f32")
	if err != nil || mm.Name != "stories260K-F32" || gf.Architecture() != "llama" {
		t.Errorf("show: %v %+v", err, mm)
	}
	if _, err := s.Remove("tiny"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m2.Path); !os.IsNotExist(err) {
		t.Errorf("rm left the file: %v", err)
	}
	if _, err := s.Remove("tiny"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second rm: %v", err)
	}
}

func TestStorePullHuggingFaceErrors(t *testing.T) {
	_, model := testModel(t)
	hub := newHub(t, model)
	hub.Add("someone/multi-GGUF", "m-Q4_K_M.gguf", hftest.File{Data: model})
	hub.Add("someone/multi-GGUF", "m-Q4_K_S.gguf", hftest.File{Data: model})
	hub.Add("someone/split-GGUF", "m-Q8_0-00001-of-00002.gguf", hftest.File{Data: model})
	hub.Add("someone/split-GGUF", "m-Q8_0-00002-of-00002.gguf", hftest.File{Data: model})
	s := New(t.TempDir())
	tests := []struct{ ref, want string }{
		{"hf.co/karpathy/stories-GGUF:Q4_K_M", "no .gguf file for quantisation Q4_K_M: pick one of mmproj-stories260K-F32.gguf, stories260K-F32.gguf, sub/stories260K-Q8_0.gguf"},
		{"hf.co/nobody/nothing-GGUF:Q4_K_M", "repository nobody/nothing-GGUF not found (HTTP 404)"},
		{"hf.co/karpathy/stories-GGUF/missing.gguf", "has no file missing.gguf"},
		{"hf.co/someone/multi-GGUF", "add the quantisation, e.g. hf.co/someone/multi-GGUF:Q4_K_M"},
		{"hf.co/someone/multi-GGUF:Q4_K", "no .gguf file for quantisation Q4_K"},
		{"hf.co/someone/split-GGUF:Q8_0", "several files"},
		{"hf.co/karpathy", "not a Hugging Face model reference"},
		{"hf.co/karpathy/stories-GGUF/README.md", "does not name a .gguf file"},
		{"ftp://example/x.gguf", "unsupported URL scheme"},
	}
	for _, tt := range tests {
		_, err := s.Pull(context.Background(), tt.ref, PullOptions{Endpoint: hub.URL})
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("pull %s: %v, want %q", tt.ref, err, tt.want)
		}
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Errorf("registered %+v", list)
	}
	// An endpoint nothing listens on.
	_, err := s.Pull(context.Background(), "hf.co/a/b:Q4_0", PullOptions{Endpoint: "http://127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "cannot reach http://127.0.0.1:1") || !strings.Contains(err.Error(), EnvEndpoint) {
		t.Errorf("unreachable: %v", err)
	}
}

// TestStorePullResume: the server drops the connection half-way; the pull
// fails clearly and keeps the .partial; the retry resumes with a Range
// request and succeeds.
func TestStorePullResume(t *testing.T) {
	_, model := testModel(t)
	hub := newHub(t, model)
	dir := t.TempDir()
	s := New(dir)
	half := int64(len(model) / 2)
	hub.DropNextAfter(half)
	ref := "hf.co/karpathy/stories-GGUF:F32"
	_, err := s.Pull(context.Background(), ref, PullOptions{Endpoint: hub.URL})
	if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "interrupted after 578.8 KiB of 1.1 MiB") {
		t.Fatalf("cut-off pull: %v", err)
	}
	partial := filepath.Join(dir, "stories260K-F32.gguf.partial")
	st, err := os.Stat(partial)
	if err != nil || st.Size() != half {
		t.Fatalf("partial after cut: %v size %d want %d", err, st.Size(), half)
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Fatalf("registered after a failed pull: %+v", list)
	}
	var rec recorder
	m, err := s.Pull(context.Background(), ref, PullOptions{Endpoint: hub.URL, Progress: rec.fn})
	if err != nil {
		t.Fatal(err)
	}
	dl := hub.Downloads()
	if len(dl) != 2 {
		t.Fatalf("downloads %+v", dl)
	}
	if dl[0].Range != "" || dl[1].Range != "bytes="+itoa(half)+"-" {
		t.Errorf("range headers %q, %q; want none then bytes=%d-", dl[0].Range, dl[1].Range, half)
	}
	if rec.events[0].Resumed != half {
		t.Errorf("progress did not report the resume: %+v", rec.events[0])
	}
	if m.SHA256 != sha(model) {
		t.Errorf("sha %s", m.SHA256)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Errorf("partial still there: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestStorePullStall: a server that goes silent mid-body is given up on
// after the stall timeout, and the retry resumes.
func TestStorePullStall(t *testing.T) {
	_, model := testModel(t)
	hub := newHub(t, model)
	s := New(t.TempDir())
	hub.StallNextAfter(1000)
	opts := PullOptions{Endpoint: hub.URL, StallTimeout: 300 * time.Millisecond}
	_, err := s.Pull(context.Background(), "hf.co/karpathy/stories-GGUF:F32", opts)
	if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "no data received for 300ms") {
		t.Fatalf("stalled pull: %v", err)
	}
	if _, err := s.Pull(context.Background(), "hf.co/karpathy/stories-GGUF:F32", opts); err != nil {
		t.Fatal(err)
	}
	if dl := hub.Downloads(); len(dl) != 2 || dl[1].Range != "bytes=1000-" {
		t.Errorf("downloads %+v", dl)
	}
}

func TestStorePullSHAMismatch(t *testing.T) {
	_, model := testModel(t)
	hub := newHub(t, model)
	wrong := strings.Repeat("ab", 32)
	hub.Add("evil/bad-GGUF", "bad-Q8_0.gguf", hftest.File{Data: model, SHA256: wrong})
	badURL := hub.AddPlain("etag-bad.gguf", hftest.File{Data: model, SHA256: wrong})
	goodURL := hub.AddPlain("good.gguf", hftest.File{Data: model})
	tests := []struct {
		name, ref string
		opts      PullOptions
		want      string
	}{
		{"listing sha", "hf.co/evil/bad-GGUF:Q8_0", PullOptions{}, "the server says " + wrong},
		{"etag sha", badURL, PullOptions{}, "the server says " + wrong},
		{"--sha256", goodURL, PullOptions{SHA256: wrong}, "expected " + wrong},
		{"--sha256 on hf", "hf.co/karpathy/stories-GGUF:F32", PullOptions{SHA256: wrong}, "expected " + wrong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := New(dir)
			tt.opts.Endpoint = hub.URL
			_, err := s.Pull(context.Background(), tt.ref, tt.opts)
			if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "sha256 mismatch") || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "removed") {
				t.Fatalf("err %v", err)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".gguf") && !strings.HasSuffix(e.Name(), ".lock") {
					t.Errorf("left %s behind", e.Name())
				}
			}
			if list, _ := s.List(); len(list) != 0 {
				t.Errorf("registered %+v", list)
			}
		})
	}
	// The right --sha256 and an ETag digest both pass.
	s := New(t.TempDir())
	if _, err := s.Pull(context.Background(), goodURL, PullOptions{SHA256: strings.ToUpper(sha(model))}); err != nil {
		t.Fatal(err)
	}
}

// TestStorePullSHAInstalled: pulling an installed model again with
// --sha256 checks its file: a wrong value fails and changes nothing, the
// right one passes, for downloads, copies and links alike.
func TestStorePullSHAInstalled(t *testing.T) {
	path, model := testModel(t)
	hub := newHub(t, model)
	wrong := strings.Repeat("ab", 32)
	for _, tt := range []struct {
		name, ref string
		opts      PullOptions
	}{
		{"hf", "hf.co/karpathy/stories-GGUF:F32", PullOptions{Endpoint: hub.URL}},
		{"copy", path, PullOptions{}},
		{"link", path, PullOptions{Link: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := New(t.TempDir())
			first, err := s.Pull(context.Background(), tt.ref, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			opts := tt.opts
			opts.SHA256 = wrong
			_, err = s.Pull(context.Background(), tt.ref, opts)
			var im *InstalledMismatchError
			if !errors.Is(err, ErrChecksum) || !errors.As(err, &im) || im.Got != sha(model) || im.Model.Name != first.Name || !strings.Contains(err.Error(), wrong) {
				t.Fatalf("wrong sha256 on an installed model: %v", err)
			}
			if list, _ := s.List(); len(list) != 1 || list[0].Path != first.Path {
				t.Fatalf("the store changed: %+v", list)
			}
			opts.SHA256 = sha(model)
			if m, err := s.Pull(context.Background(), tt.ref, opts); err != nil || m.Path != first.Path {
				t.Fatalf("right sha256: %+v %v", m, err)
			}
		})
	}
}

// TestStorePullBadFiles: not-GGUF, truncated and garbage files are rejected
// by every kind of pull and nothing is registered.
func TestStorePullBadFiles(t *testing.T) {
	_, model := testModel(t)
	hub := newHub(t, model)
	src := t.TempDir()
	for name, data := range badFiles(model) {
		hub.Add("bad/files-GGUF", name+".gguf", hftest.File{Data: data})
		u := hub.AddPlain(name+".gguf", hftest.File{Data: data})
		local := filepath.Join(src, name+".gguf")
		if err := os.WriteFile(local, data, 0o600); err != nil {
			t.Fatal(err)
		}
		want := map[string]error{"not-gguf": gguf.ErrNotGGUF, "truncated": gguf.ErrTruncated, "garbage": gguf.ErrCorrupt}[name]
		for _, c := range []struct {
			ref  string
			opts PullOptions
		}{
			{"hf.co/bad/files-GGUF/" + name + ".gguf", PullOptions{}},
			{u, PullOptions{}},
			{local, PullOptions{}},
			{local, PullOptions{Link: true}},
		} {
			dir := t.TempDir()
			s := New(dir)
			c.opts.Endpoint = hub.URL
			_, err := s.Pull(context.Background(), c.ref, c.opts)
			if !errors.Is(err, want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("pull %s %+v: %v, want %v", c.ref, c.opts, err, want)
			}
			if list, _ := s.List(); len(list) != 0 {
				t.Errorf("registered %+v", list)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".gguf") && !strings.HasSuffix(e.Name(), ".lock") {
					t.Errorf("pull %s left %s", c.ref, e.Name())
				}
			}
		}
	}
}

func TestStorePullLocal(t *testing.T) {
	path, model := testModel(t)
	dir := t.TempDir()
	s := New(dir)
	ctx := context.Background()
	linked, err := s.Pull(ctx, path, PullOptions{Link: true, Name: "linked"})
	if err != nil {
		t.Fatal(err)
	}
	if !linked.Linked || linked.Path != path {
		t.Errorf("link %+v", linked)
	}
	var rec recorder
	copied, err := s.Pull(ctx, path, PullOptions{Progress: rec.fn})
	if err != nil {
		t.Fatal(err)
	}
	if copied.Linked || filepath.Dir(copied.Path) != dir || copied.Name != "stories260K" || copied.SHA256 != sha(model) {
		t.Errorf("copy %+v", copied)
	}
	if p := rec.last(); p.Phase != "copy" || !p.Final || p.Done != int64(len(model)) {
		t.Errorf("copy progress %+v", p)
	}
	// Same name, other source.
	other := filepath.Join(t.TempDir(), "stories260K.gguf")
	os.WriteFile(other, model, 0o600)
	var taken *NameTakenError
	if _, err := s.Pull(ctx, other, PullOptions{}); !errors.As(err, &taken) || taken.Name != "stories260K" || !errors.Is(err, ErrNameTaken) || !strings.Contains(err.Error(), "already installed") {
		t.Errorf("name clash: %v", err)
	}
	if _, err := s.Pull(ctx, path, PullOptions{Link: true, Name: "x", SHA256: strings.Repeat("0", 64)}); !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "nothing was registered") {
		t.Errorf("link with wrong sha: %v", err)
	}
	for _, c := range []struct {
		ref  string
		opts PullOptions
		is   error // nil: no sentinel
		want string
	}{
		{filepath.Join(t.TempDir(), "nope.gguf"), PullOptions{}, ErrNoSuchFile, "no such file"},
		{t.TempDir(), PullOptions{}, nil, "is a directory"},
		{path, PullOptions{Name: "../evil"}, nil, "not allowed"},
		{path, PullOptions{SHA256: "abc"}, ErrBadSHA256, "not a sha256"},
		{"https://example.invalid/x.gguf", PullOptions{Link: true}, ErrLinkRemote, "only local files can be linked"},
		{"https://example.invalid/", PullOptions{}, ErrNoFileName, "cannot tell a file name"},
	} {
		_, err := s.Pull(ctx, c.ref, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) || c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("pull %s: %v, want %q", c.ref, err, c.want)
		}
		noCLI(t, err)
	}
	// Removing a linked model leaves the original alone.
	if _, err := s.Remove("linked"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("rm deleted the linked original: %v", err)
	}
	// A registered file that disappeared is reported, not crashed on.
	os.Remove(copied.Path)
	list, _ := s.List()
	if len(list) != 1 || !list[0].Missing {
		t.Errorf("missing not flagged: %+v", list)
	}
	var missing *MissingError
	if _, err := s.Resolve("stories260K", nil, ""); !errors.As(err, &missing) || missing.Model.Name != "stories260K" || !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "is gone") {
		t.Errorf("resolve missing: %v", err)
	}
}

func TestStoreDiskSpace(t *testing.T) {
	path, model := testModel(t)
	hub := newHub(t, model)
	dir := t.TempDir()
	s := New(dir)
	s.freeSpace = func(string) (uint64, error) { return 1 << 20, nil }
	for _, ref := range []string{"hf.co/karpathy/stories-GGUF:F32", path} {
		_, err := s.Pull(context.Background(), ref, PullOptions{Endpoint: hub.URL})
		if err == nil || !strings.Contains(err.Error(), "not enough disk space") {
			t.Errorf("pull %s: %v", ref, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".gguf") || strings.HasSuffix(e.Name(), ".partial") {
			t.Errorf("left %s", e.Name())
		}
	}
}

func TestStorePullCancelled(t *testing.T) {
	_, model := testModel(t)
	hub := newHub(t, model)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := New(t.TempDir()).Pull(ctx, "hf.co/karpathy/stories-GGUF:F32", PullOptions{Endpoint: hub.URL})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled pull: %v", err)
	}
}

func TestStoreResolve(t *testing.T) {
	path, _ := testModel(t)
	notGGUF := filepath.Join(t.TempDir(), "notes.gguf")
	os.WriteFile(notGGUF, []byte("hello"), 0o600)
	empty := New(t.TempDir())
	one := New(t.TempDir())
	if _, err := one.Pull(context.Background(), path, PullOptions{Link: true, Name: "only"}); err != nil {
		t.Fatal(err)
	}
	two := New(t.TempDir())
	for _, n := range []string{"a", "b"} {
		if _, err := two.Pull(context.Background(), path, PullOptions{Link: true, Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == EnvModel {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		name    string
		s       *Store
		flag    string
		env     string
		def     string
		want    string // path, or error substring when wantErr
		wantErr bool
		is      error // the sentinel the error matches, if any
	}{
		{"flag name beats all", two, "a", "b", "b", path, false, nil},
		{"flag path", empty, path, "", "", path, false, nil},
		{"env", two, "", "b", "a", path, false, nil},
		{"config default", two, "", "", "b", path, false, nil},
		{"only model", one, "", "", "", path, false, nil},
		{"none installed", empty, "", "", "", "no model installed", true, ErrNoModel},
		{"several, none chosen", two, "", "", "", "2 models are installed (a, b) and none is chosen", true, ErrNoneChosen},
		{"unknown name", two, "c", "", "", `no installed model named "c"`, true, ErrNotFound},
		{"unknown env name", two, "", "zz", "", `no installed model named "zz" (from SOV_MODEL)`, true, ErrNotFound},
		{"bad default", two, "", "", "gone", "(from [model] default in the config)", true, ErrNotFound},
		{"missing path", empty, "./nope/x.gguf", "", "", "does not exist", true, ErrNoSuchFile},
		{"not gguf", empty, notGGUF, "", "", "not a GGUF model file", true, gguf.ErrNotGGUF},
		{"directory", empty, t.TempDir(), "", "", "is a directory", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.s.Resolve(tt.flag, env(tt.env), tt.def)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") || tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("err %v, want %q", err, tt.want)
				}
				noCLI(t, err)
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestStoreConfigDefault(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(cfgPath, []byte("[model]\nthreads = 4\n\n[tui]\ntheme = \"dark\"\n"), 0o600)
	if err := SetDefault(cfgPath, "tiny"); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	def, err := DefaultFromConfig(cfg)
	if err != nil || def != "tiny" {
		t.Errorf("default %q %v", def, err)
	}
	var other struct {
		Threads int `toml:"threads"`
	}
	var tui struct {
		Theme string `toml:"theme"`
	}
	cfg.Section("model", &other)
	cfg.Section("tui", &tui)
	if other.Threads != 4 || tui.Theme != "dark" {
		t.Errorf("other settings lost: %+v %+v", other, tui)
	}
	// Removing another model keeps the default; removing it clears it.
	for _, tt := range []struct {
		name string
		want bool
		def  string
	}{{"other", false, "tiny"}, {"", false, "tiny"}, {"tiny", true, ""}, {"tiny", false, ""}} {
		was, err := UnsetDefault(cfgPath, tt.name)
		cfg, _ := config.Load(cfgPath)
		def, _ := DefaultFromConfig(cfg)
		if err != nil || was != tt.want || def != tt.def {
			t.Errorf("UnsetDefault(%q) = %v, %v; default now %q, want %v and %q", tt.name, was, err, def, tt.want, tt.def)
		}
	}
}

func TestStoreCanonical(t *testing.T) {
	path, model := testModel(t)
	s := New(t.TempDir())
	if _, err := s.Pull(context.Background(), path, PullOptions{Link: true, Name: "Tiny"}); err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.gguf")
	os.WriteFile(cut, model[:1000], 0o600)
	abs, _ := filepath.Abs(path)
	for _, tt := range []struct {
		choice, want string
		is           error
	}{
		{"tiny", "Tiny", nil}, // any case, recorded as installed
		{path, abs, nil},
		{"nope", "", ErrNotFound},
		{cut, "", gguf.ErrTruncated},
	} {
		got, err := s.Canonical(tt.choice)
		if got != tt.want || tt.is == nil && err != nil || tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("Canonical(%q) = %q, %v; want %q, %v", tt.choice, got, err, tt.want, tt.is)
		}
	}
}

func TestStoreParseRef(t *testing.T) {
	tests := []struct {
		ref  string
		want Ref
	}{
		{"hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M", Ref{Kind: RefHF, Owner: "Qwen", Repo: "Qwen2.5-0.5B-Instruct-GGUF", Quant: "Q4_K_M"}},
		{"huggingface.co/a/b", Ref{Kind: RefHF, Owner: "a", Repo: "b"}},
		{"hf.co/a/b/dir/f.gguf", Ref{Kind: RefHF, Owner: "a", Repo: "b", File: "dir/f.gguf"}},
		{"https://hf.co/a/b:Q8_0", Ref{Kind: RefHF, Owner: "a", Repo: "b", Quant: "Q8_0"}},
		{"https://example.com/m/x.gguf", Ref{Kind: RefURL, URL: "https://example.com/m/x.gguf", File: "x.gguf"}},
		{"https://huggingface.co/a/b/resolve/main/x.gguf", Ref{Kind: RefURL, URL: "https://huggingface.co/a/b/resolve/main/x.gguf", File: "x.gguf"}},
		{"./local.gguf", Ref{Kind: RefLocal, Path: "./local.gguf"}},
		{"model.gguf", Ref{Kind: RefLocal, Path: "model.gguf"}},
	}
	for _, tt := range tests {
		got, err := ParseRef(tt.ref)
		if err != nil || got != tt.want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", tt.ref, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "hf.co/x", "hf.co/a/b:", "hf.co/a/../x.gguf", "hf.co/a/b/readme.md", "ftp://x/y.gguf"} {
		if _, err := ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q) accepted", bad)
		}
	}
}

func TestStoreMatchQuant(t *testing.T) {
	tests := []struct {
		file, quant string
		want        bool
	}{
		{"Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", "Q4_K_M", true},
		{"qwen2.5-0.5b-instruct-q4_k_m.gguf", "Q4_K_M", true},
		{"m-Q4_K_M.gguf", "q4_k_m", true},
		{"m-Q4_K_M.gguf", "Q4_K", false},
		{"m-IQ4_XS.gguf", "IQ4_XS", true},
		{"m-IQ4_NL.gguf", "Q4_NL", false},
		{"m.Q8_0.gguf", "Q8_0", true},
		{"m-Q8_0-00001-of-00002.gguf", "Q8_0", true},
		{"m-F16.gguf", "F16", true},
		{"m-BF16.gguf", "F16", false},
		{"dir/m-Q5_0.gguf", "Q5_0", true},
	}
	for _, tt := range tests {
		if got := matchQuant(tt.file, tt.quant); got != tt.want {
			t.Errorf("matchQuant(%q, %q) = %v", tt.file, tt.quant, got)
		}
	}
}

func TestStoreNames(t *testing.T) {
	for in, want := range map[string]string{
		"/x/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf": "Qwen2.5-0.5B-Instruct-Q4_K_M",
		"weird name (1).GGUF":                  "weird-name--1",
		".gguf":                                "model",
		"a/b/c.bin":                            "c.bin",
	} {
		if got := nameFromFile(in); got != want || !validName(got) {
			t.Errorf("nameFromFile(%q) = %q want %q", in, got, want)
		}
	}
}

func TestStoreDamagedIndex(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.json"), []byte("{not json"), 0o600)
	_, err := New(dir).List()
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("damaged index: %v", err)
	}
}

// A model whose file was deleted is fetched again by the same pull.
func TestStoreRepullMissing(t *testing.T) {
	_, model := testModel(t)
	hub := newHub(t, model)
	s := New(t.TempDir())
	ref := "hf.co/karpathy/stories-GGUF:F32"
	m, err := s.Pull(context.Background(), ref, PullOptions{Endpoint: hub.URL})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(m.Path)
	if _, err := s.Pull(context.Background(), ref, PullOptions{Endpoint: hub.URL}); err != nil {
		t.Fatal(err)
	}
	list, _ := s.List()
	if len(list) != 1 || list[0].Missing || len(hub.Downloads()) != 2 {
		t.Errorf("after re-pull: %+v, %d downloads", list, len(hub.Downloads()))
	}
}

// Two pulls of one model at once: the second is told to wait.
func TestStorePullConcurrent(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockFile(filepath.Join(dir, ".m.pull.lock"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := lockFile(filepath.Join(dir, ".m.pull.lock"), false); !errors.Is(err, errLocked) {
		t.Fatalf("second lock: %v", err)
	}
	_, err = New(dir).Pull(context.Background(), "https://127.0.0.1:1/m.gguf", PullOptions{})
	if err == nil || !strings.Contains(err.Error(), "another pull is already downloading m") {
		t.Errorf("concurrent pull: %v", err)
	}
}

// noCLI fails when an error message names a command-line flag or a sov
// command: the library's callers add those hints themselves.
func noCLI(t *testing.T, err error) {
	t.Helper()
	if err != nil && regexp.MustCompile(`--[a-z]|\bsov [a-z]`).MatchString(err.Error()) {
		t.Errorf("error names a flag or command: %v", err)
	}
}
