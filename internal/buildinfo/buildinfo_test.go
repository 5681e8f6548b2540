package buildinfo

import (
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	if got := Version("1.2.3"); !strings.HasPrefix(got, "1.2.3") {
		t.Errorf("a release version is kept: %q", got)
	}
	if got := Version(""); got == "" {
		t.Error("empty version")
	}
	if got := String("1.2.3", "de3ff815ea7d559ee917"); !strings.Contains(got, "llama.cpp de3ff815ea7d,") || !strings.Contains(got, "go1.") {
		t.Errorf("String: %q", got)
	}
}
