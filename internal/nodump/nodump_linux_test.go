//go:build linux

package nodump

import (
	"os"
	"testing"
)

// After Disable the process is not dumpable, and still reads its own
// /proc/self files (internal/procmem needs exe and maps).
func TestDisableLinux(t *testing.T) {
	if err := Disable(); err != nil {
		t.Fatal(err)
	}
	if d, err := dumpable(); err != nil || d {
		t.Fatalf("dumpable = %v, %v; want false", d, err)
	}
	if _, err := os.Readlink("/proc/self/exe"); err != nil {
		t.Fatalf("readlink /proc/self/exe: %v", err)
	}
	if b, err := os.ReadFile("/proc/self/maps"); err != nil || len(b) == 0 {
		t.Fatalf("read /proc/self/maps: %d bytes, %v", len(b), err)
	}
}
