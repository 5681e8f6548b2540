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
// and peak RSS at 4 sessions (the highest of the runs).
// SOV_BENCH_SERVE_PAIRS sets the runs of each (default 3),
// SOV_BENCH_SERVE_ROUNDS the requests each client sends in a run (6),
// SOV_BENCH_SERVE_MODEL overrides the model
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
	pairs := 3
	if v, err := strconv.Atoi(os.Getenv("SOV_BENCH_SERVE_PAIRS")); err == nil && v > 0 {
		pairs = v
	}
	// Each client sends rounds requests one after another: the time to
	// first token's p50 and p95 are over clients*rounds requests (at 4
	// clients and 3 rounds the p95 was the slowest of 12).
	rounds := 6
	if v, err := strconv.Atoi(os.Getenv("SOV_BENCH_SERVE_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	sov := buildSov(b)
	const ctxPer = 1024
	for b.Loop() {
		// A single run of a few seconds swings by 10% on a shared machine:
		// each figure is the median of pairs runs of both servers, back to
		// back, alternating which goes first.
		for _, clients := range benchClients() {
			var tps, p50, p95 pairRatios
			rss := [2]int{}
			for i := range pairs {
				var res [2]loadResult
				var r [2]int
				testtool.Alternate(i+clients, func() {
					res[0], r[0] = runLoad(b, sovCmd(sov, chat, clients, threads, ctxPer), clients, rounds, 64)
				}, func() {
					res[1], r[1] = runLoad(b, llamaCmd(llama, chat, clients, threads, ctxPer), clients, rounds, 64)
				})
				tps.add(res[0].tps, res[1].tps)
				p50.add(float64(res[0].p50), float64(res[1].p50))
				p95.add(float64(res[0].p95), float64(res[1].p95))
				rss[0], rss[1] = max(rss[0], r[0]), max(rss[1], r[1])
			}
			b.Logf("%d clients: tokens/s sov %.1f llama-server %.1f, ratio %s (target >= 0.95); TTFT p50 %v / %v, ratio %s, p95 %v / %v, ratio %s (target <= 1.1 at 4 clients); peak RSS %d / %d MB (%+d; target <= +30)",
				clients, tps.medianOf(0), tps.medianOf(1), tps,
				time.Duration(p50.medianOf(0)).Round(time.Millisecond), time.Duration(p50.medianOf(1)).Round(time.Millisecond), p50,
				time.Duration(p95.medianOf(0)).Round(time.Millisecond), time.Duration(p95.medianOf(1)).Round(time.Millisecond), p95,
				rss[0]>>10, rss[1]>>10, (rss[0]-rss[1])>>10)
		}
		stories := testtool.Model(b, testtool.Stories)
		var rps pairRatios
		for i := range pairs {
			var res [2]loadResult
			testtool.Alternate(i, func() {
				res[0], _ = runLoad(b, sovCmd(sov, stories, 1, threads, ctxPer), 1, 200, 4)
			}, func() {
				res[1], _ = runLoad(b, llamaCmd(llama, stories, 1, threads, ctxPer), 1, 200, 4)
			})
			rps.add(res[0].rps, res[1].rps)
		}
		b.Logf("stories260K, 1 client, 4-token answers: requests/s sov %.0f llama-server %.0f, ratio %s (target >= 0.95)", rps.medianOf(0), rps.medianOf(1), rps)
	}
}

// pairRatios collects a figure of sov and of llama-server from runs
// back to back.
type pairRatios struct{ sov, llama, ratio []float64 }

func (p *pairRatios) add(sov, llama float64) {
	p.sov, p.llama, p.ratio = append(p.sov, sov), append(p.llama, llama), append(p.ratio, sov/llama)
}

// medianOf is the median of sov's figures (0) or llama-server's (1).
func (p pairRatios) medianOf(side int) float64 {
	if side == 0 {
		return median(p.sov)
	}
	return median(p.llama)
}

// String is the median paired ratio with its range.
func (p pairRatios) String() string {
	return fmt.Sprintf("%.2f (median of %d pairs; %.2f to %.2f)", median(p.ratio), len(p.ratio), slices.Min(p.ratio), slices.Max(p.ratio))
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
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
		// SOV_BENCH_SERVE_ARGS: more flags for sov serve (to compare settings).
		c.Args = append(c.Args, strings.Fields(os.Getenv("SOV_BENCH_SERVE_ARGS"))...)
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
// content and the tokens generated (the usage both servers send last).
// The request carries its own system message: without one SmolLM2's
// template adds a default one that llama-server's Jinja renderer includes
// and sov's does not, and the two would then answer different prompts.
func streamChat(base string, client, round, maxTokens int) (time.Duration, int, error) {
	body := fmt.Sprintf(`{"model":"","stream":true,"stream_options":{"include_usage":true},"temperature":0,"max_tokens":%d,"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Tell story %d.%d about a cat."}]}`, maxTokens, client, round)
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
	chunks, tokens := 0, -1
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: {") {
			continue
		}
		if _, u, ok := strings.Cut(line, `"completion_tokens":`); ok {
			if n, err := strconv.Atoi(u[:strings.IndexAny(u+",", ",}")]); err == nil {
				tokens = n
			}
		}
		if !strings.Contains(line, `"content":"`) || strings.Contains(line, `"content":""`) {
			continue
		}
		if chunks == 0 {
			ttft = time.Since(t0)
		}
		chunks++
	}
	if tokens < 0 {
		return 0, 0, fmt.Errorf("no usage in the stream (%d content chunks)", chunks)
	}
	return ttft, tokens, sc.Err()
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
