//go:build unix

package nodump

import (
	"syscall"
	"testing"
)

func TestDisable(t *testing.T) {
	if err := Disable(); err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_CORE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur != 0 || lim.Max != 0 {
		t.Fatalf("RLIMIT_CORE = %+v, want 0/0", lim)
	}
	// A second call must not fail (the limits are already 0).
	if err := Disable(); err != nil {
		t.Fatal(err)
	}
}
