//go:build linux

package procmem

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ReleaseExecutablePages drops the page-table entries of the executable's
// read-only mappings (code and constant data). Go's package initialisers run
// once at start-up and touch code all over a large binary, and the kernel
// maps the 64 KiB around each fault (a whole large folio on recent kernels),
// so tens of megabytes that generation never uses again stay resident. The
// pages stay in the page cache and fault back in at once when used, so this
// only lowers the resident set. The RELRO segment is left alone: the dynamic
// linker wrote relocations into it before making it read-only, and dropping
// those private pages would lose them.
func ReleaseExecutablePages() error {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("find executable: %w", err)
	}
	relro, err := relroRange(exe)
	if err != nil {
		return err
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return fmt.Errorf("read mappings: %w", err)
	}
	var bias uintptr
	var spans []span
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 6 || string(f[5]) != exe {
			continue
		}
		r, ok := parseRange(f[0])
		if !ok {
			continue
		}
		if off, err := strconv.ParseUint(string(f[2]), 16, 64); err == nil && off == 0 && bias == 0 {
			bias = r.start - relro.base // where the first segment was loaded
		}
		if bytes.IndexByte(f[1], 'w') < 0 && bytes.IndexByte(f[1], 'p') >= 0 {
			spans = append(spans, r)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read mappings: %w", err)
	}
	lo, hi := relro.start+bias, relro.end+bias
	for _, s := range spans {
		if relro.end > relro.start && s.start < hi && lo < s.end {
			continue // overlaps RELRO
		}
		for _, advice := range []int{unix.MADV_NOHUGEPAGE, unix.MADV_DONTNEED} {
			if _, _, errno := unix.Syscall(unix.SYS_MADVISE, s.start, s.end-s.start, uintptr(advice)); errno != 0 {
				return fmt.Errorf("release %x-%x: %w", s.start, s.end, errno)
			}
		}
	}
	return nil
}

type span struct{ start, end uintptr }

// relroInfo is the executable's PT_GNU_RELRO range (page-rounded) as linked,
// and base, the link address of its first PT_LOAD page.
type relroInfo struct{ start, end, base uintptr }

func relroRange(exe string) (relroInfo, error) {
	var ri relroInfo
	f, err := elf.Open(exe)
	if err != nil {
		return ri, fmt.Errorf("read executable headers: %w", err)
	}
	defer f.Close()
	page := uint64(os.Getpagesize())
	first := true
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			if first {
				ri.base = uintptr(p.Vaddr &^ (page - 1))
				first = false
			}
		case elf.PT_GNU_RELRO:
			ri.start = uintptr(p.Vaddr &^ (page - 1))
			ri.end = uintptr((p.Vaddr + p.Memsz + page - 1) &^ (page - 1))
		}
	}
	return ri, nil
}

// parseRange reads a "start-end" address range from a maps line.
func parseRange(b []byte) (span, bool) {
	var r span
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
