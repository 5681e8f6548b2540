//go:build !linux

package procmem

// ReleaseExecutablePages is a no-op where the page-table trick is not
// available.
func ReleaseExecutablePages() error { return nil }
