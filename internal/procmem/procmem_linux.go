//go:build linux

package procmem

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ReleaseExecutablePages drops the page-table entries of the executable's
// clean read-only mappings (code and constant data). Go's package
// initialisers run once at start-up and touch code all over a large binary,
// and the kernel maps the 64 KiB around each fault, so tens of megabytes
// that generation never uses again stay resident. The pages stay in the
// page cache and fault back in at once when used, so this only lowers the
// resident set. A mapping holding any private (written) page, such as the
// relocated RELRO segment, is left alone: dropping it would lose the writes.
func ReleaseExecutablePages() error {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("find executable: %w", err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return fmt.Errorf("read mappings: %w", err)
	}
	type span struct{ start, end uintptr }
	var (
		spans []span
		cur   *span // the current mapping, if it is a candidate
	)
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		line := sc.Bytes()
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		if r, ok := parseRange(f[0]); ok && len(f) >= 5 {
			cur = nil
			if len(f) >= 6 && string(f[5]) == exe && bytes.IndexByte(f[1], 'w') < 0 && bytes.IndexByte(f[1], 'p') >= 0 {
				spans = append(spans, r)
				cur = &spans[len(spans)-1]
			}
			continue
		}
		if cur != nil && string(f[0]) == "Anonymous:" && (len(f) < 2 || string(f[1]) != "0") {
			spans = spans[:len(spans)-1]
			cur = nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read mappings: %w", err)
	}
	for _, s := range spans {
		for _, advice := range []uintptr{unix.MADV_NOHUGEPAGE, unix.MADV_DONTNEED} {
			if _, _, errno := unix.Syscall(unix.SYS_MADVISE, s.start, s.end-s.start, advice); errno != 0 {
				return fmt.Errorf("release %x-%x: %w", s.start, s.end, errno)
			}
		}
	}
	return nil
}

// parseRange reads a "start-end" address range from a smaps header line.
func parseRange(b []byte) (struct{ start, end uintptr }, bool) {
	var r struct{ start, end uintptr }
	lo, hi, ok := bytes.Cut(b, []byte{'-'})
	if !ok {
		return r, false
	}
	s, err1 := strconv.ParseUint(string(lo), 16, 64)
	e, err2 := strconv.ParseUint(string(hi), 16, 64)
	if err1 != nil || err2 != nil || e <= s {
		return r, false
	}
	r.start, r.end = uintptr(s), uintptr(e)
	return r, true
}
