// Package testtool holds helpers shared by tests that run real external
// tools (anvil, btcd) on loopback.
package testtool

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Need finds a test tool on PATH or in the build cache where
// scripts/deps.d/wallet.sh installs it; missing, the test is skipped, or
// fails under SOV_REQUIRE_TOOLS=1 as in CI.
func Need(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	home, _ := os.UserHomeDir()
	cache := os.Getenv("SOV_BUILD_CACHE")
	if cache == "" {
		cache = filepath.Join(home, ".cache", "sov-build")
	}
	for _, dir := range []string{filepath.Join(cache, "tools", "bin"), filepath.Join(home, "go", "bin")} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("%s not found: run `bash scripts/deps.d/wallet.sh` (or `make deps`)", name)
	if os.Getenv("SOV_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// FreePort asks the kernel for an unused loopback port.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
