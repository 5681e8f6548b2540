//go:build unix && !linux

package nodump

// Disable turns core dumps off for this process and its children.
func Disable() error { return noCore() }
