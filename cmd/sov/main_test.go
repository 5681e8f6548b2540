package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovos/sov/model"
)

// sovBin is the sov binary built once for the end-to-end tests in this
// package; they run it as a real process (signals, exit codes, kill -9).
var sovBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sov-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sovBin = filepath.Join(dir, "sov")
	args := []string{"build", "-o", sovBin}
	if tags := os.Getenv("SOV_GOTAGS"); tags != "" {
		args = append(args, "-tags", tags)
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build sov:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sovResult is what one run of the binary produced.
type sovResult struct {
	Stdout, Stderr string
	Code           int
}

// runSov runs the binary with SOV_HOME=home plus env ("K=V"), feeding stdin.
func runSov(t *testing.T, home string, env []string, stdin string, args ...string) sovResult {
	t.Helper()
	cmd := exec.Command(sovBin, args...)
	cmd.Env = append(cleanEnv(), "SOV_HOME="+home)
	cmd.Env = append(cmd.Env, env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run sov: %v", err)
	}
	return sovResult{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// cleanEnv is the test process's environment without sov's own variables,
// so a developer's settings never leak into a test. Tests use short
// passphrases, so the strength check is off unless a test passes
// SOV_ALLOW_WEAK_PASSPHRASE= (a later value wins in exec).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SOV_") && !strings.HasPrefix(kv, "SOV_TEST_") && !strings.HasPrefix(kv, "SOV_BUILD_CACHE=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "SOV_ALLOW_WEAK_PASSPHRASE=1")
}

var _ = io.Discard

func TestUsageErrors(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"--no-such-flag"}, exitUsage},
		{[]string{"no-such-command"}, exitUsage},
	}
	for _, tt := range tests {
		r := runSov(t, home, nil, "", tt.args...)
		if r.Code != tt.code {
			t.Errorf("sov %v: exit %d want %d (stderr %q)", tt.args, r.Code, tt.code, r.Stderr)
		}
	}
}

func TestVersionAndManPages(t *testing.T) {
	r := runSov(t, t.TempDir(), nil, "", "--version")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "sov version ") || !strings.Contains(r.Stdout, "llama.cpp "+model.LlamaCommit[:12]) {
		t.Fatalf("exit %d: %q %q", r.Code, r.Stdout, r.Stderr)
	}
	dir := filepath.Join(t.TempDir(), "man")
	if r := runSov(t, t.TempDir(), nil, "", "__man", dir); r.Code != 0 {
		t.Fatalf("__man: exit %d %s", r.Code, r.Stderr)
	}
	for _, page := range []string{"sov.1", "sov-run.1", "sov-vault-ask.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil || !bytes.Contains(b, []byte(".TH \"SOV\"")) {
			t.Errorf("%s: %v", page, err)
		}
	}
	if r := runSov(t, t.TempDir(), nil, "", "--help"); strings.Contains(r.Stdout, "__man") {
		t.Error("__man shows in --help")
	}
}

// The binary signs and talks to EVM nodes with the wallet's own code:
// go-ethereum (a large dependency) is a test-only oracle, and a package
// that pulls it back into sov fails here.
func TestNoGoEthereumInTheBinary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/ethereum/go-ethereum") {
			t.Errorf("sov depends on %s; find the importer with: go list -deps -f '{{.ImportPath}} {{.Imports}}' ./cmd/sov | grep go-ethereum", p)
		}
	}
}
