package agents

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Clock is the scheduler's time: Now and a timer. Tests drive a fake one;
// the daemon uses the machine's.
type Clock interface {
	Now() time.Time
	// After sends on the channel once d has passed (like time.After).
	After(d time.Duration) <-chan time.Time
}

// Rand is the jitter's random source; *math/rand/v2.Rand satisfies it.
type Rand interface {
	Int64N(n int64) int64
}

type realClock struct{}

// Now drops the monotonic reading: due times are wall-clock times, and a
// machine that slept must compare by the wall clock.
func (realClock) Now() time.Time                         { return time.Now().Round(0) }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

type realRand struct{}

func (realRand) Int64N(n int64) int64 { return rand.Int64N(n) }

// ErrDaemonRunning matches every *DaemonRunningError.
var ErrDaemonRunning = errors.New("the agent scheduler is already running")

// DaemonRunningError: a second scheduler on the same agents folder; PID is
// the first's process (0 when it had not written it yet).
type DaemonRunningError struct {
	PID  int
	Lock string // the lock file it holds
}

func (e *DaemonRunningError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("%v: %s holds %s", ErrDaemonRunning, who, e.Lock)
}

// Is makes errors.Is(err, ErrDaemonRunning) true.
func (e *DaemonRunningError) Is(target error) bool { return target == ErrDaemonRunning }

// daemonLock takes path's flock without waiting and writes this process's
// pid into it, so a second daemon can name the first. The kernel drops the
// lock when the process dies, kill -9 included: no stale lock to clean up.
func daemonLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("scheduler lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		data, _ := os.ReadFile(path)
		f.Close()
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		return nil, &DaemonRunningError{PID: pid, Lock: path}
	}
	if err == nil {
		if err = f.Truncate(0); err == nil {
			_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("scheduler lock %s: %w", path, err)
	}
	return f, nil
}
