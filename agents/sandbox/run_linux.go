//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
)

// wire is what the parent hands both child stages on fd 3.
type wire struct {
	Spec
	Temp string
}

// status is what the supervisor reports on fd 4 when the command is done.
type status struct {
	Setup  string `json:"setup,omitempty"` // stage 2 failed before exec
	Exited bool   `json:"exited"`
	Code   int    `json:"code"`
	Signal int    `json:"signal"`
}

// Check reports whether this kernel has Landlock. User namespaces are
// checked by Run, which refuses with an *UnsupportedError where they are
// not allowed.
func Check() error {
	abi, err := llsys.LandlockGetABIVersion()
	if err != nil || abi < 1 {
		return &UnsupportedError{Reason: "Landlock is not enabled in this kernel"}
	}
	return nil
}

var cgroupSeq atomic.Int64

// Run runs spec in a sandbox. A command that fails, is killed or hits a
// limit is a Result, not an error; errors are a host that cannot sandbox
// (*UnsupportedError), a sandbox that could not come up (*SetupError), or
// ctx cancelled.
func Run(ctx context.Context, spec Spec) (Result, error) {
	if len(spec.Args) == 0 {
		return Result{}, errors.New("sandbox: no command")
	}
	if err := Check(); err != nil {
		return Result{}, err
	}
	dir, err := filepath.Abs(spec.Dir)
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: %w", err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return Result{}, fmt.Errorf("sandbox: working folder %s: not a folder", dir)
	}
	spec.Dir = dir
	spec.Limits = spec.Limits.withDefaults()
	exe, err := os.Executable()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: own executable: %w", err)
	}
	temp, err := os.MkdirTemp("", "sov-sandbox-")
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: temp dir: %w", err)
	}
	defer os.RemoveAll(temp)
	spec.Env = withDefaultEnv(spec.Env, temp)
	payload, err := json.Marshal(wire{Spec: spec, Temp: temp})
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: %w", err)
	}

	specR, specW, err := os.Pipe()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: %w", err)
	}
	statR, statW, err := os.Pipe()
	if err != nil {
		specR.Close()
		specW.Close()
		return Result{}, fmt.Errorf("sandbox: %w", err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	cmd := exec.Command(exe)
	cmd.Env = []string{stageEnv + "=1"}
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(spec.Stdin)
	out := &capped{max: spec.Limits.Output}
	errb := &capped{max: spec.Limits.Output}
	cmd.Stdout, cmd.Stderr = out, errb
	cmd.ExtraFiles = []*os.File{specR, statW}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// The supervisor is PID 1 of its namespace: when it dies, the
		// kernel kills everything the command left behind.
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET | syscall.CLONE_NEWPID |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}},
		// A new session: no controlling terminal to read keys from or
		// write escapes to.
		Setsid:    true,
		Pdeathsig: syscall.SIGKILL,
	}
	start := time.Now()
	err = cmd.Start()
	specR.Close()
	statW.Close()
	if err != nil {
		specW.Close()
		statR.Close()
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EACCES) {
			return Result{}, &UnsupportedError{Reason: "user namespaces are not allowed: " + err.Error()}
		}
		return Result{}, fmt.Errorf("sandbox: start: %w", err)
	}
	// Root is exempt from RLIMIT_NPROC: a pids cgroup caps the tree
	// instead, joined before the child reads its spec.
	cg := joinPidsCgroup(cmd.Process.Pid, spec.Limits.Procs+64)
	defer cg.remove()

	var timedOut atomic.Bool
	kill := func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Process.Kill() }
	out.onFull, errb.onFull = kill, kill
	timer := time.AfterFunc(spec.Limits.Wall, func() { timedOut.Store(true); kill() })
	defer timer.Stop()
	stopCtx := context.AfterFunc(ctx, kill)
	defer stopCtx()

	go func() { _, _ = specW.Write(payload); specW.Close() }()
	var st status
	stDone := make(chan error, 1)
	go func() {
		b, err := io.ReadAll(statR)
		statR.Close()
		if err == nil && len(b) > 0 {
			err = json.Unmarshal(b, &st)
		} else if err == nil {
			err = io.ErrUnexpectedEOF
		}
		stDone <- err
	}()
	waitErr := cmd.Wait()
	stErr := <-stDone
	res := Result{Duration: time.Since(start), Stdout: out.bytes(), Stderr: errb.bytes(), Truncated: out.full() || errb.full()}
	switch {
	case ctx.Err() != nil:
		return res, ctx.Err()
	case timedOut.Load():
		res.Kind = Timeout
		return res, nil
	case res.Truncated:
		res.Kind, res.Limit = Limited, LimitOutput
		return res, nil
	case stErr != nil:
		return res, &SetupError{Msg: fmt.Sprintf("supervisor ended without a status (%v): %s", waitErr, firstLine(res.Stderr))}
	case st.Setup != "":
		return res, &SetupError{Msg: st.Setup}
	}
	classify(&res, st, spec.Limits)
	return res, nil
}

// classify turns the command's wait status into a Kind.
func classify(res *Result, st status, l Limits) {
	if !st.Exited {
		sig := syscall.Signal(st.Signal)
		switch sig {
		case syscall.SIGXCPU:
			res.Kind, res.Limit = Limited, LimitCPU
		case syscall.SIGXFSZ:
			res.Kind, res.Limit = Limited, LimitFileSize
		default:
			res.Kind, res.Signal = Signaled, sigName(sig)
			// RLIMIT_CPU's hard limit is a SIGKILL one second after SIGXCPU.
			if sig == syscall.SIGKILL && res.Duration >= l.CPU {
				res.Kind, res.Signal, res.Limit = Limited, "", LimitCPU
			}
		}
		return
	}
	res.Kind, res.Code = Exited, st.Code
	if st.Code == 0 {
		return
	}
	// RLIMIT_AS and the process cap surface as failed allocations and
	// forks that the program reports its own way; these are the usual words.
	tail := string(res.Stderr)
	switch {
	case strings.Contains(tail, "MemoryError") || strings.Contains(tail, "out of memory") ||
		strings.Contains(tail, "cannot allocate memory"):
		res.Kind, res.Limit = Limited, LimitMemory
	case strings.Contains(tail, "Resource temporarily unavailable") || strings.Contains(tail, "BlockingIOError"):
		res.Kind, res.Limit = Limited, LimitProcs
	case strings.Contains(tail, "File too large"): // SIGXFSZ ignored, as Python does
		res.Kind, res.Limit = Limited, LimitFileSize
	}
}

func sigName(s syscall.Signal) string {
	name := s.String()
	if strings.HasPrefix(name, "signal ") {
		return "signal " + strconv.Itoa(int(s))
	}
	return name + " (" + strconv.Itoa(int(s)) + ")"
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// withDefaultEnv adds HOME, TMPDIR and PATH when env lacks them.
func withDefaultEnv(env []string, temp string) []string {
	has := func(k string) bool {
		for _, e := range env {
			if strings.HasPrefix(e, k+"=") {
				return true
			}
		}
		return false
	}
	out := append([]string(nil), env...)
	if !has("HOME") {
		out = append(out, "HOME="+temp)
	}
	if !has("TMPDIR") {
		out = append(out, "TMPDIR="+temp)
	}
	if !has("PATH") {
		out = append(out, "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	return out
}

// capped keeps the first max bytes written and calls onFull once when
// more arrive.
type capped struct {
	mu     sync.Mutex
	max    int64
	buf    bytes.Buffer
	over   bool
	onFull func()
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.over {
		return 0, io.ErrShortWrite
	}
	room := c.max - int64(c.buf.Len())
	if int64(len(p)) > room {
		c.buf.Write(p[:room])
		c.over = true
		if c.onFull != nil {
			go c.onFull()
		}
		return 0, io.ErrShortWrite
	}
	return c.buf.Write(p)
}

func (c *capped) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf.Bytes()...)
}

func (c *capped) full() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.over
}

// pidsCgroup is a v1 pids cgroup made for one run, or nothing.
type pidsCgroup string

func joinPidsCgroup(pid, max int) pidsCgroup {
	if os.Getuid() != 0 {
		return ""
	}
	root := "/sys/fs/cgroup/pids"
	if _, err := os.Stat(filepath.Join(root, "pids.max")); err != nil {
		if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
			return ""
		}
	}
	dir := filepath.Join(root, fmt.Sprintf("sov-sandbox-%d-%d", os.Getpid(), cgroupSeq.Add(1)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return ""
	}
	if os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.Itoa(max)), 0) != nil ||
		os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0) != nil {
		_ = os.Remove(dir)
		return ""
	}
	return pidsCgroup(dir)
}

func (c pidsCgroup) remove() {
	if c == "" {
		return
	}
	// The tree is dead once the supervisor is reaped, but the kernel may
	// take a moment to empty the group.
	for i := 0; i < 50; i++ {
		if os.Remove(string(c)) == nil || errors.Is(os.Remove(string(c)), os.ErrNotExist) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
