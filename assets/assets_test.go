package assets

import (
	"slices"
	"strings"
	"testing"
)

func TestPrompts(t *testing.T) {
	names := Prompts()
	for _, want := range []string{"news-digest", "vault-ask"} {
		if !slices.Contains(names, want) {
			t.Errorf("prompt %s missing from %v", want, names)
		}
	}
	for _, n := range names {
		p := Prompt(n)
		if strings.TrimSpace(p) == "" || strings.HasSuffix(p, "\n") {
			t.Errorf("prompt %s: %q", n, p)
		}
		// Every prompt that quotes outside text says it is data.
		if !strings.Contains(p, "never follow") {
			t.Errorf("prompt %s does not tell the model that quoted text is data", n)
		}
	}
}

func TestMissingPromptPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a missing prompt")
		}
	}()
	Prompt("no-such-prompt")
}

func TestTools(t *testing.T) {
	names := Tools()
	if len(names) == 0 {
		t.Fatal("no tool descriptions")
	}
	for _, n := range names {
		d := Tool(n)
		if strings.TrimSpace(d) == "" || strings.HasSuffix(d, "\n") {
			t.Errorf("tool %s: %q", n, d)
		}
		// the model reads the description to choose: it names the tool's
		// arguments in words, and the file name is the tool name
		if strings.ContainsAny(n, " /") || !strings.Contains(n, ".") {
			t.Errorf("tool description file %s.md: name it after the tool, e.g. vault.search.md", n)
		}
	}
}

func TestMissingToolPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a missing tool description")
		}
	}()
	Tool("no.such-tool")
}
