//go:build linux

package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// stageEnv marks a re-executed child: 1 the supervisor, 2 the stage that
// locks itself down and executes the command. Both sov and any test binary
// that links this package honour it, before main runs.
const stageEnv = "SOV_SANDBOX_STAGE"

func init() {
	switch os.Getenv(stageEnv) {
	case "1":
		os.Exit(supervise())
	case "2":
		lockdown() // returns only on failure
		os.Exit(125)
	}
}

func readWire() (wire, error) {
	f := os.NewFile(3, "spec")
	defer f.Close()
	var w wire
	b, err := io.ReadAll(f)
	if err == nil {
		err = json.Unmarshal(b, &w)
	}
	return w, err
}

// supervise is PID 1 of the sandbox's namespaces: it starts stage 2,
// waits for it and reports its wait status on fd 4.
func supervise() int {
	statf := os.NewFile(4, "status")
	report := func(st status) int {
		b, _ := json.Marshal(st)
		_, _ = statf.Write(b)
		statf.Close()
		return 0
	}
	w, err := readWire()
	if err != nil {
		return report(status{Setup: "reading spec: " + err.Error()})
	}
	payload, _ := json.Marshal(w)
	specR, specW, err := os.Pipe()
	if err != nil {
		return report(status{Setup: err.Error()})
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return report(status{Setup: err.Error()})
	}
	exe, err := os.Executable()
	if err != nil {
		return report(status{Setup: err.Error()})
	}
	cmd := exec.Command(exe)
	cmd.Env = []string{stageEnv + "=2"}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{specR, errW}
	if err := cmd.Start(); err != nil {
		return report(status{Setup: "starting stage 2: " + err.Error()})
	}
	specR.Close()
	errW.Close()
	go func() { _, _ = specW.Write(payload); specW.Close() }()
	setupMsg, _ := io.ReadAll(errR) // EOF at exec (close-on-exec) or exit
	_ = cmd.Wait()
	if len(setupMsg) > 0 {
		return report(status{Setup: string(setupMsg)})
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return report(status{Setup: "no wait status"})
	}
	if ws.Signaled() {
		return report(status{Signal: int(ws.Signal())})
	}
	return report(status{Exited: true, Code: ws.ExitStatus()})
}

// lockdown sets the limits, Landlock rules and seccomp filter on this
// process and executes the command; it returns only after writing why it
// could not on fd 4.
func lockdown() {
	errf := os.NewFile(4, "setup")
	fail := func(format string, a ...any) {
		_, _ = fmt.Fprintf(errf, format, a...)
		errf.Close()
	}
	unix.CloseOnExec(4)
	w, err := readWire()
	if err != nil {
		fail("reading spec: %v", err)
		return
	}
	l := w.Limits
	path, err := lookPath(w.Args[0], w.Env)
	if err != nil {
		fail("%v", err)
		return
	}
	// Landlock and seccomp bind the calling thread; the exec below runs on
	// it too, and the command inherits both. (go-landlock's Restrict would
	// sync all threads through libpsx, whose /proc/PID/task workaround
	// names a host PID from inside the PID namespace.)
	runtime.LockOSThread()
	if err := landlockRules(w, path); err != nil {
		fail("landlock: %v", err)
		return
	}
	if err := seccomp.LoadFilter(filter()); err != nil {
		fail("seccomp: %v", err)
		return
	}
	if err := os.Chdir(w.Dir); err != nil {
		fail("%v", err)
		return
	}
	// Limits last: RLIMIT_AS below what this Go process already maps
	// must not fail the steps above.
	cpu := uint64(l.CPU.Seconds() + 0.999)
	for _, r := range []struct {
		res      int
		cur, max uint64
		what     string
	}{
		{unix.RLIMIT_CPU, cpu, cpu + 1, "cpu"},
		{unix.RLIMIT_AS, uint64(l.Memory), uint64(l.Memory), "memory"},
		{unix.RLIMIT_NPROC, uint64(l.Procs), uint64(l.Procs), "processes"},
		{unix.RLIMIT_FSIZE, uint64(l.FileSize), uint64(l.FileSize), "file size"},
		{unix.RLIMIT_CORE, 0, 0, "core"},
	} {
		if err := unix.Setrlimit(r.res, &unix.Rlimit{Cur: r.cur, Max: r.max}); err != nil {
			fail("rlimit %s: %v", r.what, err)
			return
		}
	}
	err = syscall.Exec(path, w.Args, w.Env)
	fail("exec %s: %v", w.Args[0], err)
}

// landlockRules: read-only the system's libraries and the caller's Read
// paths, read-write the working folder, the temp dir and Write; no TCP
// bind or connect, no signals or abstract sockets out of the sandbox.
func landlockRules(w wire, exe string) error {
	ro := []string{"/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", filepath.Dir(exe)}
	ro = append(ro, w.Read...)
	rw := append([]string{w.Dir, w.Temp}, w.Write...)
	etc := []string{"/etc/ld.so.cache", "/etc/localtime", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
		"/etc/hosts", "/etc/resolv.conf", "/dev/urandom", "/dev/random", "/dev/zero"}
	fd, flags, err := landlock.V7.BestEffort().NewRulesetFD(
		landlock.RODirs(ro...).IgnoreIfMissing(),
		landlock.RWDirs(rw...),
		landlock.ROFiles(etc...).IgnoreIfMissing(),
		landlock.RWFiles("/dev/null"),
	)
	if err != nil {
		return err
	}
	if fd < 0 {
		return errors.New("the kernel restricts nothing")
	}
	defer unix.Close(fd)
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	return llsys.LandlockRestrictSelf(fd, flags)
}

// filter refuses the calls a test never needs and an escape would:
// debugging other processes, mounts, kernel modules and images, BPF,
// namespaces, keyrings, clocks.
func filter() seccomp.Filter {
	return seccomp.Filter{
		NoNewPrivs: true, // this thread only: see lockdown
		Policy: seccomp.Policy{
			DefaultAction: seccomp.ActionAllow,
			Syscalls: []seccomp.SyscallGroup{{
				Action: seccomp.ActionErrno,
				Names: []string{
					"ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
					"mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
					"fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
					"kexec_load", "kexec_file_load", "reboot", "init_module", "finit_module",
					"delete_module", "bpf", "perf_event_open", "userfaultfd",
					"setns", "unshare", "keyctl", "add_key", "request_key",
					"swapon", "swapoff", "acct", "quotactl", "syslog",
					"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
					"iopl", "ioperm", "open_by_handle_at", "name_to_handle_at",
					"personality", "vhangup",
				},
			}},
		},
	}
}

// lookPath finds name in env's PATH (the sandbox's, not the host's).
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New(name + ": command not found in the sandbox's PATH")
}
