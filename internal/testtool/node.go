package testtool

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// NodeClients is the folder whose node_modules holds the official client
// libraries (@modelcontextprotocol/sdk, openai, ollama) that
// scripts/deps.d/node.sh installs; missing, the test is skipped, or fails
// under SOV_REQUIRE_TOOLS=1 as in CI.
func NodeClients(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(BuildCache(), "node-clients")
	_, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk"))
	if _, lerr := exec.LookPath("node"); err != nil || lerr != nil {
		msg := "node or the client libraries are missing: run `bash scripts/deps.d/node.sh` (or `make deps`)"
		if os.Getenv("SOV_REQUIRE_TOOLS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dir
}

// RunNode runs the ES module script (its text) with node, resolving its
// imports from NodeClients, with args and extra environment; it returns
// stdout and fails the test with stderr when node exits non-zero.
func RunNode(t testing.TB, script string, timeout time.Duration, env []string, args ...string) []byte {
	t.Helper()
	dir := NodeClients(t)
	// The script lives beside node_modules' parent so that bare imports
	// resolve; a temporary name keeps parallel tests apart.
	f, err := os.CreateTemp(dir, "test-*.mjs")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(script); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{f.Name()}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node script: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes()
}
