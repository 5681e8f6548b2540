package main

import (
	"bufio"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sovos/sov/internal/testtool"
)

// The shell answers from a running sov serve with the words sov run
// writes in-process for greedy decoding; when the server goes away it says
// so, and the next message loads the model in the shell. Each answer is
// recorded once: by the server, then by the shell.
func TestTUIEndToEndServer(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	x := newTUITmux(t)
	home := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", testtool.FreePort(t))
	srv := exec.Command(sovBin, "serve", "--addr", addr, "--threads", "1", "--model", m)
	srv.Env = append(cleanEnv(), "SOV_HOME="+home)
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.Contains(sc.Text(), "listening on") {
	}
	go func() {
		for sc.Scan() {
		}
	}()

	want := runSov(t, home, nil, "", "run", "--local", "--model", m, "--temp", "0", "--max-tokens", "12", "Once upon a time")
	words := strings.TrimSpace(want.Stdout)
	if want.Code != 0 || len(words) < 20 {
		t.Fatalf("sov run --local: %+v", want)
	}
	x.start("a", home, nil, "--model", m, "--temp", "0", "--max-tokens", "12")
	x.waitFor("a", ` · sov serve`, 20*time.Second)
	x.keys("a", "Once upon a time", "Enter")
	screen := x.waitFor("a", `tok/s`, 20*time.Second)
	if !strings.Contains(screen, words[:20]) {
		t.Errorf("the shell through the server wrote other words than sov run's %q:\n%s", words, screen)
	}

	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	x.keys("a", "The end", "Enter")
	x.waitFor("a", `went away`, 20*time.Second)
	x.keys("a", "Lily", "Enter")
	// Answered by the model loaded here (the status bar keeps the first
	// engine's line until a /model switch).
	x.waitFor("a", `(?s)› you\s+Lily\s+● stories260K\s+\w+.*tok/s`, 30*time.Second)
	// The status bar keeps the last answer's speed: wait until this one
	// has ended, so that quitting does not cut it.
	for deadline := time.Now().Add(20 * time.Second); strings.Contains(x.capture("a"), "generating"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still generating:\n%s", x.capture("a"))
		}
	}
	x.keys("a", "C-c")
	x.waitFor("a", `SOV-EXIT=0`, 10*time.Second)

	r := runSov(t, home, nil, "", "ledger", "ls", "--json")
	count := func(p string) int { return len(regexp.MustCompile(`"principal":"`+p+`"`).FindAllString(r.Stdout, -1)) }
	if count("server") != 1 || count("tui") != 1 {
		t.Errorf("recorded %d calls by the server and %d by the shell, want 1 and 1:\n%s", count("server"), count("tui"), r.Stdout)
	}
}
