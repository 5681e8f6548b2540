package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sovos/sov/chat/conversation"
	"github.com/sovos/sov/internal/testtool"
)

// tuiTmux drives the real sov binary inside a private tmux server, as a
// user at a terminal would (send-keys, capture-pane).
type tuiTmux struct {
	t      testing.TB
	tmux   string
	socket string
}

func newTUITmux(t testing.TB) *tuiTmux {
	t.Helper()
	path, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("SOV_REQUIRE_TOOLS") == "1" {
			t.Fatal("tmux not found (SOV_REQUIRE_TOOLS=1): run scripts/deps.d/tui.sh")
		}
		t.Skip("tmux not found: run scripts/deps.d/tui.sh")
	}
	x := &tuiTmux{t: t, tmux: path, socket: fmt.Sprintf("sovtest-%d-%d", os.Getpid(), time.Now().UnixNano())}
	t.Cleanup(func() {
		exec.Command(x.tmux, "-L", x.socket, "kill-server").Run()
		dir := os.Getenv("TMUX_TMPDIR")
		if dir == "" {
			dir = "/tmp"
		}
		os.Remove(filepath.Join(dir, fmt.Sprintf("tmux-%d", os.Getuid()), x.socket))
	})
	return x
}

func (x *tuiTmux) cmd(args ...string) string {
	x.t.Helper()
	out, err := exec.Command(x.tmux, append([]string{"-L", x.socket}, args...)...).CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %v: %v: %s", args, err, out)
	}
	return string(out)
}

// start runs sov with args in a new window called name. The shell line
// prints the exit code afterwards so the test can read it.
func (x *tuiTmux) start(name, home string, env []string, args ...string) {
	x.t.Helper()
	var b strings.Builder
	b.WriteString("env -i PATH=/usr/bin:/bin HOME=" + home + " TERM=xterm-256color LANG=C.UTF-8 SOV_HOME=" + home)
	for _, e := range env {
		b.WriteString(" " + shellQuote(e))
	}
	b.WriteString(" " + shellQuote(sovBin))
	for _, a := range args {
		b.WriteString(" " + shellQuote(a))
	}
	b.WriteString("; echo SOV-EXIT=$?; sleep 600")
	x.cmd("new-session", "-d", "-s", name, "-x", "100", "-y", "30", b.String())
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (x *tuiTmux) capture(name string) string {
	return x.cmd("capture-pane", "-p", "-t", name)
}

func (x *tuiTmux) keys(name string, keys ...string) {
	x.cmd(append([]string{"send-keys", "-t", name}, keys...)...)
}

// waitReady waits until the model is loaded (the status bar names the
// backend).
func (x *tuiTmux) waitReady(name string) {
	x.t.Helper()
	x.waitFor(name, ` · (CPU|CUDA|Metal)`, 30*time.Second)
}

// waitFor polls the screen until re matches, failing after timeout.
func (x *tuiTmux) waitFor(name, re string, timeout time.Duration) string {
	x.t.Helper()
	return x.waitEvery(name, re, timeout, 50*time.Millisecond)
}

// waitEvery is waitFor polling every interval: each poll runs tmux, which
// costs CPU a measurement may not want to share.
func (x *tuiTmux) waitEvery(name, re string, timeout, interval time.Duration) string {
	x.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	var screen string
	for time.Now().Before(deadline) {
		screen = x.capture(name)
		if rx.MatchString(screen) {
			return screen
		}
		time.Sleep(interval)
	}
	x.t.Fatalf("window %s: %q did not appear within %v; screen:\n%s", name, re, timeout, screen)
	return ""
}

func TestTUIEndToEndStreamStopContinue(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	x := newTUITmux(t)
	home := t.TempDir()
	// --ignore-eos and a large context keep the answer going until Esc,
	// however fast the machine.
	x.start("a", home, nil, "--model", m, "--temp", "0", "--ignore-eos", "--ctx", "16384")
	x.waitFor("a", `Message, or /help`, 20*time.Second)
	x.keys("a", "Once upon a time", "Enter")
	// Streamed text appears while the status bar says it is generating.
	x.waitFor("a", `(?s)● .*\w+ \w+ \w+.*generating`, 20*time.Second)
	// Shrink the terminal to 20x5 mid-stream and back: no panic, no spill.
	x.cmd("resize-window", "-t", "a", "-x", "20", "-y", "5")
	time.Sleep(300 * time.Millisecond)
	small := x.capture("a")
	x.cmd("resize-window", "-t", "a", "-x", "100", "-y", "30")
	if strings.Contains(small, "panic") || strings.Contains(small, "SOV-EXIT") {
		t.Fatalf("shell died on resize:\n%s", small)
	}
	x.waitFor("a", `generating`, 10*time.Second)
	x.keys("a", "Escape")
	screen := x.waitFor("a", `\[stopped\]`, 10*time.Second)
	if strings.Contains(screen, "generating") {
		t.Errorf("still generating after Esc:\n%s", screen)
	}
	x.keys("a", "C-c")
	x.waitFor("a", `SOV-EXIT=0`, 10*time.Second)

	x.start("b", home, nil, "--continue", "--model", m, "--temp", "0", "--max-tokens", "10", "--ctx", "16384")
	screen = x.waitFor("b", `(?s)\[stopped\].*Once upon a time ·`, 20*time.Second)
	if !strings.Contains(screen, "Once upon a time ·") {
		t.Errorf("--continue did not restore the session's title:\n%s", screen)
	}
	// The stopped answer may be longer than the window (its length depends
	// on the machine's speed): scroll up to find the user's message.
	for i := 0; i < 40 && !strings.Contains(screen, "› you"); i++ {
		x.keys("b", "PPage")
		time.Sleep(50 * time.Millisecond)
		screen = x.capture("b")
	}
	if !strings.Contains(screen, "› you") {
		t.Errorf("--continue did not restore the user's message:\n%s", screen)
	}
	x.keys("b", "C-g") // back to the latest message
	// The resumed context was restored in the background: the next turn
	// reuses the whole earlier conversation from the engine's cache.
	x.waitReady("b")
	x.keys("b", "The end", "Enter")
	screen = x.waitFor("b", `\((\d+) cached\)`, 30*time.Second)
	var cached int
	fmt.Sscan(regexp.MustCompile(`\((\d+) cached\)`).FindStringSubmatch(screen)[1], &cached)
	// Without the background restore the turn would reuse nothing; how much
	// it reuses depends on how long the stopped answer was.
	if cached < 10 {
		t.Errorf("only %d tokens reused after --continue:\n%s", cached, screen)
	}
	x.keys("b", "C-c")
	x.waitFor("b", `SOV-EXIT=0`, 10*time.Second)

	// An unknown --session is a usage error, not an empty shell.
	x.start("c", home, nil, "--session", "nosuch", "--model", m)
	x.waitFor("c", `(?s)no such session.*SOV-EXIT=2`, 10*time.Second)
}

func TestTUIEndToEndLockedDatabase(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	x := newTUITmux(t)
	home := t.TempDir()
	x.start("a", home, nil, "--model", m)
	x.waitFor("a", `Message, or /help`, 20*time.Second)
	// A second shell opens unsaved and names the holder.
	x.start("b", home, nil, "--model", m)
	screen := x.waitFor("b", `in use by`, 10*time.Second)
	if !regexp.MustCompile(`pid \d+`).MatchString(screen) || !strings.Contains(screen, "unsaved") {
		t.Errorf("locked database message:\n%s", screen)
	}
	x.keys("b", "C-c")
	x.waitFor("b", `SOV-EXIT=0`, 10*time.Second)
	// --continue cannot work unsaved: a clear error, never a hang.
	start := time.Now()
	x.start("c", home, nil, "--continue", "--model", m)
	screen = x.waitFor("c", `SOV-EXIT=1`, 10*time.Second)
	// The terminal wraps the line wherever the temporary path's length puts
	// the edge, even inside "sov": match the text with the wraps undone.
	if !regexp.MustCompile(`in use by\s*\S+\s*\(pid \d+\)`).MatchString(strings.ReplaceAll(screen, "\n", "")) {
		t.Errorf("--continue on a locked database:\n%s", screen)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("locked --continue took %v", d)
	}
	x.keys("a", "C-c")
	x.waitFor("a", `SOV-EXIT=0`, 10*time.Second)
}

func TestTUIEndToEndNoModelAndDeletedModel(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	x := newTUITmux(t)
	// First run: no model installed; the shell explains how to pull one.
	x.start("a", t.TempDir(), nil)
	x.waitFor("a", `sov pull`, 20*time.Second)
	x.keys("a", "C-c")
	x.waitFor("a", `SOV-EXIT=0`, 10*time.Second)

	// The model file deleted while the shell is open.
	dir := t.TempDir()
	data, err := os.ReadFile(m)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(dir, "stories260K.gguf")
	if err := os.WriteFile(copyPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	x.start("b", t.TempDir(), nil, "--model", copyPath, "--max-tokens", "20")
	x.waitReady("b")
	os.Remove(copyPath)
	x.keys("b", "Once upon a time", "Enter")
	screen := x.waitFor("b", `was\s+deleted`, 20*time.Second)
	x.waitFor("b", `tok/s`, 20*time.Second)
	x.keys("b", "/help", "Enter")
	x.waitFor("b", `Sessions are saved`, 10*time.Second)
	_ = screen
	x.keys("b", "C-c")
	x.waitFor("b", `SOV-EXIT=0`, 10*time.Second)
}

func TestTUINotATerminalRunsHeadless(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	r := runSov(t, t.TempDir(), nil, "Once upon a time\n", "--model", m, "--temp", "0", "--max-tokens", "30")
	if r.Code != 0 || !strings.Contains(r.Stderr, "not a terminal") || !strings.Contains(r.Stdout, "Lily") {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", r.Code, r.Stdout, r.Stderr)
	}
}

// tuiPanePID is the pid of the sov process running in window name.
func (x *tuiTmux) sovPID(name string) int {
	x.t.Helper()
	shell := strings.TrimSpace(x.cmd("display-message", "-p", "-t", name, "#{pane_pid}"))
	for i := 0; i < 100; i++ {
		data, _ := os.ReadFile("/proc/" + shell + "/task/" + shell + "/children")
		if f := strings.Fields(string(data)); len(f) > 0 {
			var pid int
			fmt.Sscan(f[0], &pid)
			return pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	x.t.Fatalf("no sov process under pane %s", name)
	return 0
}

// procCPU is a process's user+system CPU time from /proc.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var utime, stime int64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	return time.Duration(utime+stime) * time.Second / 100, nil // USER_HZ is 100 on Linux
}

// BenchmarkTUIIdleCPU reports the shell's CPU seconds over 30 idle seconds
// (SOV_TUI_IDLE_SECONDS overrides) with the model loaded and one answer
// shown; the reference is 0 — no redraw loop while nothing happens.
func BenchmarkTUIIdleCPU(b *testing.B) {
	m := testtool.Model(b, testtool.Stories)
	secs := 30
	if v := os.Getenv("SOV_TUI_IDLE_SECONDS"); v != "" {
		fmt.Sscan(v, &secs)
	}
	for i := 0; i < b.N; i++ {
		x := newTUITmux(b)
		x.start("idle", b.TempDir(), nil, "--model", m, "--temp", "0", "--max-tokens", "50")
		x.waitFor("idle", `Message, or /help`, 20*time.Second)
		x.keys("idle", "Once upon a time", "Enter")
		x.waitFor("idle", `tok/s`, 20*time.Second)
		pid := x.sovPID("idle")
		time.Sleep(time.Second)
		c0, err := procCPU(pid)
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(time.Duration(secs) * time.Second)
		c1, err := procCPU(pid)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric((c1 - c0).Seconds(), fmt.Sprintf("cpu-s/%ds-idle", secs))
		x.keys("idle", "C-c")
	}
}

var tuiTPS = regexp.MustCompile(`([0-9.]+) tok/s`)

// BenchmarkTUIStreamingVsRun compares the tokens/s the shell shows with
// `sov run` on the same model, prompt and settings, measured alternately
// (order swapped every iteration) in the same run. tui/run is the ratio of
// the medians and pair-ratio the median of per-pair ratios; target ≥ 0.95.
func BenchmarkTUIStreamingVsRun(b *testing.B) {
	m := testtool.Model(b, testtool.Stories)
	// One engine thread: with as many threads as cores, any other process on a
	// shared machine stalls the thread barrier and swamps the comparison.
	args := []string{"--model", m, "--temp", "0", "--ignore-eos", "--max-tokens", "600", "--threads", "1"}
	x := newTUITmux(b)
	// Both run in the same tmux server with the same environment, so the
	// only difference is the shell itself.
	runOnce := func(name string) float64 {
		x.start(name, b.TempDir(), nil, append(append([]string{"run", "--json"}, args...), "Once upon a time")...)
		x.waitEvery(name, `SOV-EXIT=0`, 3*time.Minute, time.Second)
		screen := x.cmd("capture-pane", "-p", "-J", "-S", "-", "-t", name)
		var done struct {
			TPS float64 `json:"generated_tokens_per_second"`
		}
		for _, l := range strings.Split(screen, "\n") {
			if strings.HasPrefix(l, `{"type":"done"`) {
				if err := json.Unmarshal([]byte(l), &done); err != nil {
					b.Fatalf("sov run output %q: %v", l, err)
				}
			}
		}
		if done.TPS == 0 {
			b.Fatalf("sov run gave no done event:\n%s", screen)
		}
		return done.TPS
	}
	shellOnce := func(name string) float64 {
		x.start(name, b.TempDir(), nil, args...)
		x.waitFor(name, `Message, or /help`, 20*time.Second)
		x.keys(name, "Once upon a time", "Enter")
		// Poll rarely: the poller's CPU would otherwise be charged to the shell.
		screen := x.waitEvery(name, `tok/s`, 3*time.Minute, time.Second)
		v, _ := strconv.ParseFloat(tuiTPS.FindStringSubmatch(screen)[1], 64)
		x.keys(name, "C-c")
		x.waitFor(name, `SOV-EXIT=0`, 10*time.Second)
		return v
	}
	var runs, tuis, ratios []float64
	for i := 0; i < b.N; i++ {
		var r, s float64
		if i%2 == 0 {
			r, s = runOnce(fmt.Sprintf("r%d", i)), shellOnce(fmt.Sprintf("s%d", i))
		} else {
			s, r = shellOnce(fmt.Sprintf("s%d", i)), runOnce(fmt.Sprintf("r%d", i))
		}
		runs, tuis, ratios = append(runs, r), append(tuis, s), append(ratios, s/r)
		b.Logf("run %.1f tok/s, shell %.1f tok/s", r, s)
	}
	med := func(v []float64) float64 {
		s := append([]float64(nil), v...)
		sort.Float64s(s)
		return s[len(s)/2]
	}
	b.ReportMetric(med(runs), "run-tok/s")
	b.ReportMetric(med(tuis), "tui-tok/s")
	b.ReportMetric(med(tuis)/med(runs), "tui/run")
	b.ReportMetric(med(ratios), "pair-ratio")
}

func TestTUIEndToEndBigPaste(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	x := newTUITmux(t)
	line := strings.Repeat("0123456789abcdef", 4) + "\n"
	big := filepath.Join(t.TempDir(), "big.txt")
	if err := os.WriteFile(big, []byte(strings.Repeat(line, (1<<20)/len(line)+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	x.start("a", t.TempDir(), nil, "--model", m, "--max-tokens", "20")
	x.waitFor("a", `Message, or /help`, 20*time.Second)
	x.cmd("load-buffer", "-b", "big", big)
	x.cmd("paste-buffer", "-p", "-b", "big", "-t", "a") // bracketed, as a terminal pastes
	x.waitFor("a", `\[pasted 1\.0 MB, 16133 lines #1\]`, 20*time.Second)
	x.keys("a", "Enter")
	// Far beyond the context: a clear error in the chat, and the shell goes on.
	x.waitFor("a", `(?s)more lines.*error:`, 60*time.Second)
	x.keys("a", "/help", "Enter")
	x.waitFor("a", `Sessions are saved`, 10*time.Second)
	x.keys("a", "C-c")
	x.waitFor("a", `SOV-EXIT=0`, 10*time.Second)
}

func TestTUIEndToEndKilledMidAnswerKeepsIt(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	x := newTUITmux(t)
	home := t.TempDir()
	x.start("a", home, nil, "--model", m, "--temp", "0", "--ignore-eos", "--ctx", "16384")
	x.waitFor("a", `Message, or /help`, 20*time.Second)
	x.keys("a", "Once upon a time", "Enter")
	x.waitFor("a", `(?s)● .*Lily.*generating`, 20*time.Second)
	pid := x.sovPID("a")
	time.Sleep(200 * time.Millisecond) // > one save interval
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	x.waitFor("a", `SOV-EXIT=137`, 10*time.Second)
	x.start("b", home, nil, "--continue", "--model", m)
	screen := x.waitFor("b", `\[stopped\]`, 20*time.Second)
	if !strings.Contains(screen, "Lily") {
		t.Errorf("answer streamed before kill -9 is lost:\n%s", screen)
	}
	x.keys("b", "C-c")
	x.waitFor("b", `SOV-EXIT=0`, 10*time.Second)
}

func TestTUIEndToEndDamagedSessions(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	home := t.TempDir()
	st, err := conversation.Open(filepath.Join(home, "tui"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db := filepath.Join(home, "tui", "sessions.db")
	truncateDB(t, db)
	x := newTUITmux(t)
	// The shell opens with an unsaved chat and says why.
	x.start("a", home, nil, "--model", m)
	screen := x.waitFor("a", `not be saved`, 20*time.Second)
	if !strings.Contains(screen, "is damaged") || strings.Contains(screen, "goroutine") {
		t.Errorf("damaged sessions message:\n%s", screen)
	}
	x.keys("a", "C-c")
	x.waitFor("a", `SOV-EXIT=0`, 10*time.Second)
	// --continue cannot work unsaved: one clear error.
	x.start("c", home, nil, "--continue", "--model", m)
	screen = x.waitFor("c", `SOV-EXIT=1`, 10*time.Second)
	if !strings.Contains(screen, "is damaged") || !strings.Contains(screen, "move it aside") || strings.Contains(screen, "goroutine") {
		t.Errorf("--continue on a damaged sessions.db:\n%s", screen)
	}
}
