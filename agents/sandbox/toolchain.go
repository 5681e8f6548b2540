package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNoToolchain is wrapped by a *ToolchainError.
var ErrNoToolchain = errors.New("toolchain not found")

// ToolchainError names a missing language toolchain and how to get it.
type ToolchainError struct {
	Lang, Install string
	Err           error
}

func (e *ToolchainError) Error() string {
	return fmt.Sprintf("%s %v: %v (install: %s)", e.Lang, ErrNoToolchain, e.Err, e.Install)
}
func (e *ToolchainError) Unwrap() error { return ErrNoToolchain }

// Toolchain is a language's interpreter or compiler as the sandbox sees
// it: the real binary (shims such as pyenv's resolved on the host first),
// the folders it reads, and its environment.
type Toolchain struct {
	Exe  string
	Read []string
	Env  []string
}

// Python finds python3 on the host. Programs run with python3 -I: no user
// site-packages, no PYTHON* variables.
func Python(ctx context.Context) (Toolchain, error) {
	out, err := exec.CommandContext(ctx, "python3", "-I", "-c",
		"import sys; print(sys.executable); print(sys.base_prefix); print(sys.prefix)").Output()
	if err != nil {
		return Toolchain{}, &ToolchainError{Lang: "python", Install: "your system's python3 package", Err: err}
	}
	lines := strings.Fields(string(out))
	if len(lines) < 3 {
		return Toolchain{}, &ToolchainError{Lang: "python", Install: "your system's python3 package", Err: errors.New("python3 did not say where it lives")}
	}
	exe, _ := filepath.EvalSymlinks(lines[0])
	return Toolchain{
		Exe:  exe,
		Read: []string{filepath.Dir(exe), lines[1], lines[2]},
		Env:  []string{"PATH=" + filepath.Dir(exe) + ":/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE=1", "LANG=C.UTF-8"},
	}, nil
}

// Go finds the go command on the host. In the sandbox it builds offline
// (GOPROXY=off, GOFLAGS=-mod=mod, four jobs at a time) from the host's
// module cache, read-only, with the build cache gocache, which must be
// writable (a Spec.Write path or inside the working folder).
func Go(ctx context.Context, gocache string) (Toolchain, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOROOT", "GOMODCACHE").Output()
	if err != nil {
		return Toolchain{}, &ToolchainError{Lang: "go", Install: "https://go.dev/dl", Err: err}
	}
	f := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(f) != 2 {
		return Toolchain{}, &ToolchainError{Lang: "go", Install: "https://go.dev/dl", Err: errors.New("go env said nothing")}
	}
	goroot, modcache := f[0], f[1]
	return Toolchain{
		Exe:  filepath.Join(goroot, "bin", "go"),
		Read: []string{goroot, modcache},
		Env: []string{
			"PATH=" + filepath.Join(goroot, "bin") + ":/usr/bin:/bin",
			"GOROOT=" + goroot, "GOMODCACHE=" + modcache, "GOCACHE=" + gocache,
			// Threads count against the process cap: on a many-core host an
			// unbounded go build would start hundreds.
			"GOFLAGS=-mod=mod -p=4", "GOMAXPROCS=4", "GOPROXY=off", "GOSUMDB=off", "GOTOOLCHAIN=local",
			"GOTELEMETRY=off", "GOENV=off", "CGO_ENABLED=0", "GOWORK=off",
		},
	}, nil
}
