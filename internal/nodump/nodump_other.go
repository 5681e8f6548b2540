//go:build !unix

package nodump

// Disable does nothing where there is no RLIMIT_CORE.
func Disable() error { return nil }
