// Package assets holds what sov ships besides code, embedded in the binary:
// the system prompts (prompts/NAME.md) of the vault, the news digest and
// every agent, and the descriptions of the agents' tools (tools/NAME.md,
// the text the model reads to choose a tool).
// Keeping them as files lets them be read, reviewed and diffed as text.
package assets

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"
)

//go:embed prompts tools
var files embed.FS

// Prompt returns the prompt prompts/NAME.md without its final newline. A
// missing name is a programming error, caught by the tests of the package
// that asks for it, so it panics at start-up rather than sending an empty
// prompt.
func Prompt(name string) string {
	b, err := files.ReadFile("prompts/" + name + ".md")
	if err != nil {
		panic(fmt.Sprintf("assets: no prompt %q", name))
	}
	return strings.TrimSuffix(string(b), "\n")
}

// Prompts lists the prompt names.
func Prompts() []string {
	var names []string
	entries, _ := fs.ReadDir(files, "prompts")
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".md"); ok {
			names = append(names, n)
		}
	}
	return names
}

// Tool returns the description tools/NAME.md of the agent tool NAME (e.g.
// "vault.search"), without its final newline. Like Prompt, a missing name
// is a programming error and panics.
func Tool(name string) string {
	b, err := files.ReadFile("tools/" + name + ".md")
	if err != nil {
		panic(fmt.Sprintf("assets: no tool description %q", name))
	}
	return strings.TrimSuffix(string(b), "\n")
}

// Tools lists the tool names that have a description.
func Tools() []string {
	var names []string
	entries, _ := fs.ReadDir(files, "tools")
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".md"); ok {
			names = append(names, n)
		}
	}
	return names
}
