package model

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

func haveCPUStat() bool {
	_, err := os.Stat("/proc/stat")
	return err == nil
}

// userHZ is the unit of /proc/stat's times: USER_HZ, 100 on every Linux
// architecture Go supports.
const userHZ = 100

// readCPUSample sums idle and I/O-wait time over the CPUs this process may
// run on (its affinity, so a container's cpuset counts, not the host) and
// reads the process's own CPU time.
func readCPUSample(at time.Time) (cpuSample, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return cpuSample{}, err
	}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}, err
	}
	s := cpuSample{at: at}
	var ticks int64
	for line := range bytes.Lines(stat) {
		f := bytes.Fields(line)
		// cpuN user nice system idle iowait …
		if len(f) < 6 || !bytes.HasPrefix(f[0], []byte("cpu")) || len(f[0]) == 3 {
			continue
		}
		n, err := strconv.Atoi(string(f[0][3:]))
		if err != nil || !set.IsSet(n) {
			continue
		}
		idle, err1 := strconv.ParseInt(string(f[4]), 10, 64)
		wait, err2 := strconv.ParseInt(string(f[5]), 10, 64)
		if err1 != nil || err2 != nil {
			return cpuSample{}, errors.New("/proc/stat: unexpected cpu line")
		}
		ticks += idle + wait
		s.cores++
	}
	if s.cores == 0 {
		return cpuSample{}, errors.New("/proc/stat lists none of this process's CPUs")
	}
	s.idle = time.Duration(ticks) * (time.Second / userHZ)
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return cpuSample{}, err
	}
	s.own = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return s, nil
}
