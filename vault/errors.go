package vault

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// ErrDiskFull is wrapped by errors from a write that ran out of space. The
// transaction was rolled back, so nothing partial is kept.
var ErrDiskFull = errors.New("disk full")

func diskErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w while writing the vault (the last batch was rolled back, nothing partial kept): free some space and re-run: %v", ErrDiskFull, err)
	}
	return err
}

// lockHolder names the process holding the database's flock, read from
// /proc/locks on Linux; elsewhere it says "another process".
func lockHolder(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "another process"
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "another process"
	}
	locks, err := os.ReadFile("/proc/locks")
	if err != nil {
		return "another process"
	}
	ino := fmt.Sprintf(":%d", st.Ino)
	for _, line := range strings.Split(string(locks), "\n") {
		f := strings.Fields(line)
		// "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
		if len(f) < 6 || f[1] != "FLOCK" || !strings.HasSuffix(f[5], ino) {
			continue
		}
		pid := f[4]
		if pid == fmt.Sprint(os.Getpid()) {
			return fmt.Sprintf("this process (pid %s)", pid)
		}
		cmd, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		args := strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")
		if len(args) > 3 {
			args = args[:3] // the command, not its (private) arguments
		}
		name := strings.TrimSpace(strings.Join(args, " "))
		if name == "" {
			return "process " + pid
		}
		return fmt.Sprintf("process %s (%s)", pid, name)
	}
	return "another process"
}
