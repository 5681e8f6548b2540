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
	"time"

	"github.com/btcsuite/btcd/rpcclient"
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
	for _, dir := range []string{filepath.Join(BuildCache(), "tools", "bin"), filepath.Join(home, "go", "bin")} {
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

// Btcd runs a real btcd in regtest mode with the indexes sov needs, mining
// to miningAddr, and returns its RPC URL (with credentials) and a client.
func Btcd(t testing.TB, miningAddr string) (string, *rpcclient.Client) {
	t.Helper()
	bin := Need(t, "btcd")
	dir := t.TempDir()
	rpcPort, p2pPort := FreePort(t), FreePort(t)
	cmd := exec.Command(bin, "--regtest", "--txindex", "--addrindex", "--notls",
		"--rpcuser=sov", "--rpcpass=regtest", fmt.Sprintf("--rpclisten=127.0.0.1:%d", rpcPort),
		fmt.Sprintf("--listen=127.0.0.1:%d", p2pPort), "--datadir="+dir, "--logdir="+dir,
		"--miningaddr="+miningAddr, "--debuglevel=warn")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c, err := rpcclient.New(&rpcclient.ConnConfig{Host: fmt.Sprintf("127.0.0.1:%d", rpcPort), User: "sov", Pass: "regtest", HTTPPostMode: true, DisableTLS: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Shutdown)
	for i := 0; ; i++ {
		if _, err := c.GetBlockCount(); err == nil {
			break
		} else if i > 100 {
			t.Fatalf("btcd did not start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Sprintf("http://sov:regtest@127.0.0.1:%d", rpcPort), c
}

// Alternate runs a then b on even rounds and b then a on odd ones, so that
// in a side-by-side benchmark neither side always runs on the warmer (or
// busier) machine.
func Alternate(i int, a, b func()) {
	if i%2 == 0 {
		a()
		b()
		return
	}
	b()
	a()
}
