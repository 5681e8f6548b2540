package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/server/api"
)

// startServe runs `sov serve` with args and waits until it listens; it
// returns the base URL and stops the server when the test ends.
func startServe(t *testing.T, home string, env []string, args ...string) (string, *bytes.Buffer) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testtool.FreePort(t))
	cmd := exec.Command(sovBin, append([]string{"serve", "--addr", addr, "--threads", "1"}, args...)...)
	cmd.Env = append(append(cleanEnv(), "SOV_HOME="+home), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "listening on") {
				close(listening)
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Error("sov serve did not stop on SIGTERM")
		}
	})
	select {
	case <-listening:
	case <-time.After(30 * time.Second):
		t.Fatalf("sov serve did not start: %s", log.String())
	}
	return "http://" + addr, &log
}

func postJSON(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sov serve answers by model name (never by path), records each call in
// the ledger, and sov ps / sov stop see and unload its models.
func TestServe(t *testing.T) {
	home := t.TempDir()
	stories := testtool.Model(t, testtool.Stories)
	base, _ := startServe(t, home, nil, "--model", stories, "--keep-alive", "-1s")
	addr := strings.TrimPrefix(base, "http://")
	code, body := postJSON(t, base+"/api/generate", `{"model":"stories260K","prompt":"Once upon a time","raw":true,"stream":false,"options":{"temperature":0,"num_predict":16}}`)
	if code != 200 || !strings.Contains(body, `"done":true`) || !strings.Contains(body, `"eval_count":16`) {
		t.Fatalf("%d %s", code, body)
	}
	// The same words as sov run gives for greedy decoding.
	r := runSov(t, home, nil, "", "run", "--model", stories, "--temp", "0", "--max-tokens", "16", "--threads", "1", "Once upon a time")
	if want := mustResponse(t, body); r.Code != 0 || !strings.HasPrefix(r.Stdout, want) {
		t.Fatalf("sov run wrote %q, the server %q", r.Stdout, want)
	}
	code, body = postJSON(t, base+"/api/generate", `{"model":`+fmt.Sprintf("%q", stories)+`,"prompt":"Once","stream":false}`)
	if code != 404 {
		t.Fatalf("a path as the model: %d %s", code, body)
	}
	r = runSov(t, home, nil, "", "ps", "--addr", addr)
	if r.Code != 0 || !strings.Contains(r.Stdout, "stories260K") || !strings.Contains(r.Stdout, "never") {
		t.Fatalf("ps: %+v", r)
	}
	// The server records a call after answering it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r = runSov(t, home, nil, "", "ledger", "ls", "--json")
		if r.Code == 0 && strings.Count(r.Stdout, `"principal":"server"`) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger: %+v", r)
		}
	}
	if r = runSov(t, home, nil, "", "stop", "stories260K", "--addr", addr); r.Code != 0 || !strings.Contains(r.Stdout, "unloaded stories260K") {
		t.Fatalf("stop: %+v", r)
	}
	if r = runSov(t, home, nil, "", "ps", "--addr", addr); r.Code != 0 || !strings.Contains(r.Stdout, "no model is loaded") {
		t.Fatalf("ps after stop: %+v", r)
	}
}

func mustResponse(t *testing.T, body string) string {
	t.Helper()
	i := strings.Index(body, `"response":"`)
	if i < 0 {
		t.Fatalf("no response in %s", body)
	}
	var s string
	if _, err := fmt.Sscanf(body[i+len(`"response":`):], "%q", &s); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	return s
}

// Listening beyond loopback needs a key; with one the server warns, and
// refuses requests without it.
func TestServeBeyondLoopback(t *testing.T) {
	home := t.TempDir()
	r := runSov(t, home, nil, "", "serve", "--addr", "0.0.0.0:0")
	if r.Code != 2 || !strings.Contains(r.Stderr, "SOV_API_KEY") {
		t.Fatalf("%+v", r)
	}
	if r = runSov(t, home, nil, "", "ps", "--addr", "127.0.0.1:1"); r.Code != 1 || !strings.Contains(r.Stderr, "start one with `sov serve`") {
		t.Fatalf("ps without a server: %+v", r)
	}
}

// The README's curl examples work as written (only the port is the
// test's): the model pulled by name into the store, a plain sov serve,
// and each command's JSON carrying an answer.
func TestServeReadmeCurl(t *testing.T) {
	testtool.Need(t, "curl")
	smol := testtool.Model(t, testtool.Chat)
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```sh\nM=SmolLM2-135M-Instruct.Q4_1\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 || strings.Count(block, "curl -s localhost:11435") != 3 {
		t.Fatalf("the README's curl block moved or changed: %q", block)
	}
	home := t.TempDir()
	if r := runSov(t, home, nil, "", "pull", smol, "--link"); r.Code != 0 {
		t.Fatalf("pull: %s", r.Stderr)
	}
	base, _ := startServe(t, home, nil)
	script := "set -e\nM=SmolLM2-135M-Instruct.Q4_1\n" + strings.ReplaceAll(block, "localhost:11435", strings.TrimPrefix(base, "http://"))
	out, err := exec.Command("bash", "-c", script).Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// Three JSON documents, one per command.
	dec := json.NewDecoder(bytes.NewReader(out))
	var chat struct {
		Choices []struct{ Message struct{ Content string } }
	}
	var ollama struct{ Message struct{ Content string } }
	var tags struct{ Models []struct{ Name string } }
	for _, v := range []any{&chat, &ollama, &tags} {
		if err := dec.Decode(v); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
	}
	if len(chat.Choices) != 1 || strings.TrimSpace(chat.Choices[0].Message.Content) == "" || strings.TrimSpace(ollama.Message.Content) == "" ||
		len(tags.Models) != 1 || !strings.HasPrefix(tags.Models[0].Name, "SmolLM2-135M-Instruct.Q4_1") {
		t.Fatalf("answers: %s", out)
	}
}

func TestRenderPS(t *testing.T) {
	// The draft model column shows only when a loaded model has one.
	tests := []struct {
		name string
		ms   []api.OllamaRunning
		want []string // lines, with runs of spaces as one
	}{
		{"none loaded", nil, []string{"no model is loaded"}},
		{"no draft model", []api.OllamaRunning{{Name: "smol", Size: 1 << 20, ContextLength: 4096, Sessions: 2}}, []string{
			"NAME SIZE CONTEXT SESSIONS BUSY QUEUED UNLOADS",
			"smol 1.0 MiB 4096 2 0 0 never",
		}},
		{"a draft model", []api.OllamaRunning{
			{Name: "big", Size: 1 << 30, ContextLength: 4096, Sessions: 1, Busy: 1, DraftModel: "small"},
			{Name: "other", Size: 1 << 20, ContextLength: 2048, Sessions: 1},
		}, []string{
			"NAME SIZE CONTEXT SESSIONS BUSY QUEUED UNLOADS DRAFT MODEL",
			"big 1.0 GiB 4096 1 1 0 when idle small",
			"other 1.0 MiB 2048 1 0 0 never -",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			renderPS(&b, tt.ms)
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
				got = append(got, strings.Join(strings.Fields(l), " "))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
