package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/internal/seal"
	"github.com/sovos/sov/vault"
)

// strict turns the strength check back on (cleanEnv turns it off).
const strict = "SOV_ALLOW_WEAK_PASSPHRASE="

// A new passphrase is judged on every path that chooses one; the escape
// hatch accepts it; unlocking with it later is never judged.
func TestWeakNewPassphraseRefused(t *testing.T) {
	tests := []struct {
		name string
		env  string
		args []string
	}{
		{"vault init", "SOV_VAULT_PASSPHRASE=a", []string{"vault", "init", "--kdf-memory", "19", "--kdf-time", "1", "--kdf-threads", "1"}},
		{"wallet init", "SOV_WALLET_PASSPHRASE=a", []string{"wallet", "init", "--words", "12", "--no-confirm"}},
		{"feeds keygen", "SOV_FEEDS_PASSPHRASE=a", []string{"feeds", "keygen", "--name", "Me"}},
		{"ledger key", "SOV_LEDGER_PASSPHRASE=a", []string{"ledger", "checkpoint"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runSov(t, t.TempDir(), []string{tt.env, strict}, "", tt.args...)
			if r.Code != 1 || !strings.Contains(r.Stderr, "passphrase too weak") || !strings.Contains(r.Stderr, "SOV_ALLOW_WEAK_PASSPHRASE=1") ||
				strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
				t.Fatalf("want one-line refusal, got %d %q", r.Code, r.Stderr)
			}
		})
	}
	home := t.TempDir()
	weak := []string{"SOV_VAULT_PASSPHRASE=a", strict}
	if r := runSov(t, home, weak, "", tests[0].args...); r.Code != 1 {
		t.Fatalf("weak vault init: %d %q", r.Code, r.Stderr)
	}
	if _, err := os.Stat(filepath.Join(home, "vault", "vault.db")); err == nil {
		t.Fatal("a refused init left a vault behind")
	}
	if r := runSov(t, home, append(weak, "SOV_ALLOW_WEAK_PASSPHRASE=1"), "", tests[0].args...); r.Code != 0 {
		t.Fatalf("escape hatch: %d %q", r.Code, r.Stderr)
	}
	if r := runSov(t, home, weak, "", "vault", "ls"); r.Code != 0 {
		t.Fatalf("unlocking with an existing weak passphrase must work: %d %q", r.Code, r.Stderr)
	}
	strong := []string{"SOV_VAULT_PASSPHRASE=tangerine orbit walrus nebula", strict}
	if r := runSov(t, t.TempDir(), strong, "", tests[0].args...); r.Code != 0 {
		t.Fatalf("strong passphrase refused: %d %q", r.Code, r.Stderr)
	}
}

// --kdf-memory under the floor is a usage error naming it; a vault written
// earlier with weaker parameters still opens.
func TestKDFMinimum(t *testing.T) {
	home := t.TempDir()
	for _, args := range [][]string{
		{"vault", "init", "--kdf-memory", "1"},
		{"vault", "init", "--kdf-memory", "18"},
	} {
		r := runSov(t, home, vaultEnv, "", args...)
		if r.Code != 2 || !strings.Contains(r.Stderr, "under the minimum of 19 MiB") || !strings.Contains(r.Stderr, "--kdf-memory") {
			t.Fatalf("%v: want exit 2 naming 19 MiB, got %d %q", args, r.Code, r.Stderr)
		}
	}
	fast := seal.FastKDF() // 64 KiB: below the floor, as an old file might be
	if err := vault.Init(context.Background(), filepath.Join(home, "vault"), []byte(vaultTestPass), vault.Options{KDF: &fast}); err != nil {
		t.Fatal(err)
	}
	if r := runSov(t, home, vaultEnv, "", "vault", "ls"); r.Code != 0 {
		t.Fatalf("a vault with old, weaker parameters must open: %d %q", r.Code, r.Stderr)
	}
	// passwd without --kdf-* keeps them rather than locking the user out.
	if r := runSov(t, home, append(vaultEnv, "SOV_VAULT_NEW_PASSPHRASE=tangerine orbit walrus nebula"), "", "vault", "passwd"); r.Code != 0 {
		t.Fatalf("passwd on an old vault: %d %q", r.Code, r.Stderr)
	}
}

// Passphrase files others can read are refused, naming chmod 600.
func TestPassphraseFileMode(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "pass")
	os.WriteFile(pf, []byte(vaultTestPass+"\n"), 0o600)
	if err := os.Chmod(pf, 0o644); err != nil {
		t.Fatal(err)
	}
	bip := filepath.Join(dir, "bip39")
	os.WriteFile(bip, []byte("twenty fifth\n"), 0o600)
	os.Chmod(bip, 0o640)
	const mnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about\n"
	tests := []struct {
		name  string
		file  string
		env   []string
		stdin string
		pre   []string // run first, in the same home
		args  []string
	}{
		{"vault", pf, nil, "", nil, []string{"vault", "init", "--kdf-memory", "19", "--passphrase-file", pf}},
		{"wallet", pf, nil, "", nil, []string{"wallet", "init", "--words", "12", "--no-confirm", "--passphrase-file", pf}},
		{"bip39", bip, walletTestEnv, mnemonic, nil, []string{"wallet", "import", "--bip39-passphrase-file", bip}},
		{"feeds from wallet", pf, append([]string{"SOV_FEEDS_PASSPHRASE=x"}, walletTestEnv...), "", []string{"wallet", "init", "--words", "12", "--no-confirm"}, []string{"feeds", "keygen", "--from-wallet", "--wallet-passphrase-file", pf}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			if tt.pre != nil {
				if r := runSov(t, home, tt.env, "", tt.pre...); r.Code != 0 {
					t.Fatalf("%v: %d %q", tt.pre, r.Code, r.Stderr)
				}
			}
			r := runSov(t, home, tt.env, tt.stdin, tt.args...)
			if r.Code != 1 || !strings.Contains(r.Stderr, "chmod 600 "+tt.file) {
				t.Fatalf("want refusal naming chmod 600, got %d %q", r.Code, r.Stderr)
			}
		})
	}
	os.Chmod(pf, 0o600)
	if r := runSov(t, t.TempDir(), nil, "", tests[0].args...); r.Code != 0 {
		t.Fatalf("a 0600 file must work: %d %q", r.Code, r.Stderr)
	}
}

// sov runs with core dumps off: RLIMIT_CORE is 0, soft and hard, in a
// live process started with the soft limit raised as far as allowed.
func TestNoCoreDumps(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	home := t.TempDir()
	feedsRun(t, home, []string{"SOV_FEEDS_PASSPHRASE=x"}, "feeds", "keygen", "--name", "Me")
	cmd := exec.Command("sh", "-c", `ulimit -S -c "$(ulimit -H -c)"; exec "$0" "$@"`, sovBin, "feeds", "serve", "--addr", "127.0.0.1:0")
	cmd.Env = append(cleanEnv(), "SOV_HOME="+home)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	limits := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/limits"
	var line string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(limits)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Max core file size") {
				line = l
			}
		}
		if f := strings.Fields(line); len(f) > 5 && f[4] == "0" && f[5] == "0" {
			return
		}
	}
	t.Fatalf("core dumps still allowed: %q", line)
}
