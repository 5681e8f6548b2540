package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/model/gguf"
	"github.com/sovos/sov/model/store"
	"github.com/sovos/sov/model/store/hftest"
)

// storeHub starts the loopback Hugging Face stand-in (model API listing and
// resolve endpoints) serving the shared model.
func storeHub(t *testing.T) (*hftest.Server, []byte) {
	t.Helper()
	data, err := os.ReadFile(testtool.Model(t, testtool.Stories))
	if err != nil {
		t.Fatal(err)
	}
	hub := hftest.New()
	t.Cleanup(hub.Close)
	hub.Add("karpathy/stories-GGUF", "stories260K-F32.gguf", hftest.File{Data: data})
	hub.Add("karpathy/stories-GGUF", "README.md", hftest.File{Data: []byte("# stories")})
	return hub, data
}

func storeLastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestStoreCLIPullListShowRm(t *testing.T) {
	hub, data := storeHub(t)
	home := t.TempDir()
	env := []string{"SOV_HF_ENDPOINT=" + hub.URL}

	r := runSov(t, home, env, "", "pull", "hf.co/karpathy/stories-GGUF:F32")
	if r.Code != 0 || !strings.Contains(r.Stdout, "installed stories260K-F32: llama, 292.8K parameters, F32") {
		t.Fatalf("pull: %+v", r)
	}
	// Not a terminal: plain progress lines.
	if !strings.Contains(r.Stderr, "downloading stories260K-F32.gguf (1.1 MiB)") || !strings.Contains(r.Stderr, "stories260K-F32.gguf: done") || strings.Contains(r.Stderr, "\r") {
		t.Errorf("progress: %q", r.Stderr)
	}
	r = runSov(t, home, env, "", "pull", testtool.Model(t, testtool.Stories), "--link", "--name", "linked")
	if r.Code != 0 || !strings.Contains(r.Stdout, "linked linked:") {
		t.Fatalf("pull --link: %+v", r)
	}

	r = runSov(t, home, nil, "", "models")
	if r.Code != 0 {
		t.Fatalf("models: %+v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "NAME SIZE ARCH PARAMS QUANT CONTEXT CHAT TEMPLATE" ||
		strings.Join(strings.Fields(lines[2]), " ") != "stories260K-F32 1.1 MiB llama 292.8K F32 2048 no" {
		t.Errorf("models table:\n%s", r.Stdout)
	}

	r = runSov(t, home, nil, "", "models", "--json")
	var list []struct {
		Name         string `json:"name"`
		SHA256       string `json:"sha256"`
		Parameters   uint64 `json:"parameters"`
		ChatTemplate bool   `json:"chat_template"`
		Linked       bool   `json:"linked"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil || len(list) != 2 || list[1].Name != "stories260K-F32" ||
		list[1].SHA256 != "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d" && len(data) == 1185376 || !list[0].Linked {
		t.Errorf("models --json: %v %+v", err, list)
	}

	r = runSov(t, home, nil, "", "models", "show", "stories260K-F32")
	for _, want := range []string{"architecture   llama", "parameters     292.8K (292800)", "context        2048", "chat template  no",
		"tokenizer.ggml.tokens", "[512 × string]", "llama.embedding_length", "sha256"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("show lacks %q:\n%s", want, r.Stdout)
		}
	}
	r = runSov(t, home, nil, "", "models", "show", "stories260K-F32", "--json")
	var shown struct {
		Metadata map[string]any `json:"metadata"`
		Tensors  int            `json:"tensors"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &shown); err != nil || shown.Tensors != 48 || shown.Metadata["general.architecture"] != "llama" {
		t.Errorf("show --json: %v %+v", err, shown)
	}

	r = runSov(t, home, nil, "", "models", "default", "linked")
	if r.Code != 0 {
		t.Fatalf("default: %+v", r)
	}
	if r = runSov(t, home, nil, "", "models", "default"); strings.TrimSpace(r.Stdout) != "linked" {
		t.Errorf("default now %q", r.Stdout)
	}
	if r = runSov(t, home, nil, "", "models"); !strings.Contains(r.Stdout, "linked (default)") {
		t.Errorf("default not marked:\n%s", r.Stdout)
	}

	r = runSov(t, home, nil, "", "models", "rm", "stories260K-F32")
	if r.Code != 0 || !strings.Contains(r.Stdout, "removed stories260K-F32") {
		t.Fatalf("rm: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(home, "models", "stories260K-F32.gguf")); !os.IsNotExist(err) {
		t.Errorf("rm left the file: %v", err)
	}
	r = runSov(t, home, nil, "", "models", "rm", "linked")
	if r.Code != 0 || !strings.Contains(r.Stdout, "is kept") || !strings.Contains(r.Stderr, "was the default model") {
		t.Fatalf("rm linked: %+v", r)
	}
	if _, err := os.Stat(testtool.Model(t, testtool.Stories)); err != nil {
		t.Fatalf("rm deleted the linked original: %v", err)
	}
	r = runSov(t, home, nil, "", "models")
	if r.Code != 0 || r.Stdout != "" || !strings.Contains(r.Stderr, "no models installed: pull one with sov pull") {
		t.Errorf("empty models: %+v", r)
	}
}

// TestStoreCLIPullResume: the loopback hub drops the connection half-way;
// sov pull fails with a one-line error and keeps the .partial; the same
// command resumes with a Range request and succeeds.
func TestStoreCLIPullResume(t *testing.T) {
	hub, data := storeHub(t)
	home := t.TempDir()
	env := []string{"SOV_HF_ENDPOINT=" + hub.URL}
	half := len(data) / 2
	hub.DropNextAfter(int64(half))
	r := runSov(t, home, env, "", "pull", "hf.co/karpathy/stories-GGUF:F32")
	last := storeLastLine(r.Stderr)
	if r.Code != 1 || !strings.HasPrefix(last, "sov: download of stories260K-F32.gguf interrupted after") || !strings.HasSuffix(last, "run the same sov pull again to resume") {
		t.Fatalf("cut-off pull: code %d stderr %q", r.Code, r.Stderr)
	}
	partial := filepath.Join(home, "models", "stories260K-F32.gguf.partial")
	if st, err := os.Stat(partial); err != nil || st.Size() != int64(half) {
		t.Fatalf("partial: %v", err)
	}
	r = runSov(t, home, env, "", "pull", "hf.co/karpathy/stories-GGUF:F32")
	if r.Code != 0 || !strings.Contains(r.Stderr, "resuming at") {
		t.Fatalf("resumed pull: %+v", r)
	}
	dl := hub.Downloads()
	if len(dl) != 2 || dl[1].Range != "bytes="+strconv.Itoa(half)+"-" {
		t.Errorf("downloads %+v: the retry should ask for bytes=%d-", dl, half)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Errorf("partial left: %v", err)
	}
}

func TestStoreCLIPullSHAMismatch(t *testing.T) {
	hub, _ := storeHub(t)
	home := t.TempDir()
	wrong := strings.Repeat("0f", 32)
	r := runSov(t, home, []string{"SOV_HF_ENDPOINT=" + hub.URL}, "", "pull", "hf.co/karpathy/stories-GGUF:F32", "--sha256", wrong)
	last := storeLastLine(r.Stderr)
	if r.Code != 1 || !strings.HasPrefix(last, "sov: sha256 mismatch for stories260K-F32.gguf") || !strings.Contains(last, "removed and nothing registered") {
		t.Fatalf("mismatch: %+v", r)
	}
	entries, _ := os.ReadDir(filepath.Join(home, "models"))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".gguf") {
			t.Errorf("left %s", e.Name())
		}
	}
	if r = runSov(t, home, nil, "", "models", "--json"); strings.TrimSpace(r.Stdout) != "[]" {
		t.Errorf("registered: %s", r.Stdout)
	}
}

// TestStoreCLIPullSHAInstalled: --sha256 on a model already installed
// checks its file: a wrong value exits 1 with one line naming the fix.
func TestStoreCLIPullSHAInstalled(t *testing.T) {
	hub, data := storeHub(t)
	home := t.TempDir()
	env := []string{"SOV_HF_ENDPOINT=" + hub.URL}
	if r := runSov(t, home, env, "", "pull", "hf.co/karpathy/stories-GGUF:F32"); r.Code != 0 {
		t.Fatalf("pull: %+v", r)
	}
	wrong := strings.Repeat("0f", 32)
	r := runSov(t, home, env, "", "pull", "hf.co/karpathy/stories-GGUF:F32", "--sha256", wrong)
	last := storeLastLine(r.Stderr)
	if r.Code != 1 || strings.Contains(r.Stdout, "installed") || !strings.HasPrefix(last, "sov: sha256 mismatch: the installed model stories260K-F32") ||
		!strings.Contains(last, wrong) || !strings.Contains(last, "sov models rm stories260K-F32") {
		t.Fatalf("wrong sha256 on an installed model: %+v", r)
	}
	sum := sha256.Sum256(data)
	r = runSov(t, home, env, "", "pull", "hf.co/karpathy/stories-GGUF:F32", "--sha256", hex.EncodeToString(sum[:]))
	if r.Code != 0 || !strings.Contains(r.Stdout, "installed stories260K-F32") {
		t.Fatalf("right sha256: %+v", r)
	}
}

// TestStoreCLIBadFiles: not GGUF, a GGUF truncated to 1,000 bytes and the
// magic followed by garbage, pulled from disk and over HTTP.
func TestStoreCLIBadFiles(t *testing.T) {
	hub, data := storeHub(t)
	garbage := []byte("GGUF")
	for i := 0; len(garbage) < 4096; i++ {
		garbage = append(garbage, byte(i*131+17))
	}
	dir := t.TempDir()
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"notes.gguf", []byte("just some notes\n"), "is not a GGUF model file"},
		{"cut.gguf", data[:1000], "is truncated"},
		{"garbage.gguf", garbage, "is a corrupt GGUF file"},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, tt.name)
		os.WriteFile(p, tt.data, 0o600)
		u := hub.AddPlain(tt.name, hftest.File{Data: tt.data})
		for _, args := range [][]string{{"pull", p}, {"pull", p, "--link"}, {"pull", u}} {
			home := t.TempDir()
			r := runSov(t, home, nil, "", args...)
			last := storeLastLine(r.Stderr)
			if r.Code != 1 || !strings.HasPrefix(last, "sov: ") || !strings.Contains(last, tt.want) || !strings.Contains(last, "again") && !strings.Contains(last, "sov pull") {
				t.Errorf("sov %v: code %d stderr %q", args, r.Code, r.Stderr)
			}
			if r = runSov(t, home, nil, "", "models", "--json"); strings.TrimSpace(r.Stdout) != "[]" {
				t.Errorf("sov %v registered: %s", args, r.Stdout)
			}
		}
	}
}

func TestStoreCLIUsage(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"pull"}, exitUsage, "usage: sov pull REF"},
		{[]string{"pull", "a", "b"}, exitUsage, "usage: sov pull REF"},
		{[]string{"pull", "x.gguf", "--bogus"}, exitUsage, "unknown flag"},
		{[]string{"models", "show"}, exitUsage, "usage: sov models show NAME"},
		{[]string{"models", "rm"}, exitUsage, "usage: sov models rm NAME"},
		{[]string{"models", "rm", "nope"}, exitError, `no installed model named "nope"`},
		{[]string{"models", "show", "nope"}, exitError, `no installed model named "nope"`},
		{[]string{"models", "default", "nope"}, exitError, `no installed model named "nope"`},
		{[]string{"pull", "./missing.gguf"}, exitError, "no such file ./missing.gguf"},
		{[]string{"pull", "hf.co/only-owner"}, exitError, "hf.co/OWNER/REPO:QUANT"},
		{[]string{"pull", "hf.co/a/b:Q4_0"}, exitError, "cannot reach"},
	}
	for _, tt := range tests {
		r := runSov(t, home, []string{"SOV_HF_ENDPOINT=http://127.0.0.1:1"}, "", tt.args...)
		if r.Code != tt.code || !strings.Contains(r.Stderr, tt.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
			t.Errorf("sov %v: code %d stderr %q, want %d and %q", tt.args, r.Code, r.Stderr, tt.code, tt.want)
		}
	}
}

// TestStoreCLIPullInterrupt: Ctrl-C during a download exits 130 and keeps
// the .partial for a later resume.
func TestStoreCLIPullInterrupt(t *testing.T) {
	hub, _ := storeHub(t)
	home := t.TempDir()
	hub.StallNextAfter(4096)
	cmd := exec.Command(sovBin, "pull", "hf.co/karpathy/stories-GGUF:F32")
	cmd.Env = append(cleanEnv(), "SOV_HOME="+home, "SOV_HF_ENDPOINT="+hub.URL)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(home, "models", "stories260K-F32.gguf.partial")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if st, err := os.Stat(partial); err == nil && st.Size() == 4096 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("download never started: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted || !strings.Contains(stderr.String(), "sov: interrupted") {
		t.Fatalf("interrupted pull: %v, stderr %q", err, stderr.String())
	}
	if st, err := os.Stat(partial); err != nil || st.Size() != 4096 {
		t.Errorf("partial not kept: %v", err)
	}
}

func TestStoreCLIDefaultPath(t *testing.T) {
	home := t.TempDir()
	model := testtool.Model(t, testtool.Stories)
	r := runSov(t, home, nil, "", "models", "default", model)
	if r.Code != 0 || !strings.Contains(r.Stdout, "default model: "+model) {
		t.Fatalf("default path: %+v", r)
	}
	cut := filepath.Join(t.TempDir(), "cut.gguf")
	data, _ := os.ReadFile(model)
	os.WriteFile(cut, data[:1000], 0o600)
	if r = runSov(t, home, nil, "", "models", "default", cut); r.Code != 1 || !strings.Contains(r.Stderr, "is truncated") {
		t.Errorf("default to a truncated file: %+v", r)
	}
	if r = runSov(t, home, nil, "", "models", "default"); strings.TrimSpace(r.Stdout) != model {
		t.Errorf("default kept %q", r.Stdout)
	}
}

// TestStoreHint: the store's errors name no command or flag; the CLI adds
// them, and the error still matches its sentinel.
func TestStoreHint(t *testing.T) {
	path := testtool.Model(t, testtool.Stories)
	cut := filepath.Join(t.TempDir(), "cut.gguf")
	data, _ := os.ReadFile(path)
	os.WriteFile(cut, data[:1000], 0o600)
	s := store.New(t.TempDir())
	tests := []struct {
		name string
		err  func() error
		is   error
		want string
	}{
		{"none installed", func() error { _, err := s.Resolve("", nil, ""); return err }, store.ErrNoModel,
			"no model installed: pull one with sov pull hf.co/OWNER/REPO:Q4_K_M (e.g. sov pull hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M), or register a local file with sov pull ./model.gguf --link"},
		{"unknown name", func() error { _, err := s.Get("nope"); return err }, store.ErrNotFound,
			`no installed model named "nope": see sov models for the names`},
		{"no such file", func() error { _, err := s.Resolve("./nope.gguf", nil, ""); return err }, store.ErrNoSuchFile,
			"does not exist: check the path, or pull one with sov pull hf.co/OWNER/REPO:QUANT"},
		{"link a URL", func() error {
			_, err := s.Pull(context.Background(), "https://example.invalid/x.gguf", store.PullOptions{Link: true})
			return err
		}, store.ErrLinkRemote, "only local files can be linked in place: drop --link to download it"},
		{"truncated (no hint)", func() error { _, err := s.Resolve(cut, nil, ""); return err }, gguf.ErrTruncated, "is truncated"},
	}
	for _, tt := range tests {
		err := storeHint(tt.err())
		if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	if storeHint(nil) != nil {
		t.Error("a nil error got a hint")
	}
}
