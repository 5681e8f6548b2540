package wallet

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// needTool finds a test tool on PATH or in the build cache where
// scripts/deps.d/wallet.sh installs it; missing, the test is skipped, or
// fails under SOV_REQUIRE_TOOLS=1 as in CI.
func needTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	cache := os.Getenv("SOV_BUILD_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "sov-build")
	}
	home, _ := os.UserHomeDir()
	for _, dir := range []string{filepath.Join(cache, "tools", "bin"), filepath.Join(home, "go", "bin")} {
		if p := filepath.Join(dir, name); fileExists(p) {
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

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// freePort asks the kernel for an unused loopback port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
