// Package sandbox runs code that role agents or a benchmark produced: tests,
// builds, programs. The child is sov (or the test binary) re-executed: a
// supervisor in new user, network and PID namespaces starts a second copy
// that sets rlimits, Landlock and seccomp on itself and then executes the
// command. The host sees no network, no writes outside the run's folder and
// temp dir, and no reads outside the toolchain, the caches and that folder.
package sandbox

import (
	"errors"
	"fmt"
	"time"
)

// ErrUnsupported is wrapped by an *UnsupportedError: this host cannot
// sandbox (no Landlock, no user namespaces, not Linux).
var ErrUnsupported = errors.New("sandbox unavailable on this host")

// UnsupportedError says which part of the sandbox the host lacks.
type UnsupportedError struct{ Reason string }

func (e *UnsupportedError) Error() string { return ErrUnsupported.Error() + ": " + e.Reason }
func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }

// SetupError is a sandbox that failed to come up (a rule, a limit, the
// command not found); nothing of the command ran.
type SetupError struct{ Msg string }

func (e *SetupError) Error() string { return "sandbox setup: " + e.Msg }

// Limits bound one run. Zero fields take the Default* values.
type Limits struct {
	Wall     time.Duration // wall clock; the whole process tree is killed
	CPU      time.Duration // CPU seconds per process (RLIMIT_CPU)
	Memory   int64         // address space per process, bytes (RLIMIT_AS)
	Procs    int           // processes and threads in the sandbox
	FileSize int64         // largest file written, bytes (RLIMIT_FSIZE)
	Output   int64         // stdout and stderr kept, each; more kills the run
}

// Defaults: generous for `go test` of a small package, small for anything
// a test should never need.
const (
	DefaultWall     = 2 * time.Minute
	DefaultCPU      = 60 * time.Second
	DefaultMemory   = 4 << 30
	DefaultProcs    = 256
	DefaultFileSize = 256 << 20
	DefaultOutput   = 1 << 20
)

func (l Limits) withDefaults() Limits {
	if l.Wall <= 0 {
		l.Wall = DefaultWall
	}
	if l.CPU <= 0 {
		l.CPU = DefaultCPU
	}
	if l.Memory <= 0 {
		l.Memory = DefaultMemory
	}
	if l.Procs <= 0 {
		l.Procs = DefaultProcs
	}
	if l.FileSize <= 0 {
		l.FileSize = DefaultFileSize
	}
	if l.Output <= 0 {
		l.Output = DefaultOutput
	}
	return l
}

// Spec is one command to run.
type Spec struct {
	Dir   string   // working folder, readable and writable; must exist
	Args  []string // command; Args[0] is looked up in the PATH of Env
	Env   []string // the whole environment (nothing is inherited); TMPDIR and HOME are set to the run's temp dir unless given
	Stdin []byte

	Read  []string // more folders or files readable (toolchain, module cache)
	Write []string // more folders writable (a build cache the caller owns)

	Limits Limits
}

// Kind is how a run ended.
type Kind string

const (
	Exited   Kind = "exit"    // the command exited; see Code
	Signaled Kind = "signal"  // killed by a signal it raised or got
	Timeout  Kind = "timeout" // the wall clock ran out; the tree was killed
	Limited  Kind = "limit"   // a limit stopped it; see Limit
)

// Limit names the limit a Limited run hit.
type Limit string

const (
	LimitCPU      Limit = "cpu"
	LimitMemory   Limit = "memory"
	LimitProcs    Limit = "processes"
	LimitFileSize Limit = "file size"
	LimitOutput   Limit = "output"
)

// Result is what a run did. Stdout and Stderr hold at most Limits.Output
// bytes each; Truncated says more was cut.
type Result struct {
	Kind      Kind          `json:"kind"`
	Code      int           `json:"code"`             // exit status (Exited)
	Signal    string        `json:"signal,omitempty"` // Signaled
	Limit     Limit         `json:"limit,omitempty"`  // Limited
	Stdout    []byte        `json:"stdout"`
	Stderr    []byte        `json:"stderr"`
	Truncated bool          `json:"truncated,omitempty"`
	Duration  time.Duration `json:"duration"`
}

// OK reports a clean exit 0.
func (r Result) OK() bool { return r.Kind == Exited && r.Code == 0 }

// String is one plain line: "exit 1", "timeout after 2s", "limit hit: memory".
func (r Result) String() string {
	var s string
	switch r.Kind {
	case Exited:
		s = fmt.Sprintf("exit %d", r.Code)
	case Signaled:
		s = "killed by " + r.Signal
	case Timeout:
		s = "timeout after " + r.Duration.Round(time.Millisecond).String()
	case Limited:
		s = "limit hit: " + string(r.Limit)
	default:
		s = string(r.Kind)
	}
	if r.Truncated {
		s += " (output truncated)"
	}
	return s
}
