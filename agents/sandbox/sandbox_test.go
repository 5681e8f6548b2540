//go:build linux

package sandbox

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// py runs a Python program in the sandbox, in dir (a fresh one when empty).
func py(t *testing.T, dir, src string, l Limits) Result {
	t.Helper()
	tc, err := Python(context.Background())
	if err != nil {
		t.Skip(err)
	}
	if dir == "" {
		dir = t.TempDir()
	}
	res, err := Run(context.Background(), Spec{
		Dir: dir, Args: []string{tc.Exe, "-I", "-c", src}, Env: tc.Env, Read: tc.Read, Limits: l,
	})
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestRunsAndReports(t *testing.T) {
	dir := t.TempDir()
	res := py(t, dir, "import sys; open('out.txt','w').write('hi'); print('hello'); print('oops', file=sys.stderr); sys.exit(3)", Limits{})
	if res.Kind != Exited || res.Code != 3 || strings.TrimSpace(string(res.Stdout)) != "hello" || !strings.Contains(string(res.Stderr), "oops") {
		t.Fatalf("got %v stdout %q stderr %q", res, res.Stdout, res.Stderr)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "out.txt")); err != nil || string(b) != "hi" {
		t.Fatalf("write inside DIR: %q %v", b, err)
	}
	if res.String() != "exit 3" {
		t.Fatalf("String() = %q", res.String())
	}
}

// TestEscapes: each program tries to get out or to harm the host, and each
// is refused or stopped, with a plain result.
func TestEscapes(t *testing.T) {
	home := t.TempDir() // a fake HOME with a key in it
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(home, ".ssh", "id_ed25519")
	if err := os.WriteFile(key, []byte("SECRET KEY"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "sov")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "vault.db"), []byte("VAULT"), 0o600); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "planted")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port

	short := Limits{Wall: 20 * time.Second}
	tests := []struct {
		name   string
		src    string
		limits Limits
		want   func(Result) bool
	}{
		{"read ~/.ssh", "print(open(" + pyq(key) + ").read())", short, refused("PermissionError")},
		{"list ~/.ssh", "import os; print(os.listdir(" + pyq(filepath.Dir(key)) + "))", short, refused("PermissionError")},
		{"read sov data", "print(open(" + pyq(filepath.Join(data, "vault.db")) + ").read())", short, refused("PermissionError")},
		{"write outside DIR", "open(" + pyq(outside) + ",'w').write('x')", short, refused("PermissionError")},
		{"connect 127.0.0.1", "import socket; socket.create_connection(('127.0.0.1'," + itoa(port) + "), timeout=3)", short, refused("OSError", "Error")},
		{"resolve a name", "import socket; print(socket.getaddrinfo('example.com', 443))", short, refused("gaierror")},
		{"fork bomb", "import os\nwhile True:\n    os.fork()", Limits{Wall: 10 * time.Second, Procs: 32}, stopped},
		{"allocate 10 GB", "b = bytearray(10 << 30); print(len(b))", Limits{Wall: 20 * time.Second, Memory: 1 << 30}, limit(LimitMemory)},
		{"run for an hour", "import time; time.sleep(3600)", Limits{Wall: 2 * time.Second}, kind(Timeout)},
		{"spin the CPU", "while True: pass", Limits{Wall: 20 * time.Second, CPU: time.Second}, limit(LimitCPU)},
		{"print 1 GB", "import sys\nfor _ in range(1024): sys.stdout.write('x' * (1 << 20))", Limits{Wall: 20 * time.Second, Output: 64 << 10}, limit(LimitOutput)},
		{"write a huge file", "open('big','wb').write(b'x' * (64 << 20))", Limits{Wall: 20 * time.Second, FileSize: 1 << 20}, limit(LimitFileSize)},
		{"ptrace", "import ctypes; r = ctypes.CDLL(None).ptrace(16, 1, 0, 0); print(r); assert r == -1", short, Result.OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			res := py(t, "", tc.src, tc.limits)
			t.Logf("%s: %v in %v; stderr %q", tc.name, res, time.Since(start).Round(time.Millisecond), tail(res.Stderr))
			if !tc.want(res) {
				t.Fatalf("not stopped: %v\nstdout %q\nstderr %q", res, tail(res.Stdout), tail(res.Stderr))
			}
			if strings.Contains(string(res.Stdout), "SECRET") || strings.Contains(string(res.Stdout), "VAULT") {
				t.Fatal("secret leaked")
			}
		})
	}
	if _, err := os.Stat(outside); err == nil {
		t.Fatal("a file was written outside DIR")
	}
	select {
	case <-accepted:
		t.Fatal("the listener on 127.0.0.1 got a connection from the sandbox")
	default:
	}
}

func refused(words ...string) func(Result) bool {
	return func(r Result) bool {
		if r.Kind != Exited || r.Code == 0 {
			return false
		}
		for _, w := range words {
			if strings.Contains(string(r.Stderr), w) {
				return true
			}
		}
		return false
	}
}

func stopped(r Result) bool { return !r.OK() }

func kind(k Kind) func(Result) bool { return func(r Result) bool { return r.Kind == k } }

func limit(l Limit) func(Result) bool {
	return func(r Result) bool { return r.Kind == Limited && r.Limit == l }
}

func pyq(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

func itoa(n int) string { return strconv.Itoa(n) }
func tail(b []byte) string {
	if len(b) > 300 {
		b = b[len(b)-300:]
	}
	return string(b)
}

func TestSetupErrorForMissingCommand(t *testing.T) {
	_, err := Run(context.Background(), Spec{Dir: t.TempDir(), Args: []string{"no-such-command-here"}})
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	var se *SetupError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "no-such-command-here") {
		t.Fatalf("err = %v, want a SetupError naming the command", err)
	}
}

func TestBadSpec(t *testing.T) {
	for _, s := range []Spec{{Dir: t.TempDir()}, {Dir: filepath.Join(t.TempDir(), "missing"), Args: []string{"true"}}} {
		if _, err := Run(context.Background(), s); err == nil {
			t.Errorf("Run(%+v) = nil error", s)
		}
	}
}

func TestNoTerminal(t *testing.T) {
	res := py(t, "", "open('/dev/tty', 'w').write('\\x1b]0;pwned\\x07')", Limits{Wall: 20 * time.Second})
	// Landlock refuses it (PermissionError), whether or not a terminal exists.
	if !refused("PermissionError")(res) {
		t.Fatalf("/dev/tty not refused: %v %q", res, tail(res.Stderr))
	}
}

// TestNothingOutlivesTheRun: a process the command leaves behind dies with
// the sandbox (its supervisor is PID 1 of the namespace).
func TestNothingOutlivesTheRun(t *testing.T) {
	dir := t.TempDir()
	src := "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(1.5)\n    open('late', 'w').write('x')\n    os._exit(0)\nprint('parent done')"
	res := py(t, dir, src, Limits{Wall: 20 * time.Second})
	if !res.OK() {
		t.Fatalf("%v %q", res, tail(res.Stderr))
	}
	time.Sleep(2500 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(dir, "late")); err == nil {
		t.Fatal("a background process outlived the run")
	}
}

func TestCancel(t *testing.T) {
	tc, err := Python(context.Background())
	if err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Run(ctx, Spec{Dir: t.TempDir(), Args: []string{tc.Exe, "-I", "-c", "import time; time.sleep(60)"}, Env: tc.Env, Read: tc.Read})
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Fatalf("err %v after %v, want the context's error at once", err, time.Since(start))
	}
}
