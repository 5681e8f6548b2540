//go:build linux

package nodump

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Disable turns core dumps off for this process and its children.
func Disable() error {
	if err := noCore(); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_DUMPABLE: %w", err)
	}
	return nil
}

// dumpable reports the PR_GET_DUMPABLE flag (for tests).
func dumpable() (bool, error) {
	v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	return v != 0, err
}
