//go:build !linux

package sandbox

import "context"

// Check reports that only Linux can sandbox (Landlock, namespaces).
func Check() error { return &UnsupportedError{Reason: "needs Linux (Landlock and user namespaces)"} }

// Run refuses: see Check.
func Run(ctx context.Context, spec Spec) (Result, error) { return Result{}, Check() }
