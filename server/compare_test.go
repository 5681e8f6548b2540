package server

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sovos/sov/internal/testtool"
)

// BenchmarkServeVsLlamaServer runs sov serve and llama-server (from the
// same pinned llama.cpp; SOV_LLAMA_SERVER names the binary, else it is
// skipped) side by side on the same model, --parallel, threads and context
// per session, alternating which goes first, and logs the figures
// as ratios: aggregate streamed tokens/s at 1, 4 and 8 clients, time to
// first token p50/p95 at 4, requests/s on stories260K with short answers,
// and peak RSS at 4 sessions. SOV_BENCH_SERVE_MODEL overrides the model
// (default SmolLM2), SOV_BENCH_THREADS the threads, SOV_BENCH_SERVE_CLIENTS
// the client counts.
func BenchmarkServeVsLlamaServer(b *testing.B) {
	llama := os.Getenv("SOV_LLAMA_SERVER")
	if llama == "" {
		b.Skip("SOV_LLAMA_SERVER is not set: build llama.cpp's llama-server target and point it there")
	}
	chat := os.Getenv("SOV_BENCH_SERVE_MODEL")
	if chat == "" {
		chat = testtool.Model(b, testtool.Chat)
	}
	threads := runtime.NumCPU()
	if v, err := strconv.Atoi(os.Getenv("SOV_BENCH_THREADS")); err == nil && v > 0 {
		threads = v
	}
	sov := buildSov(b)
	const ctxPer = 1024
	for b.Loop() {
		for _, clients := range benchClients() {
			var res [2]loadResult
			var rss [2]int
			testtool.Alternate(clients, func() {
				res[0], rss[0] = runLoad(b, sovCmd(sov, chat, clients, threads, ctxPer), clients, 3, 64)
			}, func() {
				res[1], rss[1] = runLoad(b, llamaCmd(llama, chat, clients, threads, ctxPer), clients, 3, 64)
			})
			b.Logf("%d clients: tokens/s sov %.1f llama-server %.1f (ratio %.2f); TTFT p50 %v / %v (%.2f), p95 %v / %v (%.2f); peak RSS %d / %d MB (%+d)",
				clients, res[0].tps, res[1].tps, res[0].tps/res[1].tps,
				res[0].p50, res[1].p50, float64(res[0].p50)/float64(res[1].p50),
				res[0].p95, res[1].p95, float64(res[0].p95)/float64(res[1].p95),
				rss[0]>>10, rss[1]>>10, (rss[0]-rss[1])>>10)
		}
		stories := testtool.Model(b, testtool.Stories)
		var res [2]loadResult
		testtool.Alternate(0, func() {
			res[0], _ = runLoad(b, sovCmd(sov, stories, 1, threads, ctxPer), 1, 200, 4)
		}, func() {
			res[1], _ = runLoad(b, llamaCmd(llama, stories, 1, threads, ctxPer), 1, 200, 4)
		})
		b.Logf("stories260K, 1 client, 4-token answers: requests/s sov %.0f llama-server %.0f (ratio %.2f)", res[0].rps, res[1].rps, res[0].rps/res[1].rps)
	}
}

// benchClients are the client counts to measure: SOV_BENCH_SERVE_CLIENTS
// ("1,4"), else 1, 4 and 8.
func benchClients() []int {
	var out []int
	for _, f := range strings.Split(os.Getenv("SOV_BENCH_SERVE_CLIENTS"), ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return []int{1, 4, 8}
	}
	return out
}

func buildSov(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "sov")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/sov")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build sov: %v\n%s", err, out)
	}
	return bin
}

// serverCmd starts a server listening on port.
type serverCmd func(port int) *exec.Cmd

func sovCmd(bin, model string, parallel, threads, ctx int) serverCmd {
	return func(port int) *exec.Cmd {
		c := exec.Command(bin, "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--model", model, "--parallel", strconv.Itoa(parallel),
			"--threads", strconv.Itoa(threads), "--ctx", strconv.Itoa(ctx), "--keep-alive", "-1s", "--queue", "64")
		c.Env = append(os.Environ(), "SOV_HOME="+filepath.Join(os.TempDir(), fmt.Sprintf("sov-bench-serve-%d", port)))
		return c
	}
}

func llamaCmd(bin, model string, parallel, threads, ctx int) serverCmd {
	return func(port int) *exec.Cmd {
		// llama-server's -c is the total, split across its slots.
		return exec.Command(bin, "-m", model, "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--parallel", strconv.Itoa(parallel),
			"-t", strconv.Itoa(threads), "-c", strconv.Itoa(ctx*parallel), "-fa", "off", "--no-webui")
	}
}

type loadResult struct {
	tps, rps float64
	p50, p95 time.Duration
}

// runLoad starts the server, waits for it, runs clients that each send
// rounds streaming chats of at most maxTokens, and stops it; it returns
// the figures and the server's peak RSS in kB.
func runLoad(b *testing.B, start serverCmd, clients, rounds, maxTokens int) (loadResult, int) {
	port := testtool.FreePort(b)
	cmd := start(port)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := benchClient.Get(base + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("the server did not start")
		}
	}
	// One request first, so that loading the model is not measured.
	if _, _, err := streamChat(base, 0, 0, 2); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var ttfts []time.Duration
	var failed error
	tokens := 0
	var wg sync.WaitGroup
	t0 := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				ttft, n, err := streamChat(base, c, r, maxTokens)
				mu.Lock()
				ttfts = append(ttfts, ttft)
				tokens += n
				if err != nil && failed == nil {
					failed = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	if failed != nil {
		b.Fatal(failed)
	}
	slices.Sort(ttfts)
	res := loadResult{tps: float64(tokens) / wall.Seconds(), rps: float64(clients*rounds) / wall.Seconds(),
		p50: ttfts[len(ttfts)/2], p95: ttfts[min(len(ttfts)-1, len(ttfts)*95/100)]}
	return res, peakRSS(cmd.Process.Pid)
}

// benchClient opens a connection per request: llama-server closes idle
// keep-alive connections after 5 s, and a POST on one it just closed
// fails with EOF.
var benchClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// streamChat sends one streaming chat and returns the time to its first
// content and the number of content chunks (a token each on both servers).
func streamChat(base string, client, round, maxTokens int) (time.Duration, int, error) {
	body := fmt.Sprintf(`{"model":"","stream":true,"temperature":0,"max_tokens":%d,"messages":[{"role":"user","content":"Tell story %d.%d about a cat."}]}`, maxTokens, client, round)
	t0 := time.Now()
	req, _ := http.NewRequestWithContext(context.Background(), "POST", base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := benchClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, 0, fmt.Errorf("status %s", resp.Status)
	}
	var ttft time.Duration
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: {") || !strings.Contains(line, `"content":"`) || strings.Contains(line, `"content":""`) {
			continue
		}
		if n == 0 {
			ttft = time.Since(t0)
		}
		n++
	}
	return ttft, n, sc.Err()
}

// peakRSS is a process's VmHWM in kB (0 where /proc has none).
func peakRSS(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb
		}
	}
	return 0
}
