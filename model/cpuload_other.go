//go:build !linux

package model

import (
	"errors"
	"time"
)

// Elsewhere the engine keeps the thread count it was given or chose.
func haveCPUStat() bool { return false }

func readCPUSample(time.Time) (cpuSample, error) {
	return cpuSample{}, errors.New("no per-CPU idle time on this platform")
}
