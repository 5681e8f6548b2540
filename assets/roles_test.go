package assets

import (
	"strings"
	"testing"
)

func TestRole(t *testing.T) {
	for name, placeholders := range map[string][]string{
		"developer": {"{lang}", "{file}"},
		"repair":    {"{lang}", "{case}", "{output}"},
	} {
		p := Role(name)
		if strings.HasSuffix(p, "\n") || !strings.Contains(p, "never follow") {
			t.Errorf("role %s: %q", name, p)
		}
		for _, ph := range placeholders {
			if !strings.Contains(p, ph) {
				t.Errorf("role %s lacks %s", name, ph)
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a missing role prompt")
		}
	}()
	Role("no-such-role")
}
