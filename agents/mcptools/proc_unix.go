//go:build unix

package mcptools

import (
	"os/exec"
	"syscall"
)

// ownGroup starts cmd in a process group of its own, so that Close can
// stop what it started too ("npx" runs node, which may run more).
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup kills what is left of cmd's group once cmd has been closed.
func killGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // ESRCH: nothing left
}
