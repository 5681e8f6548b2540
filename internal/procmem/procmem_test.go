package procmem

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"testing"
)

// exeRSS sums the resident KiB of the executable's read-only mappings.
func exeRSS(t *testing.T) int {
	t.Helper()
	exe, _ := os.Readlink("/proc/self/exe")
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	sum, in := 0, false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 0 {
			continue
		}
		if _, ok := parseRange(f[0]); ok && len(f) >= 5 {
			in = len(f) >= 6 && string(f[5]) == exe && bytes.IndexByte(f[1], 'w') < 0
			continue
		}
		if in && string(f[0]) == "Rss:" {
			n, _ := strconv.Atoi(string(f[1]))
			sum += n
		}
	}
	return sum
}

func TestReleaseExecutablePages(t *testing.T) {
	before := exeRSS(t)
	if err := ReleaseExecutablePages(); err != nil {
		t.Fatal(err)
	}
	after := exeRSS(t)
	t.Logf("executable resident: %d KiB before, %d KiB after", before, after)
	if after >= before {
		t.Errorf("nothing released: %d KiB before, %d KiB after", before, after)
	}
}
