package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/internal/testtool"
)

// sov run generates on a running sov serve of its data directory, with
// the bytes it writes in-process for greedy decoding (text, --json tokens
// and --schema alike), and one ledger entry per call: the server's.
// --local and SOV_NO_SERVER=1 load the model here.
func TestRunUsesServer(t *testing.T) {
	home := t.TempDir()
	stories := testtool.Model(t, testtool.Stories)
	sf := filepath.Join(t.TempDir(), "schema.json")
	if err := os.WriteFile(sf, []byte(runTestSchema), 0o600); err != nil {
		t.Fatal(err)
	}
	startServe(t, home, nil, "--model", stories, "--keep-alive", "-1s")
	cases := []struct {
		name string
		args []string
	}{
		{"text", []string{"Once upon a time"}},
		{"system", []string{"--system", "Tell a story.", "Lily"}},
		{"json", []string{"--json", "Once upon a time"}},
		{"schema", []string{"--schema", sf, "--max-tokens", "200", "Once upon a time"}},
	}
	principals := func() (server, cli int) {
		r := runSov(t, home, nil, "", "ledger", "ls", "--json")
		return strings.Count(r.Stdout, `"principal":"server"`), strings.Count(r.Stdout, `"principal":"cli"`)
	}
	// The server records a call just after answering it.
	waitServer := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if n, _ := principals(); n == want {
				return
			}
			if time.Now().After(deadline) {
				n, _ := principals()
				t.Fatalf("%d calls recorded by the server, want %d", n, want)
			}
		}
	}
	served := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"run", "--model", stories, "--temp", "0", "--max-tokens", "24"}, c.args...)
			remote := runSov(t, home, nil, "", args...)
			served++
			waitServer(served)
			_, cliBefore := principals()
			local := runSov(t, home, nil, "", append(args, "--local")...)
			env := runSov(t, home, []string{"SOV_NO_SERVER=1"}, "", args...)
			if _, cli := principals(); cli != cliBefore+2 {
				t.Fatalf("--local and SOV_NO_SERVER=1: %d in-process calls recorded, want 2", cli-cliBefore)
			}
			if n, _ := principals(); n != served {
				t.Fatalf("in-process runs reached the server: %d server calls, want %d", n, served)
			}
			for _, r := range []sovResult{remote, local, env} {
				if r.Code != 0 {
					t.Fatalf("exit %d: %s", r.Code, r.Stderr)
				}
			}
			if tokens(remote.Stdout) == "" || tokens(remote.Stdout) != tokens(local.Stdout) || tokens(local.Stdout) != tokens(env.Stdout) {
				t.Fatalf("through the server %q\nin-process %q\nSOV_NO_SERVER %q", remote.Stdout, local.Stdout, env.Stdout)
			}
		})
	}
	// A run beyond the server's limits loads the model here rather than
	// get a shorter answer.
	_, cliBefore := principals()
	if r := runSov(t, home, nil, "", "run", "--model", stories, "--temp", "0", "--max-tokens", "5000", "Once"); r.Code != 0 {
		t.Fatalf("--max-tokens above the server's cap: %+v", r)
	}
	if n, cli := principals(); cli != cliBefore+1 || n != served {
		t.Errorf("--max-tokens above the server's cap: %d in-process, %d server calls", cli-cliBefore, n-served)
	}
	// Errors are the same too: a prompt too long for --ctx names the flag.
	long := strings.Repeat("a tale of a cat ", 100)
	remote := runSov(t, home, nil, "", "run", "--model", stories, "--ctx", "64", long)
	local := runSov(t, home, nil, "", "run", "--model", stories, "--ctx", "64", "--local", long)
	if remote.Code != 1 || local.Code != 1 || !strings.Contains(remote.Stderr, "raise --ctx") || !strings.Contains(local.Stderr, "raise --ctx") {
		t.Errorf("prompt too long: through the server %+v, in-process %+v", remote, local)
	}
}

// tokens is a run's output without its done event's timings: the text,
// or the --json token events and the stop reason.
func tokens(out string) string {
	if !strings.HasPrefix(out, `{"type":`) {
		return out
	}
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, `{"type":"token"`) {
			keep = append(keep, l)
		} else if i := strings.Index(l, `"stop_reason":`); i >= 0 {
			keep = append(keep, l[i:strings.Index(l[i:], ",")+i])
		}
	}
	return strings.Join(keep, "\n")
}

// A server that needs a key is used only with SOV_API_KEY; without it sov
// run says so and loads the model here; a wrong key is an error naming it.
func TestRunServerKey(t *testing.T) {
	home := t.TempDir()
	stories := testtool.Model(t, testtool.Stories)
	startServe(t, home, nil, "--model", stories, "--api-key", "sekrit")
	args := []string{"run", "--model", stories, "--temp", "0", "--max-tokens", "8", "Once"}
	without := runSov(t, home, nil, "", args...)
	with := runSov(t, home, []string{"SOV_API_KEY=sekrit"}, "", args...)
	wrong := runSov(t, home, []string{"SOV_API_KEY=nope"}, "", args...)
	if without.Code != 0 || !strings.Contains(without.Stderr, "set SOV_API_KEY to use it") {
		t.Errorf("without the key: %+v", without)
	}
	if with.Code != 0 || with.Stdout != without.Stdout || with.Stderr != "" {
		t.Errorf("with the key: %+v, without: %+v", with, without)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := runSov(t, home, nil, "", "ledger", "ls", "--json")
		if strings.Count(r.Stdout, `"principal":"server"`) == 1 && strings.Count(r.Stdout, `"principal":"cli"`) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want one call recorded by the server, one in-process: %s", r.Stdout)
		}
	}
	if wrong.Code != 1 || !strings.Contains(wrong.Stderr, "set SOV_API_KEY to the running sov serve's key") {
		t.Errorf("a wrong key: %+v", wrong)
	}
}

// The same on a chat model with a template (SmolLM2): greedy answers and
// tool calls through the server are sov run's in-process bytes.
func TestRunUsesServerChatModel(t *testing.T) {
	home := t.TempDir()
	m := testtool.Model(t, testtool.Chat)
	tools := filepath.Join(t.TempDir(), "tools.json")
	if err := os.WriteFile(tools, []byte(`[{"name":"weather","description":"Current weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":20}},"required":["city"]}}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	startServe(t, home, nil, "--model", m)
	for _, args := range [][]string{
		{"What is the capital of France?"},
		{"--tools", tools, "What is the weather in Paris?"},
	} {
		args = append([]string{"run", "--model", m, "--temp", "0", "--max-tokens", "48"}, args...)
		remote := runSov(t, home, nil, "", args...)
		local := runSov(t, home, nil, "", append(args, "--local")...)
		if remote.Code != 0 || local.Code != 0 || remote.Stdout == "" || remote.Stdout != local.Stdout {
			t.Errorf("%v: through the server %+v, in-process %+v", args, remote, local)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := runSov(t, home, nil, "", "ledger", "ls", "--json")
		if strings.Count(r.Stdout, `"principal":"cli"`) == 2 && strings.Count(r.Stdout, `"principal":"server"`) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want 2 calls recorded in-process and 2 by the server: %s", r.Stdout)
		}
	}
}
