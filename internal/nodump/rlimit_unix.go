//go:build unix

package nodump

import (
	"fmt"
	"syscall"
)

// noCore sets both limits of RLIMIT_CORE to 0: a lowered hard limit cannot
// be raised again without privilege.
func noCore() error {
	if err := syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{}); err != nil {
		return fmt.Errorf("setrlimit RLIMIT_CORE: %w", err)
	}
	return nil
}
