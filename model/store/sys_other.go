//go:build !unix

package store

import (
	"errors"
	"math"
)

var errLocked = errors.New("locked")

// freeSpace is unknown on this platform: the check is skipped.
func freeSpace(string) (uint64, error) { return math.MaxUint64, nil }

// lockFile is a no-op on this platform.
func lockFile(string, bool) (func(), error) { return func() {}, nil }
