package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/internal/testtool"
)

// mcpAgent is the served agent: workspace.read (private/* denied) and
// ledger.note (topic=ok allowed; any other call asks, and so is refused).
const mcpAgent = `prompt = "You help."

[[tools]]
name = "workspace.read"
deny = ["path=private/*"]

[[tools]]
name = "ledger.note"
allow = ["topic=ok"]
`

// mcpClientScript is an outside client on the official TypeScript SDK:
// it lists the tools, calls them, and prints what it got as JSON.
// Arguments: stdio SOV_BINARY, or http URL TOKEN.
const mcpClientScript = `
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [mode, target, token] = process.argv.slice(2);
const out = {};
let transport;
if (mode === 'stdio') {
  transport = new StdioClientTransport({ command: target, args: ['mcp', 'serve', '--agent', 'helper'], env: { ...process.env }, stderr: 'inherit' });
} else {
  // Without the token: 401, whatever the request.
  const r = await fetch(target, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) });
  out.noTokenStatus = r.status;
  transport = new StreamableHTTPClientTransport(new URL(target), { requestInit: { headers: { Authorization: 'Bearer ' + token } } });
}
const client = new Client({ name: 'node-acceptance', version: '1.0.0' });
await client.connect(transport);
const { tools } = await client.listTools();
out.tools = tools.map(t => ({ name: t.name, readOnly: t.annotations?.readOnlyHint, destructive: t.annotations?.destructiveHint,
  props: Object.keys(t.inputSchema?.properties ?? {}), described: (t.description ?? '').length > 20 }));
const call = async (name, args) => {
  const r = await client.callTool({ name, arguments: args });
  return { isError: !!r.isError, text: r.content.map(c => c.text).join('\n') };
};
out.read = await call('workspace.read', { path: 'hello.txt' });
out.denied = await call('workspace.read', { path: 'private/key.txt' });
out.ask = await call('ledger.note', { text: 'a note', topic: 'other' });
out.note = await call('ledger.note', { text: 'a note', topic: 'ok' });
await client.close();
console.log(JSON.stringify(out));
`

type mcpClientResult struct {
	NoTokenStatus int `json:"noTokenStatus"`
	Tools         []struct {
		Name        string   `json:"name"`
		ReadOnly    bool     `json:"readOnly"`
		Destructive *bool    `json:"destructive"`
		Props       []string `json:"props"`
		Described   bool     `json:"described"`
	} `json:"tools"`
	Read, Denied, Ask, Note struct {
		IsError bool   `json:"isError"`
		Text    string `json:"text"`
	}
}

// mcpHome is a SOV_HOME with agent "helper" and its workspace.
func mcpHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	ws := filepath.Join(home, "workspaces", "helper")
	for _, d := range []string{filepath.Join(home, "agents"), filepath.Join(ws, "private")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for p, text := range map[string]string{
		filepath.Join(home, "agents", "helper.toml"): mcpAgent,
		filepath.Join(ws, "hello.txt"):               "hello from helper's workspace",
		filepath.Join(ws, "private", "key.txt"):      "secret key material",
	} {
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

func checkMCPClient(t *testing.T, home string, out []byte) {
	t.Helper()
	var r mcpClientResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	var names []string
	for _, tl := range r.Tools {
		names = append(names, tl.Name)
		switch {
		case !tl.Described || len(tl.Props) == 0:
			t.Errorf("%s: no description or schema: %+v", tl.Name, tl)
		case tl.Name == "workspace.read" && (!tl.ReadOnly || !slices.Contains(tl.Props, "path")):
			t.Errorf("workspace.read: %+v", tl)
		case tl.Name == "ledger.note" && (tl.ReadOnly || tl.Destructive == nil || !*tl.Destructive):
			t.Errorf("ledger.note: %+v", tl)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"ledger.note", "workspace.read"}) {
		t.Errorf("tools %v: want the agent's two", names)
	}
	if r.Read.IsError || r.Read.Text != "hello from helper's workspace" {
		t.Errorf("read: %+v", r.Read)
	}
	if !r.Denied.IsError || !strings.Contains(r.Denied.Text, "deny workspace.read(path=private/*)") || strings.Contains(r.Denied.Text, "secret key") {
		t.Errorf("denied read: %+v", r.Denied)
	}
	if !r.Ask.IsError || !strings.Contains(r.Ask.Text, "no one is present to approve") {
		t.Errorf("ask: %+v", r.Ask)
	}
	if r.Note.IsError || !strings.Contains(r.Note.Text, "noted as ledger entry") {
		t.Errorf("note: %+v", r.Note)
	}
	// The client is its own principal in the ledger: four decisions.
	entries, err := ledger.Open(filepath.Join(home, "ledger")).Entries()
	if err != nil {
		t.Fatal(err)
	}
	var perms int
	for _, e := range entries {
		if e.Kind == ledger.KindPermission {
			perms++
			if !strings.HasPrefix(e.Principal, "mcp:") {
				t.Errorf("permission entry %d: principal %q", e.Seq, e.Principal)
			}
		}
	}
	if perms != 4 {
		t.Errorf("%d permission entries, want 4", perms)
	}
}

func TestMCPServeStdio(t *testing.T) {
	home := mcpHome(t)
	out := testtool.RunNode(t, mcpClientScript, 60*time.Second, append(cleanEnv(), "SOV_HOME="+home), "stdio", sovBin)
	checkMCPClient(t, home, out)
	entries, err := ledger.Open(filepath.Join(home, "ledger")).Entries()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Kind == ledger.KindPermission && e.Principal != "mcp:node-acceptance" {
			t.Errorf("entry %d: principal %q, want the client's name from initialize", e.Seq, e.Principal)
		}
	}
}

func TestMCPServeHTTP(t *testing.T) {
	testtool.NodeClients(t) // skip before starting sov when node is missing
	home := mcpHome(t)
	const token = "test-token-0123456789abcdef"
	cmd := exec.Command(sovBin, "mcp", "serve", "--agent", "helper", "--http", "127.0.0.1:0")
	cmd.Env = append(cleanEnv(), "SOV_HOME="+home, "SOV_MCP_TOKEN="+token)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() //nolint:errcheck // after the test's own stop
	url := make(chan string, 1)
	var logged strings.Builder
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		re := regexp.MustCompile(`at (http://127\.0\.0\.1:\d+/mcp)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logged.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				url <- m[1]
			}
		}
	}()
	var endpoint string
	select {
	case endpoint = <-url:
	case <-time.After(30 * time.Second):
		t.Fatal("sov mcp serve --http did not say where it serves")
	}
	out := testtool.RunNode(t, mcpClientScript, 60*time.Second, nil, "http", endpoint, token)
	var r mcpClientResult
	if err := json.Unmarshal(out, &r); err != nil || r.NoTokenStatus != 401 {
		t.Errorf("without the token: status %d (%v)", r.NoTokenStatus, err)
	}
	checkMCPClient(t, home, out)
	// This SDK speaks 2025-11-25: over stateless HTTP its requests do not
	// name it, so its calls are filed under mcp:unnamed.
	entries, err := ledger.Open(filepath.Join(home, "ledger")).Entries()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Kind == ledger.KindPermission && e.Principal != "mcp:unnamed" {
			t.Errorf("entry %d: principal %q", e.Seq, e.Principal)
		}
	}

	// Ctrl-C stops it: exit 130.
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
			t.Errorf("after SIGINT: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("sov mcp serve did not stop on SIGINT")
	}
	<-scanned
	if strings.Contains(logged.String(), token) {
		t.Error("a token from the environment was printed")
	}
	// The person serving sees each call and each refusal on stderr.
	for _, want := range []string{"sov: mcp:unnamed workspace.read: done", "sov: mcp:unnamed workspace.read: refused: denied by the agent's rule", "sov: mcp:unnamed ledger.note: refused"} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("stderr %q: no %q", logged.String(), want)
		}
	}
}

func TestMCPServeBadInput(t *testing.T) {
	home := mcpHome(t)
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"mcp", "serve"}, exitUsage, "needs --agent NAME"},
		{[]string{"mcp", "serve", "--agent", "nobody"}, exitUsage, "sov agents ls"},
		{[]string{"mcp", "serve", "--agent", "helper", "--http", "0.0.0.0:8765"}, exitUsage, "not a loopback address"},
		{[]string{"mcp", "serve", "--agent", "helper", "--http", "8765"}, exitUsage, "127.0.0.1:PORT"},
	}
	for _, tc := range tests {
		r := runSov(t, home, nil, "", tc.args...)
		if r.Code != tc.code || !strings.Contains(r.Stderr, tc.msg) {
			t.Errorf("sov %v: exit %d %q, want %d ~%q", tc.args, r.Code, r.Stderr, tc.code, tc.msg)
		}
	}
	r := runSov(t, home, []string{"SOV_MCP_TOKEN=short"}, "", "mcp", "serve", "--agent", "helper", "--http", "127.0.0.1:0")
	if r.Code != exitUsage || !strings.Contains(r.Stderr, "too short") {
		t.Errorf("short token: exit %d %q", r.Code, r.Stderr)
	}
}
