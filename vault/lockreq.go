package vault

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// lockRequestFile is touched by `sov vault lock`; long-running processes
// holding an unlocked vault see it on their next operation and wipe their
// keys. It holds only a timestamp.
const lockRequestFile = "lock-request"

// RequestLock asks every process that holds the vault in dir unlocked to
// drop its keys.
func RequestLock(dir string) error {
	if !Exists(dir) {
		return ErrNotInitialised
	}
	p := filepath.Join(dir, lockRequestFile)
	now := time.Now()
	if err := os.WriteFile(p, []byte(strconv.FormatInt(now.UnixNano(), 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("request lock: %w", err)
	}
	return os.Chtimes(p, now, now)
}

// lockRequested reports whether a lock was requested after unlock.
func (v *Vault) lockRequestedLocked() bool {
	fi, err := os.Stat(filepath.Join(filepath.Dir(v.path), lockRequestFile))
	return err == nil && fi.ModTime().After(v.unlocked)
}
